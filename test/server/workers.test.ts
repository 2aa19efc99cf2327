/**
 * `portcullis serve` with server.workers: 2, as processes: a primary and two workers on one port, sessions
 * in Redis. Which worker answered is read from the log (every line carries `worker`; 401 and 403 lines carry
 * the request id the response names in X-Request-Id): no header tells clients about the process layout.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type SampleApp, startSampleApp } from '../../src/demo/app.ts';
import { Browser } from '../support/browser.ts';
import { freePort } from '../support/gateway.ts';
import { startTestIdp, type TestIdp } from '../support/idp.ts';

interface Line {
  msg: string;
  event?: string;
  worker?: number;
  pid?: number;
  requestId?: string;
  why?: string;
  [k: string]: unknown;
}

const REDIS_URL = process.env['PORTCULLIS_TEST_REDIS'] ?? 'redis://127.0.0.1:6379/0';
let dir: string;
let idp: TestIdp;
let app: SampleApp;
let port: number;
let metricsPort: number;
let child: ChildProcess;
const lines: Line[] = [];
let output = '';
let cookie = '';
const cookieSecret = randomBytes(32).toString('base64url');
const prefix = `pcl-test-workers-${randomBytes(4).toString('hex')}:`;

function config(extraRoutes = ''): string {
  return `publicUrl: http://127.0.0.1:${port}
listen: 127.0.0.1:${port}
cookie: { secret: ${cookieSecret} }
providers:
  - { id: test, type: oidc, issuer: ${idp.issuer}, clientId: c, clientSecret: s }
upstreams:
  - { path: /, url: ${app.url} }
routes:
  - { path: /api/, api: true }
  - { path: /admin/, allow: { emails: [nobody@example.com] } }
${extraRoutes}
sessions: { store: redis, url: ${REDIS_URL}, keyPrefix: "${prefix}" }
server: { workers: 2, shutdownDelay: 1s, drainTimeout: 5s }
logging: { level: debug, format: json }
metrics: { listen: 127.0.0.1:${metricsPort} }
`;
}

async function waitFor(pred: (l: Line) => boolean, what: string, timeoutMs = 30_000): Promise<Line> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const hit = lines.find(pred);
    if (hit) return hit;
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}; output:\n${output.slice(-4000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** One request on a connection of its own (agent: false), so the primary hands each to the next worker. */
function get(
  path: string,
  headers: Record<string, string> = {},
  p = port,
): Promise<{ status: number; requestId: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      { host: '127.0.0.1', port: p, path, agent: false, headers: { accept: 'application/json', ...headers } },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () =>
          resolve({ status: res.statusCode!, requestId: String(res.headers['x-request-id'] ?? ''), body }),
        );
      },
    );
    req.on('error', reject);
  });
}

/** The workers whose log lines name these request ids. */
async function workersOf(ids: readonly string[]): Promise<Set<number>> {
  const out = new Set<number>();
  for (const id of ids) {
    const l = await waitFor((x) => x.requestId === id && x.worker !== undefined, `the log line of ${id}`);
    out.add(l.worker!);
  }
  return out;
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pcl-workers-'));
  port = await freePort();
  metricsPort = await freePort();
  idp = await startTestIdp({
    clients: [
      { client_id: 'c', client_secret: 's', redirect_uris: [`http://127.0.0.1:${port}/oauth2/callback`] },
    ],
  });
  app = await startSampleApp();
  writeFileSync(join(dir, 'portcullis.yaml'), config());
  child = spawn(process.execPath, ['src/cli/main.ts', 'serve', '--config', join(dir, 'portcullis.yaml')], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PORTCULLIS_CONFIG: '' },
  });
  let partial = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    output += chunk;
    const text = partial + chunk.toString();
    const parts = text.split('\n');
    partial = parts.pop()!;
    for (const raw of parts) {
      try {
        lines.push(JSON.parse(raw) as Line);
      } catch {
        // not a log line
      }
    }
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    output += chunk;
  });
  await waitFor((l) => l.msg === 'portcullis listening', 'start-up', 60_000);
});

after(async () => {
  if (child.exitCode === null) child.kill('SIGKILL');
  await Promise.allSettled([idp.close(), app.close()]);
  rmSync(dir, { recursive: true, force: true });
});

