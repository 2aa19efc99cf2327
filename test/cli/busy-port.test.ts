/**
 * `portcullis serve` on a port that is taken: it fails with exit 1 and says so, and nothing was announced
 * ready before (the issuer used to log "issuer ready" first). On a free port the issuer is announced.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

const dir = mkdtempSync(join(tmpdir(), 'pcl-busy-'));
let busy: net.Server;
let port: number;

before(async () => {
  busy = net.createServer();
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
  port = (busy.address() as net.AddressInfo).port;
});
after(async () => {
  await new Promise((resolve) => busy.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

function config(listen: string): string {
  const file = join(dir, `${listen.replace(/\W/g, '-')}.yaml`);
  writeFileSync(
    file,
    `publicUrl: http://127.0.0.1:${port}
listen: ${listen}
cookie: { secret: ${randomBytes(32).toString('base64url')} }
providers:
  - { id: corp, type: oidc, issuer: http://127.0.0.1:1, clientId: c, clientSecret: s }
upstreams:
  - { path: /, url: http://127.0.0.1:1 }
issuer:
  clients:
    - { id: app, secret: ${randomBytes(32).toString('base64url')}, redirectUris: [https://app.example.com/cb] }
storage: { type: memory }
logging: { level: info, format: json }
metrics: { enabled: false }
`,
  );
  return file;
}

test('a busy port: exit 1, "address in use", and no "ready" logged before', () => {
  const r = spawnSync(
    process.execPath,
    ['src/cli/main.ts', 'serve', '--config', config(`127.0.0.1:${port}`)],
    {
      encoding: 'utf8',
      timeout: 30_000,
    },
  );
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /address in use/);
  const messages = r.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => (JSON.parse(l) as { msg: string }).msg);
  assert.deepEqual(
    messages.filter((m) => /ready|listening/i.test(m)),
    [],
    `logged before failing: ${messages.join(' | ')}`,
  );
});

test('a free port: the issuer is announced ready once the listener is up', async (t) => {
  const free = await new Promise<number>((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
  const child = spawn(
    process.execPath,
    ['src/cli/main.ts', 'serve', '--config', config(`127.0.0.1:${free}`)],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  t.after(() => {
    child.kill('SIGKILL');
  });
  let out = '';
  const messages = await new Promise<string[]>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "issuer ready" in: ${out}`)), 20_000);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const msgs = out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => (JSON.parse(l) as { msg: string }).msg);
      if (msgs.includes('portcullis listening')) {
        clearTimeout(timer);
        resolve(msgs);
      }
    });
  });
  assert.ok(messages.includes('issuer ready'), messages.join(' | '));
  const res = await fetch(`http://127.0.0.1:${free}/oidc/.well-known/openid-configuration`);
  assert.equal(res.status, 200);
});
