/**
 * TLS on the listener (`server.tls`, src/server/tls.ts) with certificates made here by openssl:
 * - in process: HTTPS /ping, HTTP/1.1 by ALPN even when the client offers h2, a whole sign-in through it
 *   (Secure __Host- cookie, X-Forwarded-Proto https at the app), and a start that names the unreadable file;
 * - `portcullis serve` as a process: the certificate files replaced on disk are served on the next
 *   connection without a restart; a key that does not match the certificate is refused and the previous
 *   certificate stays.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes, X509Certificate } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import tls from 'node:tls';
import { resolveConfig } from '../../src/config/load.ts';
import type { RawConfig } from '../../src/config/schema.ts';
import { type SampleApp, startSampleApp } from '../../src/demo/app.ts';
import { createLogger } from '../../src/observability/log.ts';
import { type RunningGateway, startGateway } from '../../src/server/start.ts';
import { Browser } from '../support/browser.ts';
import { freePort } from '../support/gateway.ts';
import { startTestIdp, type TestIdp } from '../support/idp.ts';

const dir = mkdtempSync(join(tmpdir(), 'pcl-tls-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A self-signed certificate for 127.0.0.1 (its own CA for the client), as cert/key PEM files. */
function makeCert(name: string): { cert: string; key: string; pem: string; fingerprint: string } {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '1',
      '-subj',
      `/CN=${name}`,
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      key,
      '-out',
      cert,
    ],
    { stdio: 'ignore' },
  );
  const pem = readFileSync(cert, 'utf8');
  return { cert, key, pem, fingerprint: new X509Certificate(pem).fingerprint256 };
}

/** The certificate a new TLS connection is shown, and the protocol ALPN settled on (offering h2 first). */
function handshake(port: number): Promise<{ fingerprint: string; alpn: string | false }> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect(
      { host: '127.0.0.1', port, rejectUnauthorized: false, ALPNProtocols: ['h2', 'http/1.1'] },
      () => {
        const fingerprint = socket.getPeerCertificate().fingerprint256;
        const alpn = socket.alpnProtocol ?? false;
        socket.end();
        resolve({ fingerprint, alpn });
      },
    );
    socket.on('error', reject);
  });
}

const a = makeCert('cert-a');
const b = makeCert('cert-b');

describe('server.tls in process', () => {
  let idp: TestIdp;
  let app: SampleApp;
  let gw: RunningGateway;
  let publicUrl: string;

  before(async () => {
    const port = await freePort();
    publicUrl = `https://127.0.0.1:${port}`;
    idp = await startTestIdp({
      clients: [{ client_id: 'c', client_secret: 's', redirect_uris: [`${publicUrl}/oauth2/callback`] }],
    });
    app = await startSampleApp();
    const config = resolveConfig({
      publicUrl,
      listen: `127.0.0.1:${port}`,
      server: { tls: { certFile: a.cert, keyFile: a.key } },
      cookie: { secret: randomBytes(32).toString('base64url') },
      providers: [{ id: 'test', type: 'oidc', issuer: idp.issuer, clientId: 'c', clientSecret: 's' }],
      upstreams: [{ path: '/', url: app.url }],
      metrics: { listen: '127.0.0.1:0' },
    } as RawConfig);
    gw = await startGateway(config, createLogger('silent'));
  });
  after(async () => {
    await gw?.close();
    await Promise.allSettled([idp?.close(), app?.close()]);
  });

  test('HTTPS /ping with the configured certificate, HTTP/1.1 by ALPN', async () => {
    assert.equal(gw.url.startsWith('https://127.0.0.1:'), true, gw.url);
    const r = await new Browser({ ca: a.pem, rejectUnauthorized: true }).get(`${gw.url}/ping`);
    assert.equal(r.status, 200);
    const port = Number(new URL(gw.url).port);
    const h = await handshake(port);
    assert.equal(h.fingerprint, a.fingerprint);
    // Offered h2 first, given http/1.1: the pipeline is HTTP/1.1 (src/server/tls.ts says why).
    assert.equal(h.alpn, 'http/1.1');
  });

  test('a sign-in through HTTPS: Secure __Host- cookie, the app told https', async () => {
    const browser = new Browser({ ca: a.pem, rejectUnauthorized: true });
    const login = await browser.get(`${publicUrl}/oauth2/start?rd=%2Fwho`);
    const back = await browser.signInAtDevIdp(login, 'alice', 'alice');
    assert.equal(back.status, 200, back.body.slice(0, 300));
    assert.equal(new URL(back.url).origin, publicUrl);
    const cookie = browser.jar.all().find((c) => c.name.startsWith('__Host-portcullis'));
    assert.ok(cookie, 'the session cookie has the __Host- prefix');
    assert.equal(cookie.secure, true);
    assert.match(back.body, /alice@example\.com/);
    // The scheme of the client's connection, as the app is told it (no trusted proxy in front).
    const echo = await browser.get(`${publicUrl}/api/who`, { headers: { accept: 'application/json' } });
    const seen = JSON.parse(echo.body) as { headers: Record<string, string> };
    assert.equal(seen.headers['x-forwarded-proto'], 'https');
    assert.equal(seen.headers['x-forwarded-user'], 'alice');
  });

  test('an unreadable key stops the start, naming the setting', async () => {
    const config = resolveConfig({
      publicUrl: 'https://127.0.0.1:1',
      listen: '127.0.0.1:0',
      server: { tls: { certFile: a.cert, keyFile: join(dir, 'missing.key') } },
      cookie: { secret: randomBytes(32).toString('base64url') },
      providers: [{ id: 'test', type: 'oidc', issuer: idp.issuer, clientId: 'c', clientSecret: 's' }],
      upstreams: [{ path: '/', url: app.url }],
      metrics: { enabled: false },
    } as RawConfig);
    await assert.rejects(
      startGateway(config, createLogger('silent')),
      /server\.tls\.keyFile: cannot read .*ENOENT/,
    );
  });
});

