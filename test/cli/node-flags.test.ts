/**
 * `portcullis serve` starts Node again with the memory settings (src/cli/node-flags.ts,
 * docs/scaling.md#memory): --max-semi-space-size=8 and MALLOC_ARENA_MAX=2, in the same process (PID), and
 * leaves an operator's own values alone. Read from /proc: the command line and environment of the PID.
 * And what it holds while it starts (src/cli/node-flags.ts, holdDuringStartUp).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { freePort } from '../support/gateway.ts';
import { stderrOf, stopServe, untilServing } from '../support/serving.ts';

const linux = process.platform === 'linux';
let dir: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'portcullis-node-flags-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** Starts serve with `env` added, waits for /ping, and returns its PID's command line and environment. */
async function serveAndRead(env: Record<string, string>): Promise<{ argv: string[]; environ: string[] }> {
  const port = await freePort();
  const file = join(dir, `p${port}.yaml`);
  // The IdP is not asked before the first sign-in: an address nothing answers on is enough here.
  writeFileSync(
    file,
    `publicUrl: http://127.0.0.1:${port}
listen: 127.0.0.1:${port}
cookie: { secret: ${randomBytes(32).toString('base64url')} }
providers: [{ id: t, type: oidc, issuer: 'http://127.0.0.1:9', clientId: c, clientSecret: ${'s'.repeat(32)} }]
upstreams: [{ path: /, url: 'http://127.0.0.1:9' }]
metrics: { enabled: false }
logging: { level: warn }
`,
  );
  const base = { ...process.env };
  delete base['NODE_OPTIONS'];
  delete base['MALLOC_ARENA_MAX'];
  const child = spawn(process.execPath, ['src/cli/main.ts', 'serve', '--config', file], {
    env: { ...base, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const output = stderrOf(child);
  try {
    await untilServing(child, `http://127.0.0.1:${port}`, output);
    const read = (what: string) => readFileSync(`/proc/${child.pid}/${what}`, 'utf8').split('\0');
    return { argv: read('cmdline'), environ: read('environ') };
  } finally {
    await stopServe(child);
  }
}

test('serve runs with an 8 MB semi-space and two malloc arenas, in the same process', {
  skip: !linux,
}, async () => {
  const { argv, environ } = await serveAndRead({});
  assert.ok(argv.includes('--max-semi-space-size=8'), argv.join(' '));
  // The optimizing compilers off from the new process's first line (holdDuringStartUp turns them on).
  assert.ok(argv.includes('--no-maglev') && argv.includes('--no-turbofan'), argv.join(' '));
  assert.ok(argv.includes('serve'), argv.join(' '));
  assert.ok(environ.includes('MALLOC_ARENA_MAX=2'), 'MALLOC_ARENA_MAX=2 in the environment');
});

test("the operator's NODE_OPTIONS and MALLOC_ARENA_MAX win", { skip: !linux }, async () => {
  const { argv, environ } = await serveAndRead({
    NODE_OPTIONS: '--max-semi-space-size=4',
    MALLOC_ARENA_MAX: '4',
  });
  assert.ok(!argv.some((a) => a.startsWith('--max-semi-space-size')), argv.join(' '));
  assert.ok(environ.includes('MALLOC_ARENA_MAX=4'));
  assert.ok(!environ.includes('MALLOC_ARENA_MAX=2'));
});

/**
 * V8's optimizing compilers (Maglev, TurboFan) are off while serve starts (holdDuringStartUp) and on again
 * after: a function called 200,000 times is not optimized inside, and is once it is done. Read with V8's
 * %GetOptimizationStatus (bit 4: optimized), in a child with --allow-natives-syntax, compiling on the main
 * thread so the answer does not wait on a background compile.
 */
function optimizationInAndAfterHold(flags: string[]): { during: number; after: number } {
  const src = `
import { holdDuringStartUp } from ${JSON.stringify(pathToFileURL(join(import.meta.dirname, '../../src/cli/node-flags.ts')).href)};
const status = new Function('f', 'return %GetOptimizationStatus(f)');
function hot(a, b) { return a * 31 + b; }
const run = () => { let s = 0; for (let i = 0; i < 200000; i++) s = hot(s & 0xffff, i); return s; };
const during = await holdDuringStartUp(async () => { run(); return status(hot); });
run();
process.stdout.write(JSON.stringify({ during, after: status(hot) }));`;
  const file = join(dir, `opt-${flags.length}.mjs`);
  writeFileSync(file, src);
  const out = execFileSync(
    process.execPath,
    ['--allow-natives-syntax', '--no-concurrent-recompilation', ...flags, file],
    {
      encoding: 'utf8',
    },
  );
  return JSON.parse(out) as { during: number; after: number };
}

const OPTIMIZED = 1 << 4;

test('the optimizing compilers are held while serve starts, and work after', () => {
  const { during, after } = optimizationInAndAfterHold([]);
  assert.equal(during & OPTIMIZED, 0, `optimized during start-up (status ${during})`);
  assert.notEqual(after & OPTIMIZED, 0, `not optimized after start-up (status ${after})`);
});

test('compilers turned off by the restart come back on after start-up', () => {
  // The command line restartWithMemorySettings gives the new process: its flags last.
  const { during, after } = optimizationInAndAfterHold([
    '--max-semi-space-size=8',
    '--no-maglev',
    '--no-turbofan',
  ]);
  assert.equal(during & OPTIMIZED, 0, `optimized during start-up (status ${during})`);
  assert.notEqual(after & OPTIMIZED, 0, `not optimized after start-up (status ${after})`);
});

test("an operator's compiler flag turns the hold off", () => {
  const { during } = optimizationInAndAfterHold(['--maglev']);
  assert.notEqual(during & OPTIMIZED, 0, `not optimized with the operator's --maglev (status ${during})`);
});
