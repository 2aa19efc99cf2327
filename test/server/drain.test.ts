/**
 * Graceful drain of `portcullis serve` as a real process (docs/endpoints.md#graceful-shutdown): on SIGTERM
 * /ready answers 503 during server.shutdownDelay while the listener still serves; then the listener
 * closes (a new connection is refused), a slow request in flight still completes, a WebSocket tunnel
 * keeps working until server.drainTimeout and is closed at that deadline, and the process exits 0.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

const SHUTDOWN_DELAY_MS = 1_000;
const DRAIN_TIMEOUT_MS = 3_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let child: ChildProcess | undefined;
let upstream: http.Server | undefined;
const dir = mkdtempSync(join(tmpdir(), 'pcl-drain-'));
after(async () => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  upstream?.closeAllConnections();
  await new Promise((r) => (upstream ? upstream.close(r) : r(undefined)));
  rmSync(dir, { recursive: true, force: true });
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

/** An upstream with a slow endpoint and a WebSocket-style echo (RFC 6455 §4.2.2 handshake, then raw echo). */
async function startUpstream(): Promise<string> {
  const upstreamSockets = new Set<net.Socket>();
  upstream = http.createServer((req, res) => {
    const ms = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('ms') ?? 0);
    setTimeout(() => res.writeHead(200, { 'content-type': 'text/plain' }).end('slow done'), ms);
  });
  upstream.on('upgrade', (req, socket: net.Socket) => {
    upstreamSockets.add(socket);
    const accept = createHash('sha1')
      .update(`${req.headers['sec-websocket-key']}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`)
      .digest('base64');
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
    );
    socket.on('data', (d) => socket.write(d));
    socket.on('error', () => {});
  });
  upstream.on('close', () => {
    for (const s of upstreamSockets) s.destroy();
  });
  await new Promise<void>((r) => upstream!.listen(0, '127.0.0.1', () => r()));
  return `http://127.0.0.1:${(upstream.address() as net.AddressInfo).port}`;
}

/** Opens a tunnel through the gateway; resolves with the socket once the 101 arrived. */
function openTunnel(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', reject);
    s.write(
      `GET /ws HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\n\r\n`,
    );
    let head = '';
    const onData = (d: Buffer) => {
      head += d.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      s.off('data', onData);
      if (!head.startsWith('HTTP/1.1 101')) reject(new Error(`no upgrade: ${head.split('\r\n')[0]}`));
      else resolve(s);
    };
    s.on('data', onData);
  });
}

function echo(s: net.Socket, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no echo')), 1_000);
    s.once('data', (d) => {
      clearTimeout(t);
      resolve(d.toString());
    });
    s.write(text);
  });
}

/** A fresh TCP connection: 'refused' once the listener is closed. */
function connectOutcome(port: number): Promise<'connected' | 'refused'> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.once('error', () => resolve('refused'));
  });
}

test('SIGTERM: /ready 503 during shutdownDelay, then no new connections, the slow request completes, the tunnel is cut at drainTimeout, exit 0', async () => {
  const up = await startUpstream();
  const port = await freePort();
  writeFileSync(join(dir, 'secret'), `${randomBytes(32).toString('base64url')}\n`);
  writeFileSync(
    join(dir, 'portcullis.yaml'),
    `publicUrl: http://127.0.0.1:${port}
listen: 127.0.0.1:${port}
cookie: { secretFile: ${join(dir, 'secret')} }
providers:
  - { id: gh, type: github, clientId: c, clientSecret: s }
upstreams: [{ path: /, url: ${up} }]
routes: [{ path: /, public: true }]
server: { shutdownDelay: ${SHUTDOWN_DELAY_MS / 1000}s, drainTimeout: ${DRAIN_TIMEOUT_MS / 1000}s }
metrics: { enabled: false }
logging: { level: info, format: json }
`,
  );
  let out = '';
  child = spawn(process.execPath, ['src/cli/main.ts', 'serve', '--config', join(dir, 'portcullis.yaml')], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PORTCULLIS_CONFIG: '' },
  });
  child.stdout!.on('data', (d: Buffer) => {
    out += d;
  });
  child.stderr!.on('data', (d: Buffer) => {
    out += d;
  });
  const exited = new Promise<number | null>((resolve) => child!.once('exit', (code) => resolve(code)));
  for (let i = 0; !out.includes('portcullis listening'); i++) {
    if (i > 200) assert.fail(`no start-up:\n${out}`);
    await sleep(50);
  }
  const before = await fetch(`http://127.0.0.1:${port}/ready`);
  await before.body?.cancel();
  assert.notEqual(before.status, 404);

  const tunnel = await openTunnel(port);
  assert.equal(await echo(tunnel, 'before'), 'before');
  const tunnelClosed = new Promise<number>((resolve) => tunnel.once('close', () => resolve(Date.now())));
  tunnel.on('error', () => {});

  // Slow enough to still be running when the listener closes (after the delay).
  const slow = fetch(`http://127.0.0.1:${port}/slow?ms=${SHUTDOWN_DELAY_MS + 800}`).then(async (r) => ({
    status: r.status,
    body: await r.text(),
  }));
  await sleep(100);
  const sigterm = Date.now();
  child.kill('SIGTERM');
  await sleep(200);

  // During the delay: not ready, but still serving.
  const ready = await fetch(`http://127.0.0.1:${port}/ready`, { headers: { connection: 'close' } });
  assert.equal(ready.status, 503);
  assert.deepEqual(await ready.json(), { ready: false, draining: true });
  assert.equal(await connectOutcome(port), 'connected', 'the listener still accepts during shutdownDelay');

  // Then the listener closes: a new connection is refused.
  let refusedAt: number | undefined;
  while (Date.now() - sigterm < SHUTDOWN_DELAY_MS + 1_500) {
    if ((await connectOutcome(port)) === 'refused') {
      refusedAt = Date.now();
      break;
    }
    await sleep(50);
  }
  assert.ok(refusedAt !== undefined, `new connections still accepted:\n${out}`);
  assert.ok(refusedAt - sigterm >= SHUTDOWN_DELAY_MS - 50, `refused after ${refusedAt - sigterm} ms`);

  // The request in flight completes during the drain, after the listener closed.
  const r = await slow;
  assert.deepEqual(r, { status: 200, body: 'slow done' });
  assert.ok(Date.now() > refusedAt);

  // The tunnel still works during the drain, and is closed at the deadline.
  assert.equal(await echo(tunnel, 'during'), 'during');
  const closedAt = await tunnelClosed;
  const deadline = SHUTDOWN_DELAY_MS + DRAIN_TIMEOUT_MS;
  assert.ok(
    closedAt - sigterm >= deadline - 100 && closedAt - sigterm < deadline + 1_500,
    `tunnel closed ${closedAt - sigterm} ms after SIGTERM (deadline ${deadline} ms)`,
  );
  assert.equal(await exited, 0, out);
  assert.match(out, /"event":"server.drain-deadline"/);
});
