/**
 * Slow and idle clients, and how many may be connected (`server` in the configuration).
 *
 * Node enforces three of the limits itself: `headersTimeout` and `requestTimeout` (checked every
 * `connectionsCheckingInterval`, 30 s by default — which is why a header dribble used to last ~85 s) and
 * `keepAliveTimeout`. What Node does not have is done here, with one sweep over the open connections:
 * - a request body that stops arriving (`bodyTimeout`; nginx's client_body_timeout). Node's requestTimeout
 *   bounds the whole request but is minutes long, and undici's headersTimeout does not fire while it is
 *   still writing a streamed request body to the upstream, so a dribbled proxied POST was never cut;
 * - a response the client stops reading (`sendTimeout`; nginx's send_timeout): it holds a connection of the
 *   upstream's pool too. Waiting for the upstream (long polls, server-sent events) owes the client nothing
 *   and does not count;
 * - a cap on open connections that answers 503 at once. `server.maxConnections` would close new sockets
 *   without a word, which a client reads as a network failure and retries at once.
 * WebSocket tunnels count against the cap and are cut only by `sendTimeout` (a peer that stops reading):
 * an idle tunnel is the application's to close (WebSocket pings).
 */
import { readFileSync } from 'node:fs';
import type http from 'node:http';
import type { Socket } from 'node:net';
import type { ServerConfig } from '../config/schema.ts';
import { ERRORS } from '../errors/codes.ts';
import type { Logger } from '../observability/log.ts';
import type { Metrics } from '../observability/metrics.ts';

export interface Limits {
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly bodyTimeoutMs: number;
  readonly sendTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly maxConnections: number;
}

/** The open-file limit that applies to this process (Linux); undefined where it cannot be read. */
export function openFileLimit(read: () => string = () => readFileSync('/proc/self/limits', 'utf8')) {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(read());
    if (m === null) return undefined;
    return m[1] === 'unlimited' ? Number.POSITIVE_INFINITY : Number(m[1]);
  } catch {
    return undefined;
  }
}

/**
 * Each proxied request holds two descriptors (the client's and an upstream socket), and the process needs
 * some for itself (listeners, storage, logs): half the limit less a reserve, between 16 and 4096.
 */
export function defaultMaxConnections(fdLimit: number | undefined = openFileLimit()): number {
  if (fdLimit === undefined || !Number.isFinite(fdLimit)) return 4096;
  return Math.max(16, Math.min(4096, Math.floor((fdLimit - 64) / 2)));
}

export function limitsOf(server: ServerConfig): Limits {
  return {
    headersTimeoutMs: server.headersTimeout * 1000,
    requestTimeoutMs: server.requestTimeout * 1000,
    bodyTimeoutMs: server.bodyTimeout * 1000,
    sendTimeoutMs: server.sendTimeout * 1000,
    idleTimeoutMs: server.idleTimeout * 1000,
    maxConnections: server.maxConnections ?? defaultMaxConnections(),
  };
}

/** How often limits are checked: a quarter of the shortest, between 250 ms and 5 s. */
function sweepMs(l: Limits): number {
  const shortest = Math.min(l.headersTimeoutMs, l.requestTimeoutMs, l.bodyTimeoutMs, l.sendTimeoutMs);
  return Math.max(250, Math.min(5_000, Math.floor(shortest / 4)));
}

/** The options of http.createServer for these limits. */
export function serverOptions(l: Limits): http.ServerOptions {
  return {
    headersTimeout: l.headersTimeoutMs,
    requestTimeout: l.requestTimeoutMs,
    keepAliveTimeout: l.idleTimeoutMs,
    connectionsCheckingInterval: sweepMs(l),
  };
}

const RETRY_AFTER_S = 5;
/** `{"error": code, "message": title}`: the registry's words, in the shape of Portcullis's JSON errors. */
const rawBody = (code: 'PCL_TOO_MANY_CONNECTIONS' | 'PCL_REQUEST_TIMEOUT') =>
  JSON.stringify({ error: code, message: ERRORS[code].title });
const OVERLOADED_BODY = rawBody('PCL_TOO_MANY_CONNECTIONS');
/** Written on the raw socket before any request is read: no parser state, no allocation per refusal. */
const OVERLOADED = `HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: ${RETRY_AFTER_S}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(OVERLOADED_BODY)}\r\n\r\n${OVERLOADED_BODY}`;
const TIMED_OUT_BODY = rawBody('PCL_REQUEST_TIMEOUT');
const TIMED_OUT = `HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(TIMED_OUT_BODY)}\r\n\r\n${TIMED_OUT_BODY}`;
const BAD_REQUEST = 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n';

interface Watched {
  /** Bytes handed to the kernel, and when that last grew (or nothing was owed). */
  flushed: number;
  sendAt: number;
  /** A request body being received: the socket's bytes read, and when that last grew. */
  body: { read: number; at: number; res: http.ServerResponse } | undefined;
}

/**
 * A final answer written on the raw socket, then the socket destroyed at once, as Node does for its own
 * timeouts: a request handler that writes later finds it destroyed, and nothing lingers half-closed.
 */
function cut(socket: Socket, head: string): void {
  if (!socket.destroyed && socket.writable) socket.write(head);
  socket.destroy();
}

