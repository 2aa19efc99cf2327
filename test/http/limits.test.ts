/**
 * Slow and idle clients against a real gateway on loopback (raw sockets), with small `server` limits so
 * each case runs in seconds: a dribbled or stalled body is cut, a stalled reader is cut, a header dribble
 * (an upgrade request's too) is cut, the connection cap answers 503 at once and /ping is served again once
 * the slow connections are gone, and an open WebSocket tunnel outlives every timeout.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { resolveConfig } from '../../src/config/load.ts';
import type { RawConfig } from '../../src/config/schema.ts';
import { type SampleApp, startSampleApp } from '../../src/demo/app.ts';
import { defaultMaxConnections, openFileLimit } from '../../src/http/limits.ts';
import { createLogger } from '../../src/observability/log.ts';
import { type RunningGateway, startGateway } from '../../src/server/start.ts';
import { openWebSocket, rawRequest } from '../support/raw.ts';

const SERVER = {
  headersTimeout: 1,
  requestTimeout: 3,
  bodyTimeout: 1,
  sendTimeout: 1,
  idleTimeout: 1,
  maxConnections: 4,
};

let app: SampleApp;
let big: http.Server;
let bigUrl: string;
/** What the test upstream saw of each POST body: bytes, and whether it ended or was aborted. */
const uploads: { bytes: number; outcome: 'end' | 'aborted' }[] = [];
let gw: RunningGateway;
let host: string;

before(async () => {
  app = await startSampleApp();
  big = http.createServer((req, res) => {
    if (req.method === 'POST') {
      let bytes = 0;
      req.on('data', (c: Buffer) => {
        bytes += c.length;
      });
      req.on('end', () => {
        uploads.push({ bytes, outcome: 'end' });
        res.end(`got ${bytes}`);
      });
      req.on('aborted', () => uploads.push({ bytes, outcome: 'aborted' }));
      return;
    }
    // 64 MiB: far more than the socket buffers of both hops hold, so a reader that stops stalls the send.
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(64 << 20) });
    const chunk = Buffer.alloc(1 << 20);
    let left = 64;
    const pump = () => {
      while (left > 0) {
        left--;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
    res.on('close', () => {
      left = 0;
    });
  });
  await new Promise<void>((r) => big.listen(0, '127.0.0.1', r));
  bigUrl = `http://127.0.0.1:${(big.address() as AddressInfo).port}`;
  gw = await startWith(SERVER);
  host = new URL(gw.url).host;
});

after(async () => {
  await gw?.close();
  big?.closeAllConnections();
  await new Promise((r) => big?.close(r));
  await app?.close();
});

async function startWith(server: Record<string, unknown>): Promise<RunningGateway> {
  const config = resolveConfig({
    publicUrl: 'http://127.0.0.1:4180',
    listen: '127.0.0.1:0',
    cookie: { secret: randomBytes(32).toString('base64url') },
    providers: [
      { id: 'test', type: 'oidc', issuer: 'http://127.0.0.1:9/', clientId: 'x', clientSecret: 'y' },
    ],
    upstreams: [
      { id: 'big', path: '/big/', url: bigUrl, timeout: 5 },
      { id: 'sample', path: '/', url: app.url, timeout: 2 },
    ],
    routes: [{ path: '/', public: true }],
    server,
    metrics: { listen: '127.0.0.1:0' },
  } as RawConfig);
  const sink = new Writable({ write: (_c, _e, cb) => cb() });
  return startGateway(config, createLogger('debug', sink), { port: 0 });
}

interface Closed {
  /** The first 4 KiB the server sent. */
  readonly text: string;
  readonly bytes: number;
  /** Milliseconds from connecting until the server closed the connection. */
  readonly ms: number;
}

/**
 * Connects, writes `first`, then `dribble` (one piece every `everyMs`) for as long as the socket is open;
 * resolves when the server closes it. A `limitMs` safety net fails the test instead of hanging it.
 */
