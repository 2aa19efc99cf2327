// The Node floor of a forward-auth answer: node:http answering every request with the 202 Portcullis gives
// alice (the same X-Auth-Request-* headers, no-store, Content-Length: 0) without reading anything. What
// `/oauth2/auth` costs beyond this is Portcullis's own work. NOT an auth server: it lets everyone in.
// Usage: node bench/servers/bare-auth.ts PORT — prints "ready <url>".
import http from 'node:http';
import type { AddressInfo } from 'node:net';

const [portArg] = process.argv.slice(2);
if (!portArg) {
  process.stderr.write('usage: bare-auth.ts PORT\n');
  process.exit(2);
}
const HEADERS = [
  'X-Auth-Request-User',
  'alice',
  'X-Auth-Request-Provider',
  'dev',
  'X-Auth-Request-Email',
  'alice@example.com',
  'X-Auth-Request-Preferred-Username',
  'alice',
  'X-Auth-Request-Groups',
  'admins,engineering',
  'Cache-Control',
  'no-store',
  'Content-Length',
  '0',
];
const server = http.createServer((_req, res) => {
  res.writeHead(202, HEADERS);
  res.end();
});
server.keepAliveTimeout = 65_000;
server.listen(Number(portArg), '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  process.stdout.write(`ready http://127.0.0.1:${port}\n`);
});
