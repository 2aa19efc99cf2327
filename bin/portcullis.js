#!/usr/bin/env node
// Entry point of the installed command: runs the JavaScript that `npm run build` emits to dist/ (the
// checkout runs the TypeScript sources directly: `npm run portcullis -- <command>`).
//
// This file must parse and run on any Node that may still be around (no syntax past ES2020, nothing
// imported before the check): on a Node older than package.json's `engines.node` it prints one line
// naming the version needed and exits 1, instead of a stack trace from deep inside a dependency.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

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
// Memory (docs/scaling.md#memory): V8 sizes the young generation from the machine's memory, up to 64 MB per
// semi-space on a large host, and a busy gateway grows it all the way (128 MB of the 250 MB measured under
// load). 8 MB per semi-space held the CPU per request within the noise and the RSS under load at ~135 MB.
// glibc's malloc arenas (one per thread that allocates, 8 × cores at most) are capped at 2 as well. Flags
// can only be given when Node starts, so the launcher starts Node again in its own place (same PID, same
// stdio; process.execve) with them. An operator's own choice wins: a --max-semi-space-size in NODE_OPTIONS
// or on the node command line, or MALLOC_ARENA_MAX in the environment, is left alone.
const SEMI_SPACE_FLAG = '--max-semi-space-size=8';
const own = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)];
const tune = typeof process.execve === 'function' && !own.some((a) => a.startsWith('--max-semi-space-size'));
if (tune) {
  const env = { ...process.env };
  env.MALLOC_ARENA_MAX ??= '2';
  const args = [
    ...process.execArgv,
    SEMI_SPACE_FLAG,
    fileURLToPath(import.meta.url),
    ...process.argv.slice(2),
  ];
  try {
    process.execve(process.execPath, [process.execPath, ...args], env);
  } catch {
    // Not allowed here (a sandbox without execve): run with Node's defaults.
  }
}
const main = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(main)) {
  process.stderr.write(
    'portcullis: dist/ is missing: run `npm run build` first (or, in a checkout, `npm run portcullis -- <command>`)\n',
  );
  process.exit(1);
}
await import(main.href);
