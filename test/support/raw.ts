// Raw HTTP/1.1 and WebSocket clients for proxy tests. Unlike fetch (which forbids some headers and adds its
// own) these send exactly the headers given, in order, with their spelling and duplicates.
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
  text: string;
}

export interface RawRequestOptions {
  method?: string;
  /** Request target as sent, e.g. `/public/%2e%2e/admin?x=1` (never normalised by the client). */
  path: string;
  /** Flat `[name, value, name, value, …]` list, sent as is. No Host is added unless given here. */
  headers?: readonly string[];
  body?: Buffer | string | Readable;
  /** Give up after this many ms (default 10 s) so a hang fails the test instead of stalling it. */
  timeoutMs?: number;
}

/** Sends one request on a fresh connection with exactly the given headers. */
export function rawRequest(base: string, o: RawRequestOptions): Promise<RawResponse> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: u.hostname,
      port: u.port,
      method: o.method ?? 'GET',
      path: o.path,
      headers: [...(o.headers ?? ['Host', u.host])],
      setHost: false,
      agent: false,
    });
    req.setTimeout(o.timeoutMs ?? 10_000, () => req.destroy(new Error(`no response within ${o.timeoutMs}`)));
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          rawHeaders: res.rawHeaders,
          body,
          text: body.toString('utf8'),
        });
      });
    });
    const body = o.body;
    if (body === undefined || typeof body === 'string' || Buffer.isBuffer(body)) req.end(body);
    else body.pipe(req);
  });
}

/** The sample app's JSON echo (GET /api/… or Accept: application/json). */
export interface Echo {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  rawHeaders: [string, string][];
}

export function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

// --- WebSocket (RFC 6455), just enough for single-frame text messages ---------------------------------------

export interface WsConnection {
  /** The 101 response headers. */
  readonly headers: http.IncomingHttpHeaders;
  send(text: string): void;
  /** The next text message from the server. */
  next(timeoutMs?: number): Promise<string>;
  close(): void;
}

export type WsOutcome =
  | { upgraded: true; ws: WsConnection }
  | { upgraded: false; status: number; headers: http.IncomingHttpHeaders; body: string };

/** Opens a WebSocket with `extraHeaders` (e.g. Cookie) on the handshake, as browsers can but fetch cannot. */
export function openWebSocket(
  base: string,
  path: string,
  extraHeaders: readonly string[] = [],
): Promise<WsOutcome> {
  const u = new URL(base);
  const key = randomBytes(16).toString('base64');
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: u.hostname,
      port: u.port,
      path,
      setHost: false,
      agent: false,
      headers: [
        'Host',
        u.host,
        'Connection',
        'Upgrade',
        'Upgrade',
        'websocket',
        'Sec-WebSocket-Version',
        '13',
        'Sec-WebSocket-Key',
        key,
        ...extraHeaders,
      ],
    });
    req.setTimeout(10_000, () => req.destroy(new Error('no handshake answer within 10 s')));
    req.on('error', reject);
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () =>
        resolve({ upgraded: false, status: res.statusCode ?? 0, headers: res.headers, body }),
      );
    });
    req.on('upgrade', (res, socket: Socket, head: Buffer) => {
      req.setTimeout(0);
      socket.setTimeout(0);
      const expected = createHash('sha1')
        .update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`)
        .digest('base64');
      if (res.headers['sec-websocket-accept'] !== expected) {
        socket.destroy();
        reject(new Error('bad Sec-WebSocket-Accept'));
        return;
      }
      resolve({ upgraded: true, ws: wsConnection(socket, head, res.headers) });
    });
    req.end();
  });
}

function wsConnection(socket: Socket, head: Buffer, headers: http.IncomingHttpHeaders): WsConnection {
  let buffered = head;
  const messages: string[] = [];
  const waiting: ((m: string | Error) => void)[] = [];
  let ended: Error | undefined;
  const deliver = (m: string | Error) => {
    const w = waiting.shift();
    if (w) w(m);
    else if (typeof m === 'string') messages.push(m);
  };
  const drain = () => {
    for (;;) {
      if (buffered.length < 2) return;
      const opcode = buffered[0]! & 0x0f;
      let length = buffered[1]! & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (buffered.length < 4) return;
        length = buffered.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (buffered.length < 10) return;
        length = Number(buffered.readBigUInt64BE(2));
        offset = 10;
      }
      if (buffered.length < offset + length) return;
      const payload = buffered.subarray(offset, offset + length);
      buffered = buffered.subarray(offset + length);
      if (opcode === 0x1) deliver(payload.toString('utf8'));
    }
  };
  socket.on('data', (c: Buffer) => {
    buffered = Buffer.concat([buffered, c]);
    drain();
  });
  const fail = (err: Error) => {
    ended ??= err;
    for (const w of waiting.splice(0)) w(ended);
  };
  socket.on('close', () => fail(new Error('WebSocket closed')));
  socket.on('error', fail);
  drain();
  return {
    headers,
    send(text) {
      // Client frames must be masked (§5.3).
      const payload = Buffer.from(text, 'utf8');
      const mask = randomBytes(4);
      const len = payload.length;
      const header =
        len < 126 ? Buffer.from([0x81, 0x80 | len]) : Buffer.from([0x81, 0x80 | 126, len >> 8, len & 255]);
      const masked = Buffer.alloc(len);
      for (let i = 0; i < len; i++) masked[i] = payload[i]! ^ mask[i % 4]!;
      socket.write(Buffer.concat([header, mask, masked]));
    },
    next(timeoutMs = 5_000) {
      const ready = messages.shift();
      if (ready !== undefined) return Promise.resolve(ready);
      if (ended) return Promise.reject(ended);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          const i = waiting.indexOf(done);
          if (i !== -1) waiting.splice(i, 1);
          reject(new Error(`no WebSocket message within ${timeoutMs} ms`));
        }, timeoutMs);
        const done = (m: string | Error) => {
          clearTimeout(timer);
          if (typeof m === 'string') resolve(m);
          else reject(m);
        };
        waiting.push(done);
      });
    },
    close() {
      socket.destroy();
    },
  };
}
