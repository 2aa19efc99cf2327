// Phase "ws" of `npm run bench` (issue 14, goal 5): WebSocket messages per second through Portcullis versus
// straight to the sample app's echo (/ws), with a fixed number of connections, each in a closed loop (send a
// message, wait for its echo, send the next). Started by bench/run.sh with the servers it runs:
//
//   BENCH_OUT=out.json node bench/ws.ts --direct ws://127.0.0.1:APP/ws --proxied ws://127.0.0.1:GW/ws \
//     (cookie in BENCH_COOKIE, or --cookie) [--pid app=PID --pid portcullis=PID] [--connections 64] [--size 128]
//     [--duration 10] [--warmup 2] [--rounds 3]
//
// Prints markdown; writes JSON to BENCH_OUT. The client is a minimal RFC 6455 client on node:net: it sends
// one pre-masked frame over and over (the server unmasks it all the same) and parses the echo frames.
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    direct: { type: 'string' },
    proxied: { type: 'string' },
    cookie: { type: 'string', default: process.env.BENCH_COOKIE ?? '' },
    pid: { type: 'string', multiple: true, default: [] },
    connections: { type: 'string', default: '64' },
    size: { type: 'string', default: '128' },
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '3' },
  },
});
if (!values.direct || !values.proxied) {
  process.stderr.write('usage: ws.ts --direct WS_URL --proxied WS_URL --cookie COOKIE [--pid name=PID]...\n');
  process.exit(2);
}
const CONNECTIONS = Number(values.connections);
const SIZE = Number(values.size);
const DURATION = Number(values.duration);
const WARMUP = Number(values.warmup);
const ROUNDS = Number(values.rounds);
const PIDS = Object.fromEntries(values.pid.map((p) => p.split('=') as [string, string]));
const CLK_TCK = 100; // Linux USER_HZ; /proc/<pid>/stat counts in these
const GOAL = 0.8;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function cpuTicks(pid: string): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
}

/** A masked client frame (RFC 6455 §5.2): FIN, opcode, mask bit, length, mask key, masked payload. */
function clientFrame(opcode: number, payload: Buffer): Buffer {
  const len = payload.length;
  const head = len < 126 ? 2 : len < 65536 ? 4 : 10;
  const frame = Buffer.alloc(head + 4 + len);
  frame[0] = 0x80 | opcode;
  if (len < 126) frame[1] = 0x80 | len;
  else if (len < 65536) {
    frame[1] = 0x80 | 126;
    frame.writeUInt16BE(len, 2);
  } else {
    frame[1] = 0x80 | 127;
    frame.writeBigUInt64BE(BigInt(len), 2);
  }
  const mask = randomBytes(4);
  mask.copy(frame, head);
  for (let i = 0; i < len; i++) frame[head + 4 + i] = payload[i]! ^ mask[i % 4]!;
  return frame;
}

/** Length of the first complete server frame in buf and its payload offset, or undefined. */
function frameAt(buf: Buffer, at: number): { end: number; payload: number } | undefined {
  if (buf.length - at < 2) return undefined;
  let len = buf[at + 1]! & 0x7f;
  let off = at + 2;
  if (len === 126) {
    if (buf.length - at < 4) return undefined;
    len = buf.readUInt16BE(at + 2);
    off = at + 4;
  } else if (len === 127) {
    if (buf.length - at < 10) return undefined;
    len = Number(buf.readBigUInt64BE(at + 2));
    off = at + 10;
  }
  return buf.length >= off + len ? { end: off + len, payload: off } : undefined;
}

interface Conn {
  socket: net.Socket;
  rest: Buffer;
}

