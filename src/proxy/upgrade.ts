/**
 * WebSocket (and other HTTP/1.1 Upgrade) tunnelling: the handshake is forwarded with the same header
 * rules as any request, then the two sockets are joined by relay() until both are closed.
 */
import https from 'node:https';
import type { Duplex } from 'node:stream';
import { relay } from './relay.ts';

// node:http through getBuiltinModule, not an ES import: an ES import of a built-in reads all its exports,
// and node:http's WebSocket getter loads Node's bundled undici (fetch; 745 KB of source) into every idle
// process, ~2 MB of RSS (bench/results/2026-12-05-memory.md, stop 10; test/cli/serve-modules.test.ts).
const nodeHttp = process.getBuiltinModule('node:http');

export interface TunnelTarget {
  readonly origin: URL;
  readonly path: string;
  readonly timeoutMs: number;
}

function writeHead(socket: Duplex, status: number, message: string, rawHeaders: readonly string[]): void {
  let head = `HTTP/1.1 ${status} ${message}\r\n`;
  for (let i = 0; i < rawHeaders.length; i += 2) head += `${rawHeaders[i]}: ${rawHeaders[i + 1]}\r\n`;
  socket.write(`${head}\r\n`);
}

/** Ends a client socket that asked for an upgrade with a plain HTTP response. */
export function refuseUpgrade(
  socket: Duplex,
  status: number,
  message: string,
  body: string,
  extra: string[] = [],
): void {
  if (socket.destroyed) return;
  writeHead(socket, status, message, [
    'Content-Type',
    'application/json',
    'Content-Length',
    String(Buffer.byteLength(body)),
    'Connection',
    'close',
    ...extra,
  ]);
  socket.end(body);
}

/**
 * Opens the upstream handshake; resolves once the tunnel is established or the attempt failed.
 * `headers` is the flat list built by upstreamHeaders (without hop-by-hop ones); Upgrade is restored here.
 */
export function tunnel(
  target: TunnelTarget,
  method: string,
  headers: string[],
  upgrade: string,
  client: Duplex,
  clientHead: Buffer,
): Promise<'ok' | 'failed'> {
  return new Promise((resolve) => {
    const lib = target.origin.protocol === 'https:' ? https : nodeHttp;
    const req = lib.request({
      host: target.origin.hostname,
      port: target.origin.port || (target.origin.protocol === 'https:' ? 443 : 80),
      method,
      path: target.path,
      headers: [...headers, 'connection', 'upgrade', 'upgrade', upgrade],
      timeout: target.timeoutMs,
      setHost: false,
    });
    const fail = () => {
      refuseUpgrade(client, 502, 'Bad Gateway', '{"error":"PCL_UPSTREAM_UNAVAILABLE"}');
      resolve('failed');
    };
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', fail);
    req.on('response', (res) => {
      // The upstream refused to switch protocols: relay its answer. Node has already decoded the body's
      // framing, so the framing headers are dropped and the body is delimited by closing the connection.
      const relayed: string[] = [];
      for (let i = 0; i < res.rawHeaders.length; i += 2) {
        const name = res.rawHeaders[i]!.toLowerCase();
        if (name === 'transfer-encoding' || name === 'content-length' || name === 'connection') continue;
        relayed.push(res.rawHeaders[i]!, res.rawHeaders[i + 1]!);
      }
      writeHead(client, res.statusCode ?? 502, res.statusMessage ?? '', [...relayed, 'Connection', 'close']);
      res.pipe(client);
      resolve('failed');
    });
    req.on('upgrade', (res, upstream, upstreamHead) => {
      client.off('close', abandon);
      writeHead(client, 101, 'Switching Protocols', res.rawHeaders);
      if (upstreamHead.length > 0) client.write(upstreamHead);
      if (clientHead.length > 0) upstream.write(clientHead);
      relay(client, upstream);
      resolve('ok');
    });
    // The client gave up during the handshake.
    const abandon = () => req.destroy();
    client.on('close', abandon);
    req.end();
  });
}