/** The 503 of the cap, which the client should get to read: a graceful close (the socket never reaches a handler). */
function answerAndClose(socket: Socket, head: string): void {
  if (socket.destroyed) return;
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  socket.end(head, () => socket.destroy());
  // A peer that does not take even these bytes is not waited for.
  setTimeout(() => socket.destroy(), 1_000).unref();
}

export class ConnectionGuard {
  #limits: Limits;
  readonly #log: Logger;
  readonly #metrics: Metrics;
  readonly #open = new Map<Socket, Watched>();
  readonly #refused = new WeakSet<Socket>();
  #sweep: NodeJS.Timeout | undefined;
  #lastWarned = 0;

  constructor(limits: Limits, log: Logger, metrics: Metrics) {
    this.#limits = limits;
    this.#log = log;
    this.#metrics = metrics;
  }

  get open(): number {
    return this.#open.size;
  }

  /**
   * Hooks the server's connections: before Node's own listener, so a refused socket is answered first. On
   * TLS that is 'secureConnection' (Node's HTTP handling starts there too): the TLS socket, so the 503 and
   * 408 written on it are encrypted, and the sockets watched are the ones requests carry (`req.socket`).
   */
  attach(server: http.Server, secure = false): void {
    server.prependListener(secure ? 'secureConnection' : 'connection', (socket: Socket) =>
      this.#onConnection(socket),
    );
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
      if (this.#refused.has(socket) || err.code === 'ECONNRESET') {
        socket.destroy();
        return;
      }
      // Node's headersTimeout and requestTimeout arrive here as ERR_HTTP_REQUEST_TIMEOUT.
      if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
        this.#metrics.connectionCut('request-timeout');
        cut(socket, TIMED_OUT);
        return;
      }
      answerAndClose(socket, BAD_REQUEST);
    });
    this.#sweep = setInterval(() => this.#check(Date.now()), sweepMs(this.#limits));
    this.#sweep.unref();
  }

  /** New limits from a reload: the timeouts apply at once (the sweep interval and Node's check stay). */
  update(server: http.Server, limits: Limits): void {
    this.#limits = limits;
    server.headersTimeout = limits.headersTimeoutMs;
    server.requestTimeout = limits.requestTimeoutMs;
    server.keepAliveTimeout = limits.idleTimeoutMs;
  }

  /** A socket refused at the cap: its requests are not answered (the 503 was). */
  refused(socket: Socket): boolean {
    return this.#refused.has(socket);
  }

  /** Called for every request: watches its body, if it has one, until the body has arrived. */
  request(req: http.IncomingMessage, res: http.ServerResponse): void {
    const h = req.headers;
    const hasBody =
      h['content-length'] !== undefined ? h['content-length'] !== '0' : h['transfer-encoding'] !== undefined;
    const w = this.#open.get(req.socket);
    if (!hasBody || w === undefined || req.complete) return;
    const body = { read: req.socket.bytesRead, at: Date.now(), res };
    w.body = body;
    const done = () => {
      if (w.body === body) w.body = undefined;
    };
    req.once('end', done);
    req.once('close', done);
  }

  close(): void {
    clearInterval(this.#sweep);
  }

  /** Destroys every client connection still open, WebSocket tunnels included (the drain deadline). */
  destroyAll(): void {
    for (const socket of this.#open.keys()) socket.destroy();
  }

  #onConnection(socket: Socket): void {
    if (this.#open.size >= this.#limits.maxConnections) {
      this.#refused.add(socket);
      this.#metrics.connectionCut('max-connections');
      const now = Date.now();
      if (now - this.#lastWarned > 10_000) {
        this.#lastWarned = now;
        this.#log.warn(
          { event: 'server.max-connections', open: this.#open.size, code: 'PCL_TOO_MANY_CONNECTIONS' },
          'connection cap reached: new connections get 503 (server.maxConnections)',
        );
      }
      answerAndClose(socket, OVERLOADED);
      return;
    }
    this.#open.set(socket, { flushed: 0, sendAt: Date.now(), body: undefined });
    socket.once('close', () => this.#open.delete(socket));
  }

  #check(now: number): void {
    const l = this.#limits;
    for (const [socket, w] of this.#open) {
      if (socket.destroyed) continue;
      const pending = socket.writableLength;
      const flushed = socket.bytesWritten - pending;
      if (pending === 0 || flushed !== w.flushed) {
        w.flushed = flushed;
        w.sendAt = now;
      } else if (now - w.sendAt > l.sendTimeoutMs) {
        this.#metrics.connectionCut('send-timeout');
        this.#log.info(
          { event: 'server.send-timeout', client: socket.remoteAddress, pending },
          'client stopped reading the response: connection cut (server.sendTimeout)',
        );
        socket.destroy();
        continue;
      }
      const body = w.body;
      if (body === undefined) continue;
      const read = socket.bytesRead;
      if (read !== body.read) {
        body.read = read;
        body.at = now;
      } else if (now - body.at > l.bodyTimeoutMs) {
        w.body = undefined;
        this.#metrics.connectionCut('body-timeout');
        this.#log.info(
          { event: 'server.body-timeout', client: socket.remoteAddress, code: 'PCL_REQUEST_TIMEOUT' },
          'request body stalled: connection cut (server.bodyTimeout)',
        );
        // Before any response: a 408 says why. After one has started, only a cut can end it.
        if (body.res.headersSent) socket.destroy();
        else cut(socket, TIMED_OUT);
      }
    }
  }
}