describe('portcullis serve: a renewed certificate without a restart', () => {
  let child: ChildProcess;
  let port: number;
  let out = '';
  const cert = join(dir, 'live.crt');
  const key = join(dir, 'live.key');

  before(async () => {
    copyFileSync(a.cert, cert);
    copyFileSync(a.key, key);
    port = await freePort();
    const config = join(dir, 'serve.yaml');
    writeFileSync(
      config,
      `publicUrl: https://127.0.0.1:${port}
listen: 127.0.0.1:${port}
server: { tls: { certFile: ${cert}, keyFile: ${key} } }
cookie: { secret: ${randomBytes(32).toString('base64url')} }
providers:
  - { id: idp, type: oidc, issuer: http://127.0.0.1:9/, clientId: c, clientSecret: s }
upstreams:
  - { path: /, url: http://127.0.0.1:9 }
metrics: { enabled: false }
logging: { format: json }
`,
    );
    child = spawn(process.execPath, ['src/cli/main.ts', 'serve', '--config', config], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PORTCULLIS_CONFIG: '' },
    });
    child.stdout!.on('data', (d: Buffer) => (out += d));
    child.stderr!.on('data', (d: Buffer) => (out += d));
    await until(() => out.includes('portcullis listening'), 'start-up');
  });
  after(() => {
    if (child?.exitCode === null) child.kill('SIGKILL');
  });

  async function until(pred: () => boolean | Promise<boolean>, what: string, ms = 10_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!(await pred())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; output:\n${out}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  test('the files replaced on disk are served on the next connection', async () => {
    assert.equal((await handshake(port)).fingerprint, a.fingerprint);
    // A renewal half-way: the new certificate, the old key. Refused; the old pair is still served.
    copyFileSync(b.cert, cert);
    await until(() => out.includes('"event":"tls.reload-failed"'), 'the mismatched pair to be refused');
    assert.equal((await handshake(port)).fingerprint, a.fingerprint);
    // The key follows: the new pair is served, by the same process.
    copyFileSync(b.key, key);
    await until(async () => (await handshake(port)).fingerprint === b.fingerprint, 'certificate B');
    assert.match(out, /"event":"tls\.reloaded"/);
    assert.equal(child.exitCode, null, 'no restart');
    child.kill('SIGTERM');
    const code = await new Promise((resolve) => child.once('exit', resolve));
    assert.equal(code, 0, out);
  });
});