/** Opens one WebSocket: the upgrade request, then a 101 with the right Sec-WebSocket-Accept. */
function open(url: URL, cookie: string): Promise<Conn> {
  return new Promise((resolve, reject) => {
    const key = randomBytes(16).toString('base64');
    const socket = net.connect(Number(url.port), url.hostname);
    socket.setNoDelay(true);
    let buf = Buffer.alloc(0);
    const fail = (err: Error) => {
      socket.destroy();
      reject(err);
    };
    socket.once('error', fail);
    socket.on('connect', () =>
      socket.write(
        `GET ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n${cookie ? `Cookie: ${cookie}\r\n` : ''}\r\n`,
      ),
    );
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onData);
      socket.off('error', fail);
      const head = buf.subarray(0, end).toString('latin1');
      const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
      if (!/^HTTP\/1\.1 101 /.test(head)) return fail(new Error(`${url.href}: ${head.split('\r\n')[0]}`));
      if (!head.toLowerCase().includes(`sec-websocket-accept: ${accept.toLowerCase()}`))
        return fail(new Error(`${url.href}: wrong Sec-WebSocket-Accept`));
      resolve({ socket, rest: buf.subarray(end + 4) });
    };
    socket.on('data', onData);
  });
}

/** One request/answer on a fresh connection (the checks). */
async function roundTrip(url: URL, cookie: string, text: string): Promise<string> {
  const c = await open(url, cookie);
  let buf = c.rest;
  c.socket.write(clientFrame(0x1, Buffer.from(text)));
  return new Promise((resolve, reject) => {
    const onData = (chunk?: Buffer) => {
      if (chunk) buf = Buffer.concat([buf, chunk]);
      const f = frameAt(buf, 0);
      if (!f) return;
      c.socket.destroy();
      resolve(buf.subarray(f.payload, f.end).toString('utf8'));
    };
    c.socket.on('data', onData);
    c.socket.on('error', reject);
    onData();
  });
}

interface Sample {
  mode: string;
  round: number;
  messages: number;
  seconds: number;
  msgsPerSec: number;
  /** Server CPU per message, µs, by process. */
  cpuUsPerMsg: Record<string, number>;
  clientCpuPct: number;
}

async function measure(mode: 'direct' | 'proxied', round: number): Promise<Sample> {
  const url = new URL(mode === 'direct' ? values.direct! : values.proxied!);
  const cookie = mode === 'proxied' ? values.cookie : '';
  const payload = randomBytes(SIZE);
  const frame = clientFrame(0x2, payload);
  const conns = await Promise.all(Array.from({ length: CONNECTIONS }, () => open(url, cookie)));
  let count = 0;
  let running = true;
  let failure: Error | undefined;
  for (const c of conns) {
    let buf = c.rest;
    let first = true;
    c.socket.on('data', (chunk: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      let at = 0;
      for (let f = frameAt(buf, at); f; f = frameAt(buf, at)) {
        if (first && !buf.subarray(f.payload, f.end).equals(payload)) failure ??= new Error('echo differs');
        first = false;
        at = f.end;
        count++;
        if (running) c.socket.write(frame);
      }
      buf = at === buf.length ? Buffer.alloc(0) : buf.subarray(at);
    });
    c.socket.on('error', (err) => {
      if (running) failure ??= err;
    });
    c.socket.on('close', () => {
      if (running) failure ??= new Error(`${mode}: a connection closed mid-run`);
    });
    c.socket.write(frame);
  }
  await sleep(WARMUP * 1000);
  const t0 = process.hrtime.bigint();
  const c0 = count;
  const cpu0 = Object.fromEntries(Object.entries(PIDS).map(([n, p]) => [n, cpuTicks(p)]));
  const u0 = process.cpuUsage();
  await sleep(DURATION * 1000);
  const c1 = count;
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const u1 = process.cpuUsage(u0);
  const cpu1 = Object.fromEntries(Object.entries(PIDS).map(([n, p]) => [n, cpuTicks(p)]));
  running = false;
  for (const c of conns) c.socket.destroy();
  if (failure) throw failure;
  const messages = c1 - c0;
  const cpuUsPerMsg: Record<string, number> = {};
  for (const n of Object.keys(PIDS))
    if (mode === 'proxied' || n !== 'portcullis')
      cpuUsPerMsg[n] = (((cpu1[n]! - cpu0[n]!) / CLK_TCK) * 1e6) / Math.max(messages, 1);
  await sleep(500);
  return {
    mode,
    round,
    messages,
    seconds,
    msgsPerSec: messages / seconds,
    cpuUsPerMsg,
    clientCpuPct: ((u1.user + u1.system) / 1e6 / seconds) * 100,
  };
}

