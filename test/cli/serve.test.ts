/**
 * `portcullis serve` as a process: reload on file change and SIGHUP (valid configs take effect, invalid
 * ones are logged and the running one stays), secret files watched, graceful shutdown on SIGTERM.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type SampleApp, startSampleApp } from '../../src/demo/app.ts';
import { freePort } from '../support/gateway.ts';
import { startTestIdp, type TestIdp } from '../support/idp.ts';

interface Line {
  msg: string;
  event?: string;
  why?: string;
  problems?: string[];
  [k: string]: unknown;
}

let dir: string;
let idp: TestIdp;
let app: SampleApp;
let port: number;
let child: ChildProcess;
const lines: Line[] = [];
let stdout = '';
const cookieSecret = randomBytes(32).toString('base64url');

function config(extra = ''): string {
  return `publicUrl: http://127.0.0.1:${port}
listen: 127.0.0.1:${port}
cookie: { secretFile: ${join(dir, 'cookie-secret')} }
providers:
  - { id: test, type: oidc, issuer: ${idp.issuer}, clientId: c, clientSecretFile: ${join(dir, 'client-secret')} }
upstreams:
  - { path: /, url: ${app.url} }
logging: { level: info, format: json }
metrics: { listen: 127.0.0.1:0 }
${extra}`;
}

async function waitFor(pred: (l: Line) => boolean, what: string, timeoutMs = 8000): Promise<Line> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const hit = lines.find(pred);
    if (hit) return hit;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; output:\n${stdout}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function get(path: string): Promise<{ status: number; body: string }> {
  return fetch(`http://127.0.0.1:${port}${path}`, {
    headers: { accept: 'application/json' },
    redirect: 'manual',
  }).then(async (r) => ({ status: r.status, body: await r.text() }));
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pcl-serve-'));
  idp = await startTestIdp({
    clients: [{ client_id: 'c', client_secret: 's', redirect_uris: ['http://x/cb'] }],
  });
  app = await startSampleApp();
  port = await freePort();
  writeFileSync(join(dir, 'cookie-secret'), `${cookieSecret}\n`);
  writeFileSync(join(dir, 'client-secret'), 's\n');
  writeFileSync(join(dir, 'portcullis.yaml'), config());
  child = spawn(process.execPath, ['src/cli/main.ts', 'serve', '--config', join(dir, 'portcullis.yaml')], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      PORTCULLIS_CONFIG: '',
      // What Kubernetes injects for a Service named portcullis: no reason not to start.
      PORTCULLIS_SERVICE_HOST: '10.0.0.11',
      PORTCULLIS_SERVICE_PORT: '4180',
      PORTCULLIS_PORT: 'tcp://10.0.0.11:4180',
      PORTCULLIS_PORT_4180_TCP: 'tcp://10.0.0.11:4180',
      PORTCULLIS_PORT_4180_TCP_PROTO: 'tcp',
      PORTCULLIS_PORT_4180_TCP_PORT: '4180',
      PORTCULLIS_PORT_4180_TCP_ADDR: '10.0.0.11',
      // Something else's: started, with a warning.
      PORTCULLIS_IMAGE_TAG: 'v1',
    },
  });
  child.stdout!.on('data', (chunk: Buffer) => {
    stdout += chunk;
    for (const raw of chunk.toString().split('\n')) {
      if (!raw.trim()) continue;
      try {
        lines.push(JSON.parse(raw) as Line);
      } catch {
        // not a log line
      }
    }
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    stdout += chunk;
  });
  await waitFor((l) => l.msg === 'portcullis listening', 'start-up');
});

after(async () => {
  if (child.exitCode === null) child.kill('SIGKILL');
  await Promise.allSettled([idp.close(), app.close()]);
  rmSync(dir, { recursive: true, force: true });
});

describe('portcullis serve', () => {
  test('starts with the Kubernetes service-link variables set, and warns about an unknown one', () => {
    const warned = lines.filter((l) => l.event === 'config.warning');
    assert.equal(warned.length, 1, JSON.stringify(warned));
    assert.match(warned[0]!.msg, /^PORTCULLIS_IMAGE_TAG: not a Portcullis setting, ignored/);
  });

  test('a valid change to the config file takes effect without a restart', async () => {
    assert.equal((await get('/public/x')).status, 401);
    writeFileSync(
      join(dir, 'portcullis.yaml'),
      config('routes: [{ path: /public/, public: true }, { path: /slow, public: true }]'),
    );
    await waitFor((l) => l.event === 'config.reload', 'reload');
    assert.equal((await get('/public/x')).status, 200);
  });

  test('an invalid config is logged with its problems and the running one stays', async () => {
    writeFileSync(
      join(dir, 'portcullis.yaml'),
      config('routes: [{ path: /public/, public: true }, { path: /slow, public: true }]\nbogusKey: 1'),
    );
    const failed = await waitFor((l) => l.event === 'config.reload-failed', 'rejected reload');
    assert.ok(
      failed.problems?.some((p) => p.includes('bogusKey')),
      JSON.stringify(failed.problems),
    );
    assert.equal((await get('/public/x')).status, 200, 'still the previous configuration');
  });

  test('SIGHUP reloads; a rotated secret file is picked up', async () => {
    writeFileSync(
      join(dir, 'portcullis.yaml'),
      config('routes: [{ path: /public/, public: true }, { path: /slow, public: true }]'),
    );
    await waitFor(
      (l) => l.event === 'config.reload' && l.why !== 'SIGHUP' && lines.indexOf(l) > 2,
      'file reload',
    );
    child.kill('SIGHUP');
    await waitFor((l) => l.event === 'config.reload' && l.why === 'SIGHUP', 'SIGHUP reload');
    writeFileSync(join(dir, 'client-secret'), 'rotated\n');
    await waitFor(
      (l) => l.event === 'config.reload' && String(l.why).includes('client-secret'),
      'secret reload',
    );
  });

  test('the log never carries the secrets', () => {
    assert.ok(!stdout.includes('rotated'));
    assert.ok(!stdout.includes(cookieSecret));
  });

  test('SIGTERM lets a request in flight finish, then exits 0', async () => {
    const t0 = Date.now();
    const inflight = get('/slow?ms=600');
    await new Promise((r) => setTimeout(r, 150));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    const r = await inflight;
    assert.equal(r.status, 200);
    assert.ok(Date.now() - t0 >= 550, 'the slow request really was in flight');
    assert.equal(await exited, 0);
  });
});
