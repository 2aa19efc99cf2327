/**
 * The tunnel relay (src/proxy/relay.ts) on real loopback sockets, shaped like a WebSocket tunnel in the
 * gateway: browser -> [client socket, from a server with allowHalfOpen like node:http's] relay [upstream
 * socket, a plain net.connect like http.request's] -> app. Bytes both ways, backpressure both ways with a
 * reader that stops (the relay holds no more than a socket buffer), half-close both ways, and a cut on
 * either side closing the other.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import { afterEach, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { relay } from '../../src/proxy/relay.ts';

interface Tunnel {
  browser: net.Socket;
  app: net.Socket;
  client: net.Socket;
  upstream: net.Socket;
}

const servers: net.Server[] = [];
const sockets: net.Socket[] = [];
afterEach(() => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const s of servers.splice(0)) s.close();
});

async function listen(): Promise<{ server: net.Server; port: number }> {
  const server = net.createServer({ allowHalfOpen: true });
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as net.AddressInfo).port };
}

async function tunnel(): Promise<Tunnel> {
  const gw = await listen();
  const appServer = await listen();
  const appConn = once(appServer.server, 'connection');
  const upstream = net.connect(appServer.port, '127.0.0.1');
  const [app] = (await appConn) as [net.Socket];
  await once(upstream, 'connect');
  const clientConn = once(gw.server, 'connection');
  const browser = net.connect({ port: gw.port, host: '127.0.0.1', allowHalfOpen: true });
  const [client] = (await clientConn) as [net.Socket];
  await once(browser, 'connect');
  sockets.push(browser, app, client, upstream);
  // What http.request({ timeout }) leaves on the upstream socket after an upgrade.
  upstream.setTimeout(30_000);
  relay(client, upstream);
  return { browser, app, client, upstream };
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Everything a socket reads until its end. */
function collect(s: net.Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  s.on('data', (c: Buffer) => chunks.push(c));
  return once(s, 'end').then(() => Buffer.concat(chunks));
}

/** Writes data in 64 KiB pieces, waiting for 'drain' whenever the socket asks; resolves when all is handed over. */
async function send(s: net.Socket, data: Buffer, progress: { handed: number }): Promise<void> {
  for (let at = 0; at < data.length; at += 65_536) {
    const piece = data.subarray(at, at + 65_536);
    progress.handed += piece.length;
    if (!s.write(piece)) await once(s, 'drain');
  }
}

/** Resolves when the socket has closed (events.once would reject on the 'error' that may come first). */
const closed = (s: net.Socket) =>
  new Promise<void>((resolve) => (s.closed ? resolve() : s.once('close', () => resolve())));
/** A peer that learns its connection is over: an end (FIN), a reset, or a close. */
const over = (s: net.Socket) =>
  new Promise<void>((resolve) => {
    for (const e of ['end', 'error', 'close']) s.once(e, () => resolve());
    s.resume();
  });

describe('tunnel relay', () => {
  test('bytes travel both ways unchanged; the handshake timeout is disarmed and Nagle is off', async () => {
    const t = await tunnel();
    assert.equal(t.upstream.timeout, 0);
    const up = randomBytes(1 << 20);
    const down = randomBytes(1 << 20);
    const atApp = collect(t.app);
    const atBrowser = collect(t.browser);
    t.browser.end(up);
    t.app.end(down);
    assert.equal(sha(await atApp), sha(up));
    assert.equal(sha(await atBrowser), sha(down));
    await Promise.all([closed(t.client), closed(t.upstream)]);
  });

  for (const direction of ['app -> browser', 'browser -> app'] as const) {
    test(`a reader that stops (${direction}): the relay holds at most a socket buffer, the writer is held back, and everything arrives once it reads again`, async () => {
      const t = await tunnel();
      const [writer, reader, queue] =
        direction === 'app -> browser' ? [t.app, t.browser, t.client] : [t.browser, t.app, t.upstream];
      const total = 64 << 20;
      const data = randomBytes(total);
      reader.pause();
      const progress = { handed: 0 };
      const sent = send(writer, data, progress);
      // Let the buffers fill: the kernel's (both connections) and the relay's.
      let last = -1;
      while (progress.handed !== last) {
        last = progress.handed;
        await sleep(300);
      }
      assert.ok(progress.handed < total, `the writer handed over all ${total} bytes: no backpressure`);
      // The relay's own queue: one write-buffer high-water mark plus at most one read chunk (64 KiB).
      const bound = queue.writableHighWaterMark + 65_536;
      assert.ok(
        queue.writableLength <= bound,
        `the relay holds ${queue.writableLength} bytes (bound ${bound})`,
      );
      const got = collect(reader);
      reader.resume();
      await sent;
      writer.end();
      assert.equal(sha(await got), sha(data));
    });
  }

  test('half-close: an end from the app reaches the browser, which may still send; then both close', async () => {
    const t = await tunnel();
    const atBrowser = collect(t.browser);
    t.app.end('bye');
    assert.equal((await atBrowser).toString(), 'bye');
    const atApp = collect(t.app);
    t.browser.end('still here');
    assert.equal((await atApp).toString(), 'still here');
    await Promise.all([closed(t.client), closed(t.upstream), closed(t.browser), closed(t.app)]);
  });

  test('half-close: an end from the browser reaches the app, which may still answer; then both close', async () => {
    const t = await tunnel();
    const atApp = collect(t.app);
    t.browser.end('last words');
    assert.equal((await atApp).toString(), 'last words');
    const atBrowser = collect(t.browser);
    t.app.end('answer');
    assert.equal((await atBrowser).toString(), 'answer');
    await Promise.all([closed(t.client), closed(t.upstream), closed(t.browser), closed(t.app)]);
  });

  test('a browser that resets the connection: the upstream side is destroyed and the app sees it close', async () => {
    const t = await tunnel();
    const appSees = over(t.app);
    t.browser.resetAndDestroy();
    await Promise.all([closed(t.client), closed(t.upstream), appSees]);
  });

  test('an app that resets the connection: the client side is destroyed and the browser sees it close', async () => {
    const t = await tunnel();
    const browserSees = over(t.browser);
    t.app.resetAndDestroy();
    await Promise.all([closed(t.client), closed(t.upstream), browserSees]);
  });

  test('a side destroyed in the gateway (sendTimeout, drain deadline) takes the other with it', async () => {
    const t = await tunnel();
    const seen = [over(t.app), over(t.browser)];
    t.client.destroy();
    await Promise.all([closed(t.upstream), ...seen]);
  });
});