// --- checks: the echo works both ways; through Portcullis the app sees alice and no one gets in without the cookie
const direct = new URL(values.direct);
const proxied = new URL(values.proxied);
if ((await roundTrip(direct, '', 'hello')) !== 'hello') throw new Error('direct: no echo');
const seen = JSON.parse(await roundTrip(proxied, values.cookie, '__headers__')) as Record<string, string>;
if (seen['x-forwarded-user'] !== 'alice')
  throw new Error(`proxied: the app saw X-Forwarded-User ${seen['x-forwarded-user']}, not alice`);
const refused = await open(proxied, '').then(
  (c) => {
    c.socket.destroy();
    return false;
  },
  () => true,
);
if (!refused) throw new Error('proxied: the upgrade succeeded without the session cookie');
process.stderr.write(
  'ws: checked: echo direct; through Portcullis the app sees alice; no cookie, no upgrade\n',
);

const samples: Sample[] = [];
for (let round = 1; round <= ROUNDS; round++) {
  for (const mode of ['direct', 'proxied'] as const) {
    const s = await measure(mode, round);
    process.stderr.write(`ws: round ${round} ${mode}: ${Math.round(s.msgsPerSec)} msg/s\n`);
    samples.push(s);
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
const of = (mode: string) => samples.filter((s) => s.mode === mode);
const summary = (mode: string) => {
  const s = of(mode);
  const cpu: Record<string, number> = {};
  for (const n of Object.keys(s[0]!.cpuUsPerMsg)) cpu[n] = median(s.map((x) => x.cpuUsPerMsg[n]!));
  return {
    msgsPerSec: median(s.map((x) => x.msgsPerSec)),
    min: Math.min(...s.map((x) => x.msgsPerSec)),
    max: Math.max(...s.map((x) => x.msgsPerSec)),
    cpuUsPerMsg: cpu,
    clientCpuPct: median(s.map((x) => x.clientCpuPct)),
  };
};
const d = summary('direct');
const p = summary('proxied');
const ratio = p.msgsPerSec / d.msgsPerSec;
const pass = ratio >= GOAL;
const int = (n: number) => Math.round(n).toLocaleString('en-US');
const cpuText = (c: Record<string, number>) =>
  Object.entries(c)
    .map(([n, v]) => `${n} ${v.toFixed(1)}`)
    .join(', ');
const text = `WebSocket messages/s through Portcullis ${int(p.msgsPerSec)} vs direct ${int(d.msgsPerSec)}: ${ratio.toFixed(2)}x (goal >= ${GOAL}x): ${pass ? 'PASS' : 'MISS'}`;
const md = [
  `### WebSocket echo (${CONNECTIONS} connections, ${SIZE}-byte binary messages, closed loop, ${DURATION} s x ${ROUNDS} rounds, median)`,
  '',
  '| path | msg/s | range | server CPU us/msg | client CPU % |',
  '|---|---:|---:|---|---:|',
  `| direct to the app | ${int(d.msgsPerSec)} | ${int(d.min)}-${int(d.max)} | ${cpuText(d.cpuUsPerMsg)} | ${d.clientCpuPct.toFixed(0)} |`,
  `| through Portcullis | ${int(p.msgsPerSec)} | ${int(p.min)}-${int(p.max)} | ${cpuText(p.cpuUsPerMsg)} | ${p.clientCpuPct.toFixed(0)} |`,
  '',
  `- ${text}`,
  '- A message is one round trip: the client sends it, the app echoes it (through Portcullis: relayed both ways).',
  '',
].join('\n');
process.stdout.write(md);
if (process.env.BENCH_OUT)
  writeFileSync(
    process.env.BENCH_OUT,
    `${JSON.stringify(
      {
        phase: 'ws',
        connections: CONNECTIONS,
        size: SIZE,
        duration: DURATION,
        rounds: ROUNDS,
        direct: d,
        proxied: p,
        ratio,
        samples,
        summary: [{ goal: 5, text, pass }],
      },
      null,
      2,
    )}\n`,
  );
