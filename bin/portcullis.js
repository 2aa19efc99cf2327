#!/usr/bin/env node
// Entry point for the installed command; runs the TypeScript sources directly (Node >= 22.18 strips types).
import '../src/cli/main.ts';
