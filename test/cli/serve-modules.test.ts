/**
 * What `portcullis serve` loads before its first request (issue 14, goal 4: idle RSS; bench/results/
 * 2026-12-05-memory.md): every module loaded until /ping answers, listed by a module hook in a preload
 * (it writes the list when it gets SIGUSR2), for a single process in proxy mode with one OIDC provider
 * and cookie sessions. What a single idle process must not load is named here with the reason.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { freePort } from '../support/gateway.ts';
import { stderrOf, stopServe, untilServing } from '../support/serving.ts';

let dir: string;
let modules: string[];

// registerHooks sees both ESM imports and require() (CommonJS dependencies, node: built-ins); Node's own
// internal modules are in process.moduleLoadList ("NativeModule internal/…").
const PRELOAD = `
import { registerHooks } from 'node:module'; import fs from 'node:fs';
const seen = new Set();
registerHooks({ load(url, ctx, next) { seen.add(url); return next(url, ctx); } });
process.on('SIGUSR2', () => fs.writeFileSync(process.env.MODULES_FILE, [...seen, ...process.moduleLoadList].join('\\n')));`;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'portcullis-serve-modules-'));
  const port = await freePort();
  const file = join(dir, 'p.yaml');
  const out = join(dir, 'modules.txt');
  // The IdP is not asked before the first sign-in: an address nothing answers on is enough here.
  writeFileSync(
    file,
    `publicUrl: http://127.0.0.1:${port}
listen: 127.0.0.1:${port}
cookie: { secret: ${randomBytes(32).toString('base64url')} }
providers: [{ id: t, type: oidc, issuer: 'http://127.0.0.1:9', clientId: c, clientSecret: ${'s'.repeat(32)} }]
upstreams: [{ path: /, url: 'http://127.0.0.1:9' }]
metrics: { listen: '127.0.0.1:0' }
logging: { level: warn }
`,
  );
  const child = spawn(
    process.execPath,
    [
      '--import',
      `data:text/javascript,${encodeURIComponent(PRELOAD)}`,
      'src/cli/main.ts',
      'serve',
      '--config',
      file,
    ],
    { env: { ...process.env, MODULES_FILE: out }, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const output = stderrOf(child);
  try {
    await untilServing(child, `http://127.0.0.1:${port}`, output);
    child.kill('SIGUSR2');
    for (let i = 0; i < 100 && !existsSync(out); i++) await new Promise((r) => setTimeout(r, 50));
    modules = readFileSync(out, 'utf8').split('\n');
  } finally {
    await stopServe(child);
  }
});
after(() => rmSync(dir, { recursive: true, force: true }));

const loaded = (pattern: RegExp) => modules.filter((u) => pattern.test(u));

test('the hook saw the start-up (the gateway, zod, yaml and undici are listed)', () => {
  for (const p of [/\/src\/server\/start\.ts$/, /\/zod\//, /\/yaml\//, /\/undici\//])
    assert.ok(loaded(p).length > 0, `nothing matching ${p} in ${modules.length} modules`);
});

test("prom-client's index (with @opentelemetry/api, the Pushgateway, node:zlib) is left to the primary of workers", () => {
  assert.deepEqual(
    loaded(/\/prom-client\/index\.js$|\/@opentelemetry\/|\/pushgateway\.js$|\/src\/server\/primary\.ts$/),
    [],
  );
  assert.deepEqual(loaded(/^node:zlib$/), []);
});

test("zod's locales: English alone (src/cli/zod-locales.ts)", () => {
  // The index itself is served by the CLI's hook, which answers before this preload's sees it.
  assert.deepEqual(
    loaded(/\/zod\/v4\/locales\/[^/]+\.js$/)
      .map((u) => u.slice(u.lastIndexOf('/') + 1))
      .filter((f) => f !== 'index.js'),
    ['en.js'],
  );
});

test("Node's bundled undici (fetch, WebSocket) is not loaded: node:http is not taken through an ES import", () => {
  assert.deepEqual(loaded(/^NativeModule internal\/deps\/undici\//), []);
});