describe('portcullis serve with server.workers: 2', () => {
  test('two workers start; the primary says so, each line names its worker', async () => {
    const ready = lines.filter((l) => l.event === 'worker.ready');
    assert.equal(ready.length, 2, JSON.stringify(ready));
    assert.equal(new Set(ready.map((l) => l.pid)).size, 2);
    const listening = lines.find((l) => l.msg === 'portcullis listening')!;
    assert.equal(listening['workers'], 2);
    assert.equal(listening['role'], 'primary');
    assert.equal(listening.worker, undefined);
  });

  test('connections reach both workers', async () => {
    const answers = await Promise.all(Array.from({ length: 8 }, () => get('/api/x')));
    for (const a of answers) assert.equal(a.status, 401);
    assert.equal((await workersOf(answers.map((a) => a.requestId))).size, 2);
  });

  test('a session made on one worker is good on the other (Redis)', async () => {
    const b = new Browser();
    const login = await b.get(`http://127.0.0.1:${port}/oauth2/start?rd=/`);
    const back = await b.signInAtDevIdp(login, 'alice', 'alice');
    assert.equal(back.status, 200, back.body.slice(0, 300));
    cookie = b.jar.header(`http://127.0.0.1:${port}`);
    // 403 (not 401): the session was read; the denial's audit line names the worker.
    const denied = await Promise.all(Array.from({ length: 8 }, () => get('/admin/', { cookie })));
    for (const a of denied) assert.equal(a.status, 403, a.body);
    assert.equal((await workersOf(denied.map((a) => a.requestId))).size, 2);
    for (let i = 0; i < 4; i++) assert.equal((await get('/', { cookie })).status, 200);
  });

  test('/metrics on the metrics listener counts the requests of every worker', async () => {
    const m = await get('/metrics', {}, metricsPort);
    assert.equal(m.status, 200);
    assert.match(m.body, /^portcullis_workers 2$/m);
    const denied = /^portcullis_http_requests_total\{class="proxy",status="403"\} (\d+)$/m.exec(m.body);
    assert.ok(denied && Number(denied[1]) >= 8, denied?.[0] ?? 'no 403 counter');
    // Scraped again and again: every question to a worker is settled and forgotten (no listener left over).
    for (let i = 0; i < 12; i++) assert.equal((await get('/metrics', {}, metricsPort)).status, 200);
    assert.doesNotMatch(output, /MaxListenersExceeded/);
  });

  test('SIGHUP: the primary validates, every worker reloads', async () => {
    assert.equal((await get('/public/x')).status, 401);
    writeFileSync(join(dir, 'portcullis.yaml'), config('  - { path: /public/, public: true }'));
    const from = lines.length;
    child.kill('SIGHUP');
    await waitFor(
      (l) => lines.indexOf(l) >= from && l.event === 'config.reload' && l['role'] === 'primary',
      'reload',
    );
    const reloaded = lines.slice(from).filter((l) => l.event === 'config.reload' && l['role'] !== 'primary');
    assert.equal(new Set(reloaded.map((l) => l.worker)).size, 2, JSON.stringify(reloaded));
    for (let i = 0; i < 6; i++) assert.equal((await get('/public/x')).status, 200);
  });

  test('a bad configuration keeps every worker on the running one', async () => {
    writeFileSync(
      join(dir, 'portcullis.yaml'),
      `${config('  - { path: /public/, public: true }')}bogus: 1\n`,
    );
    const from = lines.length;
    child.kill('SIGHUP');
    await waitFor((l) => lines.indexOf(l) >= from && l.event === 'config.reload-failed', 'refusal');
    assert.ok(!lines.slice(from).some((l) => l.event === 'config.reload'));
    for (let i = 0; i < 4; i++) assert.equal((await get('/public/x')).status, 200);
  });

  test('a worker killed with SIGKILL is restarted (once the files load again); the other serves meanwhile', async () => {
    const victim = lines.find((l) => l.event === 'worker.ready')!;
    const from = lines.length;
    // The file is still the invalid one of the test before: a new worker could not start from it.
    process.kill(victim.pid!, 'SIGKILL');
    const died = await waitFor((l) => lines.indexOf(l) >= from && l.event === 'worker.died', 'death');
    assert.equal(died['signal'], 'SIGKILL');
    await waitFor((l) => lines.indexOf(l) >= from && l.event === 'worker.restart-waits', 'the wait');
    // Until the new one is ready, every connection goes to the survivor: none fails.
    const during = await Promise.all(Array.from({ length: 6 }, () => get('/', { cookie })));
    for (const a of during) assert.equal(a.status, 200);
    writeFileSync(join(dir, 'portcullis.yaml'), config('  - { path: /public/, public: true }'));
    const again = await waitFor((l) => lines.indexOf(l) >= from && l.event === 'worker.ready', 'restart');
    assert.notEqual(again.pid, victim.pid);
    const answers = await Promise.all(Array.from({ length: 8 }, () => get('/api/x')));
    const workers = await workersOf(answers.map((a) => a.requestId));
    assert.ok(workers.has(again.worker!), 'the restarted worker serves');
    const m = await get('/metrics', {}, metricsPort);
    assert.match(m.body, /^portcullis_worker_restarts_total 1$/m);
  });

  test('SIGTERM: every worker answers /ready 503, drains, and the primary exits 0', async () => {
    const pids = lines.filter((l) => l.event === 'worker.ready').map((l) => l.pid!);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    await waitFor((l) => l.event === 'server.draining', 'draining');
    await new Promise((r) => setTimeout(r, 200));
    const ready = await Promise.all(Array.from({ length: 4 }, () => get('/ready')));
    for (const r of ready) assert.equal(r.status, 503);
    assert.equal(await exited, 0, output.slice(-2000));
    assert.ok(lines.some((l) => l.event === 'workers.stopped'));
    for (const pid of pids) assert.throws(() => process.kill(pid, 0), /ESRCH/, `worker ${pid} is gone`);
  });
});

test('server.workers > 1 is refused with storage.type memory, naming the key and the fix', () => {
  const file = join(mkdtempSync(join(tmpdir(), 'pcl-workers-')), 'p.yaml');
  writeFileSync(
    file,
    `publicUrl: http://127.0.0.1:4180
cookie: { secret: ${cookieSecret} }
providers: [{ id: test, type: oidc, issuer: https://idp.example.com, clientId: c, clientSecret: s }]
upstreams: [{ path: /, url: http://127.0.0.1:8080 }]
sessions: { store: storage }
storage: { type: memory }
server: { workers: auto }
`,
  );
  const r = spawnSync(process.execPath, ['src/cli/main.ts', 'serve', '--config', file], {
    encoding: 'utf8',
    env: { ...process.env, PORTCULLIS_CONFIG: '' },
  });
  assert.equal(r.status, 2, r.stderr);
  assert.equal(
    r.stderr,
    `invalid configuration:
  - sessions.store: storage with storage.type: memory keeps each session inside the worker that made it, and server.workers is auto: the next request may reach another worker and be signed out; set storage.type: sqlite (one host) or redis, or server.workers: 1, or sessions.store: cookie or redis
`,
  );
  rmSync(join(file, '..'), { recursive: true, force: true });
});
