/**
 * The bytes of an established tunnel (a WebSocket after its 101): what one socket reads, the other writes.
 *
 * Per chunk this is a 'data' listener and one write — no stream.pipe() bookkeeping (its ondata wrapper,
 * awaitDrain accounting, unpipe listeners), which the WebSocket bench showed as user-space CPU on every
 * message. The rules the tunnel keeps:
 * - backpressure both ways: a write the other socket cannot take at once pauses the reader until 'drain', so
 *   a slow reader holds at most one socket buffer (the writable high-water mark) plus the kernel's;
 * - half-close: an end (FIN) from one side is passed on as an end to the other, which may go on sending;
 * - an error or an abrupt close on either side destroys the other; a side whose reading and writing both
 *   finished cleanly closes on its own, and so then does the other.
 * A tunnel has no idle timeout here (WebSocket pings are the application's, docs/endpoints.md); a client that
 * stops reading is cut by server.sendTimeout (src/http/limits.ts).
 */
import type { Duplex } from 'node:stream';

/** net.Socket and tls.TLSSocket have these; a bare Duplex (tests) may not. */
interface SocketLike extends Duplex {
  setNoDelay?: (noDelay?: boolean) => unknown;
  setTimeout?: (ms: number) => unknown;
}

function prepare(s: SocketLike): void {
  // http.request's `timeout` (upstreams[].timeout, meant for the handshake) stays armed on the upstream
  // socket after the upgrade: every read and write re-arms it and an idle tunnel gets a 'timeout' event
  // no one listens to. Disarm it on both sides.
  s.setTimeout?.(0);
  // Each chunk is a message the other side waits for: no Nagle delay (the http server's sockets already
  // have it off, the upstream socket may not).
  s.setNoDelay?.(true);
  // A FIN from this side must not end our writing to it: the other side may still have data for it.
  s.allowHalfOpen = true;
}

function oneWay(src: Duplex, dst: Duplex): void {
  src.on('data', (chunk: Buffer) => {
    if (!dst.write(chunk)) src.pause();
  });
  dst.on('drain', () => src.resume());
  src.on('end', () => dst.end());
  src.on('error', () => dst.destroy());
  src.on('close', () => {
    // Closed with both directions done: dst has been ended and finishes (and closes) by itself.
    if (!(src.readableEnded && src.writableFinished)) dst.destroy();
  });
  // A listener alone does not restart a stream that was paused explicitly (pipe() resumes it too).
  src.resume();
}

/** Joins the two sockets of a tunnel until both are closed. */
export function relay(client: Duplex, upstream: Duplex): void {
  prepare(client);
  prepare(upstream);
  oneWay(client, upstream);
  oneWay(upstream, client);
}
