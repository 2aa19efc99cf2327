// One request exactly as wrk sends it (HTTP/1.1, `Host`, the given headers, nothing else: no Connection
// header, which would make Apache add Keep-Alive headers to its answer), for bench/run.sh's checks. Prints
// "<status> <bytes>" where bytes is the whole response as received on the wire (status line, headers,
// chunk framing, body): what wrk counts, so the run can check that every response was this one. The body
// (de-chunked) goes to BODY_FILE.
// Usage: node bench/probe.ts URL BODY_FILE ['Name: value' ...]
import { writeFileSync } from 'node:fs';
import net from 'node:net';

const [url, bodyFile, ...headerArgs] = process.argv.slice(2);
if (!url || !bodyFile) {
  process.stderr.write("usage: probe.ts URL BODY_FILE ['Name: value' ...]\n");
  process.exit(2);
}
const u = new URL(url);
const extra = headerArgs.filter((h) => h.indexOf(':') > 0).map((h) => `${h}\r\n`);

/** The body of a complete response, or undefined while bytes are missing. */
function complete(buf: Buffer, start: number, head: string): Buffer | undefined {
  const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
  if (length)
    return buf.length - start >= Number(length[1])
      ? buf.subarray(start, start + Number(length[1]))
      : undefined;
  if (!/\r\ntransfer-encoding:\s*chunked/i.test(head))
    return /^HTTP\/1\.1 (1\d\d|204|304)/.test(head) ? Buffer.alloc(0) : undefined;
  const parts: Buffer[] = [];
  let at = start;
  for (;;) {
    const eol = buf.indexOf('\r\n', at);
    if (eol < 0) return undefined;
    const size = Number.parseInt(buf.subarray(at, eol).toString('latin1'), 16);
    if (size === 0) return buf.length >= eol + 4 ? Buffer.concat(parts) : undefined;
    if (buf.length < eol + 2 + size + 2) return undefined;
    parts.push(buf.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
}

const socket = net.connect(Number(u.port || 80), u.hostname);
let buf = Buffer.alloc(0);
const fail = (message: string) => {
  process.stderr.write(`probe ${url}: ${message}\n`);
  process.stdout.write('000 0\n');
  socket.destroy();
};
socket.setTimeout(10_000, () => fail('timeout'));
socket.on('error', (err) => fail(err.message));
socket.on('connect', () =>
  socket.write(`GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\n${extra.join('')}\r\n`),
);
socket.on('data', (chunk: Buffer) => {
  buf = Buffer.concat([buf, chunk]);
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return;
  const head = buf.subarray(0, end + 2).toString('latin1');
  const body = complete(buf, end + 4, head);
  if (body === undefined) return;
  writeFileSync(bodyFile, body);
  process.stdout.write(`${head.slice(9, 12)} ${buf.length}\n`);
  socket.destroy();
});
// A body delimited by the end of the connection (neither Content-Length nor chunked).
socket.on('end', () => {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return fail('connection closed before the headers ended');
  writeFileSync(bodyFile, buf.subarray(end + 4));
  process.stdout.write(`${buf.subarray(9, 12).toString('latin1')} ${buf.length}\n`);
});
