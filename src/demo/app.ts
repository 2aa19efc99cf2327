// The sample upstream app behind Portcullis in the demo, and the upstream in proxy tests:
//   GET /…          HTML page showing the identity the gateway forwarded
//   GET /api/…      (or Accept preferring JSON) JSON echo of method, path and every request header
//   POST /echo      streams the request body back unchanged
//   GET /slow?ms=N  answers after N ms
//   /ws             WebSocket echo (RFC 6455, single-frame messages); the text "__headers__" answers
//                   with the upgrade request's headers as JSON
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createRemoteJWKSet, type JWTVerifyGetKey, jwtVerify } from 'jose';
import { html } from '../http/html.ts';

/**
 * How the app checks X-Portcullis-Assertion, as an upstream should (docs/assertion.md): the signature
 * against Portcullis's key set, `iss` (the origin of publicUrl) and `aud` (this app's origin).
 */
export interface AssertionCheck {
  readonly jwksUrl: string;
  readonly issuer: string;
  /** Default this app's own origin, which is the upstream's default assertion audience. */
  readonly audience?: string;
}

export interface SampleApp {
  url: string;
  port: number;
  close(): Promise<void>;
}

export async function startSampleApp(
  opts: { host?: string; port?: number; assertion?: AssertionCheck } = {},
): Promise<SampleApp> {
  const sockets = new Set<Duplex>();
  // Set once listening: the default audience is the app's own origin.
  let verifier: Verifier | undefined;
  const server = http.createServer({ keepAliveTimeout: 120_000 }, (req, res) => {
    handle(req, res, verifier).catch(() => {
      if (!res.headersSent) res.writeHead(500).end();
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 120_000;
  server.headersTimeout = 125_000;
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    upgrade(req, socket, head);
  });

  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const urlHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  const check = opts.assertion;
  if (check !== undefined) {
    verifier = {
      ...check,
      audience: check.audience ?? `http://${urlHost}:${port}`,
      keys: createRemoteJWKSet(new URL(check.jwksUrl)),
    };
  }
  return {
    url: `http://${urlHost}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
        for (const socket of sockets) socket.destroy();
      }),
  };
}

type Verifier = AssertionCheck & { readonly audience: string; readonly keys: JWTVerifyGetKey };

/** What the identity page says of the assertion: verified (by whom, for whom) or why not. */
async function verifyAssertion(req: http.IncomingMessage, v: Verifier | undefined): Promise<string> {
  const token = req.headers['x-portcullis-assertion'];
  if (v === undefined) return 'not checked by this app';
  if (typeof token !== 'string') return 'not verified: no assertion was sent';
  try {
    const { payload, protectedHeader } = await jwtVerify(token, v.keys, {
      issuer: v.issuer,
      audience: v.audience,
    });
    return `assertion verified: signature by key ${protectedHeader.kid ?? '?'} from ${v.jwksUrl}, iss ${v.issuer}, aud ${v.audience}, sub ${String(payload.sub)}`;
  } catch (err) {
    return `not verified: ${(err as Error).message}`;
  }
}

async function handle(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  verifier: Verifier | undefined,
): Promise<void> {
  const target = req.url ?? '/';
  const { pathname, searchParams } = new URL(target, 'http://sample.invalid');

  if (pathname === '/echo' && req.method === 'POST') {
    const headers: http.OutgoingHttpHeaders = {
      'content-type': req.headers['content-type'] ?? 'application/octet-stream',
    };
    if (req.headers['content-length'] !== undefined)
      headers['content-length'] = req.headers['content-length'];
    res.writeHead(200, headers);
    res.flushHeaders();
    await pipeline(req, res);
    return;
  }

  if (pathname === '/slow') {
    const ms = Math.min(Math.max(Number(searchParams.get('ms')) || 0, 0), 600_000);
    const timer = setTimeout(() => sendJson(res, 200, { slept: ms }), ms);
    res.on('close', () => clearTimeout(timer));
    req.resume();
    return;
  }

  req.resume();
  if (pathname.startsWith('/api/') || prefersJson(req.headers.accept)) {
    // The raw request-target (with query) and every header as received: proxy tests inspect these.
    const rawHeaders: [string, string][] = [];
    for (let i = 0; i < req.rawHeaders.length; i += 2)
      rawHeaders.push([req.rawHeaders[i]!, req.rawHeaders[i + 1]!]);
    sendJson(res, 200, { method: req.method, path: target, headers: req.headers, rawHeaders });
    return;
  }

  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(identityPage(req, target, await verifyAssertion(req, verifier)));
}

function sendJson(res: http.ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** True when the Accept header ranks a JSON type above HTML (an absent type ranks 0). */
function prefersJson(accept: string | undefined): boolean {
  if (!accept) return false;
  let json = 0;
  let html = 0;
  for (const part of accept.split(',')) {
    const [type = '', ...params] = part.trim().toLowerCase().split(';');
    const qParam = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    const q = qParam ? Number(qParam.slice(2)) || 0 : 1;
    if (type === 'application/json' || type.endsWith('+json')) json = Math.max(json, q);
    else if (type === 'text/html') html = Math.max(html, q);
  }
  return json > html;
}

function identityPage(req: http.IncomingMessage, target: string, assertion: string): string {
  const header = (name: string) => {
    const value = req.headers[name];
    return Array.isArray(value) ? value.join(', ') : value;
  };
  const presence = (name: string) => {
    const value = header(name);
    return value === undefined ? 'absent' : `present (${value.length} chars)`;
  };
  const rows: [string, string][] = [
    ['User (X-Forwarded-User)', header('x-forwarded-user') ?? '—'],
    ['Provider (X-Forwarded-Provider)', header('x-forwarded-provider') ?? '—'],
    ['Email (X-Forwarded-Email)', header('x-forwarded-email') ?? '—'],
    ['Username (X-Forwarded-Preferred-Username)', header('x-forwarded-preferred-username') ?? '—'],
    ['Groups (X-Forwarded-Groups)', header('x-forwarded-groups') ?? '—'],
    ['Authorization', presence('authorization')],
    ['X-Portcullis-Assertion', presence('x-portcullis-assertion')],
    ['Assertion check', assertion],
    ['Request', `${req.method ?? ''} ${target}`],
  ];
  return html`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sample app behind Portcullis</title>
<style>body{font-family:system-ui,sans-serif;margin:0;padding:2rem 1rem;background:#f4f5f7;color:#1d2330}
main{max-width:48rem;margin:0 auto;background:#fff;border-radius:12px;box-shadow:0 2px 12px rgb(0 0 0 / 8%);padding:1.5rem 2rem}
h1{font-size:1.5rem;margin:0 0 .5rem}
table{border-collapse:collapse;width:100%}th,td{text-align:left;vertical-align:top;padding:.45rem .6rem;border-bottom:1px solid #e4e4e7}
th{width:46%;font-weight:600}td{word-break:break-word}</style></head>
<body><main><h1>Sample app behind Portcullis</h1>
<p>This page shows the identity the gateway forwarded with your request.</p>
<table>${rows.map(([k, v]) => html`<tr><th>${k}</th><td>${v}</td></tr>`)}</table>
<form method="post" action="/oauth2/sign_out"><p><button type="submit">Sign out</button></p></form></main>
</body></html>`.toString();
}

// --- WebSocket (RFC 6455) ---------------------------------------------------------------------------------

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

function upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
  const key = req.headers['sec-websocket-key'];
  const pathname = new URL(req.url ?? '/', 'http://sample.invalid').pathname;
  if (pathname !== '/ws' || req.headers.upgrade?.toLowerCase() !== 'websocket' || typeof key !== 'string') {
    socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    return;
  }
  const accept = createHash('sha1')
    .update(key + WS_GUID)
    .digest('base64');
  // A client that offers subprotocols fails the connection unless one is selected (§4.2.2): take the first.
  const protocol = req.headers['sec-websocket-protocol']?.split(',')[0]?.trim();
  socket.write(
    'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      `Sec-WebSocket-Accept: ${accept}\r\n${protocol ? `Sec-WebSocket-Protocol: ${protocol}\r\n` : ''}\r\n`,
  );

  let buffered = head;
  const onData = (chunk: Buffer) => {
    buffered = buffered.length ? Buffer.concat([buffered, chunk]) : chunk;
    for (;;) {
      const frame = readFrame(buffered);
      if (!frame) return;
      buffered = buffered.subarray(frame.length);
      if (frame.opcode === 0x1 || frame.opcode === 0x2) {
        const text = frame.opcode === 0x1 ? frame.payload.toString('utf8') : undefined;
        const reply = text === '__headers__' ? Buffer.from(JSON.stringify(req.headers)) : frame.payload;
        socket.write(encodeFrame(frame.opcode, reply));
      } else if (frame.opcode === 0x8) {
        // Echo the status code back and close (§5.5.1).
        socket.end(encodeFrame(0x8, frame.payload.subarray(0, 2)));
        socket.off('data', onData);
        return;
      } else if (frame.opcode === 0x9) {
        socket.write(encodeFrame(0xa, frame.payload));
      }
    }
  };
  socket.on('data', onData);
  // http.Server sockets allow half-open connections: end ours when the client ends without a close frame.
  socket.on('end', () => socket.end());
  if (head.length) onData(Buffer.alloc(0));
}

/** One complete client frame from the start of `buf` (unmasked), or undefined if more bytes are needed. */
function readFrame(buf: Buffer): { opcode: number; payload: Buffer; length: number } | undefined {
  if (buf.length < 2) return undefined;
  const opcode = buf[0]! & 0x0f;
  const masked = (buf[1]! & 0x80) !== 0;
  let length = buf[1]! & 0x7f;
  let offset = 2;
  if (length === 126) {
    if (buf.length < 4) return undefined;
    length = buf.readUInt16BE(2);
    offset = 4;
  } else if (length === 127) {
    if (buf.length < 10) return undefined;
    length = Number(buf.readBigUInt64BE(2));
    offset = 10;
  }
  const maskOffset = offset;
  if (masked) offset += 4;
  if (buf.length < offset + length) return undefined;
  const payload = Buffer.from(buf.subarray(offset, offset + length));
  if (masked) for (let i = 0; i < payload.length; i++) payload[i] = payload[i]! ^ buf[maskOffset + (i % 4)]!;
  return { opcode, payload, length: offset + length };
}

/** A final, unmasked server frame (servers must not mask, §5.1). */
function encodeFrame(opcode: number, payload: Buffer): Buffer {
  const { length } = payload;
  const header = length < 126 ? Buffer.alloc(2) : length < 65536 ? Buffer.alloc(4) : Buffer.alloc(10);
  header[0] = 0x80 | opcode;
  if (length < 126) header[1] = length;
  else if (length < 65536) {
    header[1] = 126;
    header.writeUInt16BE(length, 2);
  } else {
    header[1] = 127;
    header.writeBigUInt64BE(BigInt(length), 2);
  }
  return Buffer.concat([header, payload]);
}
