#!/usr/bin/env node
// Entry point for the installed command; runs the TypeScript sources directly (Node >= 22.18 strips types).
// The version is checked here rather than in package.json `engines`: npm compares `engines` with the Node
// that runs npm itself, and warned (EBADENGINE) on every install where that one is older, although the
// checkout runs on the Node 24 of its `node` devDependency.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(
    `portcullis needs Node.js 22.18 or later (this is ${process.version}). In a checkout, run it through npm (npm run portcullis -- <command>), which uses the pinned Node 24.\n`,
  );
  process.exit(1);
}
await import('../src/cli/main.ts');
