#!/usr/bin/env node
// Entry point of the installed command: runs the JavaScript that `npm run build` emits to dist/ (the
// checkout runs the TypeScript sources directly: `npm run portcullis -- <command>`).
//
// This file must parse and run on any Node that may still be around (no syntax past ES2020, nothing
// imported before the check): on a Node older than package.json's `engines.node` it prints one line
// naming the version needed and exits 1, instead of a stack trace from deep inside a dependency.
import { existsSync, readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
// engines.node is the one place the number lives (">=24" or ">=24.1.0"); test/deploy/package.test.ts
// holds the two together.
const wanted = /^>=\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?$/.exec(pkg.engines.node);
const need = wanted.slice(1).map((n) => Number(n ?? 0));
const have = process.versions.node.split('.').map(Number);
// The first part that differs decides (24.0.0 against 22.18.0: 22 < 24, older).
const at = need.findIndex((n, i) => have[i] !== n);
const older = at >= 0 && have[at] < need[at];
if (older) {
  process.stderr.write(
    `portcullis: needs Node.js ${need.join('.')} or newer (engines.node "${pkg.engines.node}"); this is Node.js ${process.versions.node}\n`,
  );
  process.exit(1);
}
const main = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(main)) {
  process.stderr.write(
    'portcullis: dist/ is missing: run `npm run build` first (or, in a checkout, `npm run portcullis -- <command>`)\n',
  );
  process.exit(1);
}
await import(main.href);