function slowClient(
  first: string,
  o: { dribble?: string; everyMs?: number; limitMs?: number; port?: number } = {},
): { closed: Promise<Closed>; socket: net.Socket } {
  const t0 = performance.now();
  const socket = net.connect(Number(o.port ?? new URL(gw.url).port), '127.0.0.1');
  let text = '';
  let bytes = 0;
  let timer: NodeJS.Timeout | undefined;
  const closed = new Promise<Closed>((resolve, reject) => {
    const limit = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the server kept the connection open for ${o.limitMs ?? 10_000} ms`));
    }, o.limitMs ?? 10_000);
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      bytes += d.length;
      if (text.length < 4096) text += d.slice(0, 4096);
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(limit);
      clearInterval(timer);
      resolve({ text, bytes, ms: performance.now() - t0 });
    });
  });
  socket.on('connect', () => {
    socket.write(first);
    if (o.dribble !== undefined) {
      timer = setInterval(() => {
        if (socket.writable) socket.write(o.dribble!);
      }, o.everyMs ?? 200);
    }
  });
  return { closed, socket };
}

describe('slow clients are cut', () => {
  test('a proxied POST whose body stalls gets 408 within bodyTimeout, and the upstream sees it aborted', async () => {
    const before = uploads.length;
    const { closed } = slowClient(
      `POST /big/upload HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 1000\r\n\r\n0123456789`,
    );
    const c = await closed;
    assert.ok(c.ms >= 900 && c.ms < 2_500, `closed after ${Math.round(c.ms)} ms`);
    assert.match(c.text, /^HTTP\/1\.1 408 Request Timeout\r\n/);
    assert.match(c.text, /PCL_REQUEST_TIMEOUT/);
    await sleep(100);
    assert.deepEqual(uploads.slice(before), [{ bytes: 10, outcome: 'aborted' }]);
  });

  test('a proxied POST body that keeps dribbling is cut by requestTimeout', async () => {
    const { closed } = slowClient(
      `POST /big/upload HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 100000\r\n\r\n`,
      { dribble: 'x', everyMs: 200 },
    );
    const c = await closed;
    // Each byte comes well within bodyTimeout (1 s): only the 3 s for the whole request ends it.
    assert.ok(c.ms >= 2_900 && c.ms < 5_000, `closed after ${Math.round(c.ms)} ms`);
    assert.match(c.text, /^HTTP\/1\.1 408 /);
  });

  test('/ping with a dribbled body is answered, then the connection is cut', async () => {
    const { closed } = slowClient(`GET /ping HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 100000\r\n\r\n`, {
      dribble: 'x',
      everyMs: 200,
    });
    const c = await closed;
    assert.match(c.text, /^HTTP\/1\.1 200 OK\r\n/);
    assert.ok(c.ms < 5_000, `closed after ${Math.round(c.ms)} ms`);
  });

  test('a POST to a login endpoint with a stalled body is cut too', async () => {
    const { closed } = slowClient(
      `POST /oauth2/sign_out HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 500\r\n\r\nrd=`,
    );
    const c = await closed;
    assert.ok(c.ms < 2_500, `closed after ${Math.round(c.ms)} ms`);
  });

  test('dribbled headers are cut by headersTimeout, an upgrade request’s too', async () => {
    for (const first of [
      `GET /ping HTTP/1.1\r\nHost: ${host}\r\n`,
      `GET /ws HTTP/1.1\r\nHost: ${host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n`,
    ]) {
      const { closed } = slowClient(first, { dribble: 'X-A: b\r\n', everyMs: 200 });
      const c = await closed;
      assert.ok(c.ms >= 900 && c.ms < 2_500, `closed after ${Math.round(c.ms)} ms`);
      assert.match(c.text, /^HTTP\/1\.1 408 /);
    }
  });

  test('a client that stops reading a large download is cut by sendTimeout', async () => {
    const { closed, socket } = slowClient(`GET /big/file HTTP/1.1\r\nHost: ${host}\r\n\r\n`, {
      limitMs: 15_000,
    });
    // Read the first bytes, then stop reading for longer than sendTimeout. A paused socket does not see
    // the server close it: reading again afterwards drains what was in flight and then finds the end.
    socket.once('data', () => {
      socket.pause();
      setTimeout(() => socket.resume(), 3_000);
    });
    const c = await closed;
    assert.match(c.text, /^HTTP\/1\.1 200 OK\r\n/);
    assert.ok(c.bytes < 64 << 20, `the whole download arrived (${c.bytes} bytes)`);
    assert.ok(c.ms < 6_000, `closed after ${Math.round(c.ms)} ms`);
    const metrics = await gw.ctx.metrics.registry.metrics();
    assert.match(metrics, /portcullis_connections_cut_total\{reason="send-timeout"\} [1-9]/);
  });

  test('an open WebSocket tunnel outlives the idle, headers and request timeouts', async () => {
    const ws = await openWebSocket(gw.url, '/ws');
    assert.ok(ws.upgraded);
    if (!ws.upgraded) return;
    await sleep(4_000);
    ws.ws.send('still here');
    assert.equal(await ws.ws.next(), 'still here');
    ws.ws.close();
  });
});

describe('the connection cap', () => {
  test('past maxConnections a new connection gets 503 at once; /ping works again once the slow ones are cut', async () => {
    const slow = Array.from({ length: SERVER.maxConnections }, () =>
      slowClient(`GET /ping HTTP/1.1\r\nHost: ${host}\r\n`, { dribble: 'X-A: b\r\n', everyMs: 200 }),
    );
    await Promise.all(slow.map((s) => new Promise((r) => s.socket.once('connect', r))));
    await sleep(100);
    const t0 = performance.now();
    const refused = await rawRequest(gw.url, { path: '/ping', timeoutMs: 2_000 });
    const ms = performance.now() - t0;
    assert.equal(refused.status, 503);
    assert.equal(refused.headers['retry-after'], '5');
    assert.equal(refused.headers.connection, 'close');
    assert.match(refused.text, /PCL_TOO_MANY_CONNECTIONS/);
    assert.ok(ms < 500, `503 after ${Math.round(ms)} ms`);
    await Promise.all(slow.map((s) => s.closed));
    const ping = await rawRequest(gw.url, { path: '/ping', headers: ['Host', host] });
    assert.equal(ping.status, 200);
    const metrics = await (await fetch(`${gw.metricsUrl}/metrics`)).text();
    assert.match(metrics, /portcullis_connections_cut_total\{reason="max-connections"\} [1-9]/);
  });
});

describe('defaults', () => {
  test('the server section has defaults; requestTimeout may not be shorter than headersTimeout', () => {
    const base = {
      publicUrl: 'http://127.0.0.1:4180',
      cookie: { secret: randomBytes(32).toString('base64url') },
      providers: [{ id: 't', type: 'oidc', issuer: 'http://127.0.0.1:9/', clientId: 'x', clientSecret: 'y' }],
      upstreams: [{ path: '/', url: 'http://127.0.0.1:8080' }],
    };
    const c = resolveConfig(base as RawConfig);
    assert.deepEqual(c.server, {
      headersTimeout: 30,
      requestTimeout: 300,
      bodyTimeout: 30,
      sendTimeout: 60,
      idleTimeout: 65,
      shutdownDelay: 5,
      drainTimeout: 20,
      workers: 1,
    });
    assert.throws(
      () => resolveConfig({ ...base, server: { headersTimeout: 60, requestTimeout: 30 } } as RawConfig),
      /server\.requestTimeout: 30s is shorter than server\.headersTimeout/,
    );
  });

  test('maxConnections defaults to half the open-file limit less a reserve, between 16 and 4096', () => {
    assert.equal(defaultMaxConnections(256), 96);
    assert.equal(defaultMaxConnections(1024), 480);
    assert.equal(defaultMaxConnections(65536), 4096);
    assert.equal(defaultMaxConnections(40), 16);
    assert.equal(defaultMaxConnections(undefined), 4096);
    assert.equal(defaultMaxConnections(Number.POSITIVE_INFINITY), 4096);
    assert.equal(
      openFileLimit(() => 'Max open files            256                  4096                 files\n'),
      256,
    );
    assert.equal(
      openFileLimit(() => 'Max open files            unlimited            unlimited            files\n'),
      Number.POSITIVE_INFINITY,
    );
  });
});
