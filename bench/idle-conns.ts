// Phase "idle-conns" of `npm run bench` (issue 14, goal 5): memory per idle keep-alive connection. For each
// target, opens COUNT connections, sends one GET on each (with the session cookie), reads the whole answer
// and leaves the connection open and idle; the server's RSS before and after, divided by COUNT, is the cost
// of one idle keep-alive connection. Started by bench/run.sh with the servers it runs:
//
//   BENCH_OUT=out.json node bench/idle-conns.ts --target portcullis=http://127.0.0.1:GW/=PID \
//     [--target nginx=http://127.0.0.1:NGX/=PID] (cookie in BENCH_COOKIE, or --cookie) [--count 10000]
//
// Prints markdown; writes JSON to BENCH_OUT. Needs an open-file limit above COUNT (run.sh raises it) in
// this process and in each server.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    target: { type: 'string', multiple: true, default: [] },
    cookie: { type: 'string', default: process.env.BENCH_COOKIE ?? '' },
    count: { type: 'string', default: '10000' },
    concurrency: { type: 'string', default: '200' },
  },
});
if (values.target.length === 0) {
  process.stderr.write('usage: idle-conns.ts --target name=URL=PID... --cookie COOKIE [--count N]\n');
  process.exit(2);
}
const COUNT = Number(values.count);
const CONCURRENCY = Number(values.concurrency);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Connections of the current target that the server closed while they were meant to be idle. */
let closedEarly = 0;

/** Resident set of a process and its children (nginx runs as one process here), kB. */
function rssKb(pid: string): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]);
}
const fds = (pid: string) => readdirSync(`/proc/${pid}/fd`).length;
/** The median of three readings 300 ms apart: one reading can land on a GC. */
async function steadyRss(pid: string): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < 3; i++) {
    xs.push(rssKb(pid));
    await sleep(300);
  }
  return xs.sort((a, b) => a - b)[1]!;
}

/** One keep-alive GET on a new connection; resolves once the whole answer is read, leaving it open. */
function openIdle(url: URL, cookie: string, sockets: net.Socket[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(url.port), url.hostname);
    sockets.push(socket);
    let buf = Buffer.alloc(0);
    socket.once('error', reject);
    socket.on('connect', () =>
      socket.write(
        `GET ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\n${cookie ? `Cookie: ${cookie}\r\n` : ''}\r\n`,
      ),
    );
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buf.subarray(0, end).toString('latin1');
      const status = Number(head.slice(9, 12));
      const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
      const body = buf.length - end - 4;
      const done = length
        ? body >= Number(length[1])
        : /\r\ntransfer-encoding:\s*chunked/i.test(head)
          ? buf.subarray(buf.length - 5).toString('latin1') === '0\r\n\r\n'
          : false;
      if (!done) return;
      socket.off('data', onData);
      socket.off('error', reject);
      socket.on('error', () => {});
      resolve(status);
    };
    socket.on('data', onData);
  });
}

interface Result {
  target: string;
  count: number;
  statuses: Record<string, number>;
  rssBeforeKb: number;
  rssOpenKb: number;
  rssAfterCloseKb: number;
  fdsBefore: number;
  fdsOpen: number;
  closedEarly: number;
  perConnKb: number;
}

async function measure(name: string, url: URL, pid: string): Promise<Result> {
  await sleep(1000);
  const rssBeforeKb = await steadyRss(pid);
  const fdsBefore = fds(pid);
  const sockets: net.Socket[] = [];
  const statuses: Record<string, number> = {};
  let next = 0;
  const worker = async () => {
    while (next < COUNT) {
      next++;
      const status = await openIdle(url, values.cookie, sockets);
      statuses[status] = (statuses[status] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  closedEarly = 0;
  for (const s of sockets) s.on('close', () => closedEarly++);
  await sleep(2000);
  const rssOpenKb = await steadyRss(pid);
  const fdsOpen = fds(pid);
  const early = closedEarly;
  for (const s of sockets) s.destroy();
  await sleep(2000);
  const rssAfterCloseKb = await steadyRss(pid);
  const r = {
    target: name,
    count: COUNT,
    statuses,
    rssBeforeKb,
    rssOpenKb,
    rssAfterCloseKb,
    fdsBefore,
    fdsOpen,
    closedEarly: early,
    perConnKb: (rssOpenKb - rssBeforeKb) / COUNT,
  };
  process.stderr.write(
    `idle-conns: ${name}: ${COUNT} open, fds ${fdsBefore} -> ${fdsOpen}, RSS ${rssBeforeKb} -> ${rssOpenKb} kB\n`,
  );
  return r;
}

const results: Result[] = [];
for (const t of values.target) {
  const [name, rest] = [t.slice(0, t.indexOf('=')), t.slice(t.indexOf('=') + 1)];
  const pid = rest.slice(rest.lastIndexOf('=') + 1);
  results.push(await measure(name, new URL(rest.slice(0, rest.lastIndexOf('='))), pid));
}

const mb = (kb: number) => (kb / 1024).toFixed(1);
const problems = (r: Result) => {
  const p: string[] = [];
  if (Object.keys(r.statuses).some((s) => s !== '200')) p.push(`statuses ${JSON.stringify(r.statuses)}`);
  if (r.fdsOpen - r.fdsBefore < r.count * 0.99) p.push(`only ${r.fdsOpen - r.fdsBefore} more descriptors`);
  if (r.closedEarly > 0) p.push(`${r.closedEarly} closed by the server while idle`);
  return p.length === 0 ? 'ok' : p.join('; ');
};
const pc = results.find((r) => r.target === 'portcullis');
const text = pc
  ? `Memory per idle keep-alive connection (${pc.count.toLocaleString('en-US')} open): Portcullis ${pc.perConnKb.toFixed(1)} kB` +
    results
      .filter((r) => r !== pc)
      .map((r) => `, ${r.target} ${r.perConnKb.toFixed(1)} kB`)
      .join('')
  : '';
const md = [
  `### Idle keep-alive connections (${COUNT.toLocaleString('en-US')} per target, one GET each, then idle)`,
  '',
  '| target | RSS before MB | RSS with them open MB | after closing MB | per connection kB | descriptors | check |',
  '|---|---:|---:|---:|---:|---:|---|',
  ...results.map(
    (r) =>
      `| ${r.target} | ${mb(r.rssBeforeKb)} | ${mb(r.rssOpenKb)} | ${mb(r.rssAfterCloseKb)} | ${r.perConnKb.toFixed(1)} | ${r.fdsBefore} -> ${r.fdsOpen} | ${problems(r)} |`,
  ),
  '',
  ...(text ? [`- ${text}`] : []),
  '- Per connection: (RSS with them open - RSS before) / count. RSS is the median of three readings.',
  '- For Node this includes heap grown by the requests and not yet given back; "after closing" shows what stays.',
  '',
].join('\n');
process.stdout.write(md);
if (process.env.BENCH_OUT)
  writeFileSync(
    process.env.BENCH_OUT,
    `${JSON.stringify({ phase: 'idle-conns', count: COUNT, results, summary: text ? [{ goal: 5, text, pass: null }] : [] }, null, 2)}\n`,
  );
