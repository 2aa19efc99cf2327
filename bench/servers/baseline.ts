// The baseline: a minimal, competent reverse proxy without auth — node:http in front, undici Pool
// (keep-alive) behind, bodies streamed both ways with pool.stream(). What Portcullis is measured against.
// Usage: node bench/servers/baseline.ts PORT UPSTREAM_URL — prints "ready <url>".
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool } from 'undici';

const [portArg, upstreamArg] = process.argv.slice(2);
if (!portArg || !upstreamArg) {
  process.stderr.write('usage: baseline.ts PORT UPSTREAM_URL\n');
  process.exit(2);
}
const upstream = new URL(upstreamArg);

// RFC 9110 §7.6.1: connection-specific headers never cross a proxy.
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

const pool = new Pool(upstream.origin, {
  connections: 128,
  pipelining: 1,
  keepAliveTimeout: 60_000,
  headersTimeout: 30_000,
  bodyTimeout: 0,
});

function requestHeaders(req: http.IncomingMessage): string[] {
  const raw = req.rawHeaders;
  const out: string[] = [];
  let xff = '';
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower)) continue;
    if (lower === 'x-forwarded-for') {
      xff = xff === '' ? raw[i + 1]! : `${xff}, ${raw[i + 1]!}`;
      continue;
    }
    out.push(name, raw[i + 1]!);
  }
  const peer = req.socket.remoteAddress ?? '';
  out.push('x-forwarded-for', xff === '' ? peer : `${xff}, ${peer}`);
  return out;
}

function responseHeaders(headers: http.IncomingHttpHeaders): http.OutgoingHttpHeaders {
  const out: http.OutgoingHttpHeaders = {};
  for (const key in headers) if (!HOP_BY_HOP.has(key)) out[key] = headers[key];
  return out;
}

const server = http.createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
  const h = req.headers;
  const hasBody =
    h['content-length'] !== undefined ? h['content-length'] !== '0' : h['transfer-encoding'] !== undefined;
  pool
    .stream(
      {
        path: req.url ?? '/',
        method: req.method ?? 'GET',
        headers: requestHeaders(req),
        body: hasBody ? req : null,
      },
      ({ statusCode, headers }) => {
        res.writeHead(statusCode, responseHeaders(headers));
        return res;
      },
    )
    .catch(() => {
      if (res.headersSent) res.destroy();
      else res.writeHead(502, { 'content-type': 'text/plain' }).end('bad gateway\n');
    });
});

server.listen(Number(portArg), '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  process.stdout.write(`ready http://127.0.0.1:${port}\n`);
});

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    server.close();
    server.closeAllConnections();
    void pool.close().finally(() => process.exit(0));
    setTimeout(() => process.exit(0), 1000).unref();
  });
}
