// One request like wrk's (HTTP/1.1 keep-alive, the given headers), for bench/run.sh's checks. Prints
// "<status> <bytes>" where bytes is the whole response as received on the wire (status line, headers,
// chunk framing, body): what wrk counts, so the run can check that every response was this one.
// Usage: node bench/probe.ts URL BODY_FILE ['Name: value' ...]
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import type { Socket } from 'node:net';

const [url, bodyFile, ...headerArgs] = process.argv.slice(2);
if (!url || !bodyFile) {
  process.stderr.write("usage: probe.ts URL BODY_FILE ['Name: value' ...]\n");
  process.exit(2);
}
const headers: Record<string, string> = {};
for (const h of headerArgs) {
  const i = h.indexOf(':');
  if (i > 0) headers[h.slice(0, i).trim()] = h.slice(i + 1).trim();
}
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
let socket: Socket | undefined;
const req = http.get(url, { agent, headers }, (res) => {
  const chunks: Buffer[] = [];
  res.on('data', (c: Buffer) => chunks.push(c));
  res.on('end', () => {
    writeFileSync(bodyFile, Buffer.concat(chunks));
    process.stdout.write(`${res.statusCode ?? 0} ${socket?.bytesRead ?? 0}\n`);
    agent.destroy();
  });
});
req.on('socket', (s) => {
  socket = s;
});
req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
req.on('error', (err) => {
  process.stderr.write(`probe ${url}: ${err.message}\n`);
  process.stdout.write('000 0\n');
});
