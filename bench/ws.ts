// Phase "ws" of `npm run bench` (issue 14, goal 5): WebSocket messages per second through Portcullis versus
// straight to the sample app's echo (/ws), and through nginx as the peer relay (no auth: what a relay costs
// on this shape), with a fixed number of connections, each in a closed loop (send a message, wait for its
// echo, send the next). Started by bench/run.sh with the servers it runs:
//
//   BENCH_OUT=out.json node bench/ws.ts --direct ws://127.0.0.1:APP/ws --via portcullis=ws://127.0.0.1:GW/ws \
//     [--via nginx=ws://127.0.0.1:NGX/ws] (cookie in BENCH_COOKIE, or --cookie) [--pid app=PID \
//     --pid portcullis=PID --pid nginx=PID] [--connections 64] [--size 128] [--duration 10] [--warmup 2] [--rounds 3]
//
// `--proxied URL` is `--via portcullis=URL`. A via whose name starts with "portcullis" gets the cookie and the
// checks (the app sees alice; no cookie, no upgrade); the others are plain relays. The server CPU of a path
// is the app's plus its relay's (the --pid of the same name).
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
    via: { type: 'string', multiple: true, default: [] },
    cookie: { type: 'string', default: process.env.BENCH_COOKIE ?? '' },
    pid: { type: 'string', multiple: true, default: [] },
    connections: { type: 'string', default: '64' },
    size: { type: 'string', default: '128' },
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '3' },
  },
});
const VIAS = new Map<string, string>(
  values.via.map((v) => [v.slice(0, v.indexOf('=')), v.slice(v.indexOf('=') + 1)] as [string, string]),
);
if (values.proxied) VIAS.set('portcullis', values.proxied);
if (!values.direct || !VIAS.has('portcullis')) {
  process.stderr.write(
    'usage: ws.ts --direct WS_URL --via portcullis=WS_URL [--via NAME=WS_URL]... --cookie COOKIE [--pid name=PID]...\n',
  );
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
  /** "direct" or the via's name. */
  mode: string;
  round: number;
  messages: number;
  seconds: number;
  msgsPerSec: number;
  /** Server CPU per message, µs, by process. */
  cpuUsPerMsg: Record<string, number>;
  clientCpuPct: number;
}

/** The URL of a path: "direct" or a via's name. */
const urlOf = (mode: string) => new URL(mode === 'direct' ? values.direct! : VIAS.get(mode)!);
const needsCookie = (mode: string) => mode.startsWith('portcullis');

async function measure(mode: string, round: number): Promise<Sample> {
  const url = urlOf(mode);
  const cookie = needsCookie(mode) ? values.cookie : '';
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
  // The processes serving this path: the app, and the relay of the same name (if its PID was given).
  const pids = Object.entries(PIDS).filter(([n]) => n === 'app' || n === mode);
  await sleep(WARMUP * 1000);
  const t0 = process.hrtime.bigint();
  const c0 = count;
  const cpu0 = pids.map(([, p]) => cpuTicks(p));
  const u0 = process.cpuUsage();
  await sleep(DURATION * 1000);
  const c1 = count;
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const u1 = process.cpuUsage(u0);
  const cpu1 = pids.map(([, p]) => cpuTicks(p));
  running = false;
  for (const c of conns) c.socket.destroy();
  if (failure) throw failure;
  const messages = c1 - c0;
  const cpuUsPerMsg: Record<string, number> = {};
  pids.forEach(([n], i) => {
    cpuUsPerMsg[n] = (((cpu1[i]! - cpu0[i]!) / CLK_TCK) * 1e6) / Math.max(messages, 1);
  });
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

// --- checks: the echo works every way; through Portcullis the app sees alice and no one gets in without the cookie
if ((await roundTrip(urlOf('direct'), '', 'hello')) !== 'hello') throw new Error('direct: no echo');
for (const mode of VIAS.keys()) {
  const url = urlOf(mode);
  if (!needsCookie(mode)) {
    if ((await roundTrip(url, '', 'hello')) !== 'hello') throw new Error(`${mode}: no echo`);
    continue;
  }
  const seen = JSON.parse(await roundTrip(url, values.cookie, '__headers__')) as Record<string, string>;
  if (seen['x-forwarded-user'] !== 'alice')
    throw new Error(`${mode}: the app saw X-Forwarded-User ${seen['x-forwarded-user']}, not alice`);
  const refused = await open(url, '').then(
    (c) => {
      c.socket.destroy();
      return false;
    },
    () => true,
  );
  if (!refused) throw new Error(`${mode}: the upgrade succeeded without the session cookie`);
}
process.stderr.write(
  `ws: checked: echo direct and through ${[...VIAS.keys()].join(', ')}; through Portcullis the app sees alice; no cookie, no upgrade\n`,
);

const MODES = ['direct', ...VIAS.keys()];
const samples: Sample[] = [];
for (let round = 1; round <= ROUNDS; round++) {
  for (const mode of MODES) {
    const s = await measure(mode, round);
    process.stderr.write(`ws: round ${round} ${mode}: ${Math.round(s.msgsPerSec)} msg/s\n`);
    samples.push(s);
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
const summary = (mode: string) => {
  const s = samples.filter((x) => x.mode === mode);
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
const results = Object.fromEntries(MODES.map((m) => [m, summary(m)]));
const d = results['direct']!;
const p = results['portcullis']!;
const ng = results['nginx'];
const ratio = p.msgsPerSec / d.msgsPerSec;
const pass = ratio >= GOAL;
const int = (n: number) => Math.round(n).toLocaleString('en-US');
const f1 = (n: number) => n.toFixed(1);
const cpuText = (c: Record<string, number>) =>
  Object.entries(c)
    .map(([n, v]) => `${n} ${f1(v)}`)
    .join(', ');
const relayCpu = (mode: string) => results[mode]?.cpuUsPerMsg[mode];
const appCpu = d.cpuUsPerMsg['app'];
const pcCpu = relayCpu('portcullis');
const ngCpu = relayCpu('nginx');
/** Server CPU of a path per message, all its processes. */
const serverCpu = (mode: string) => Object.values(results[mode]!.cpuUsPerMsg).reduce((a, b) => a + b, 0);
/** Cores the path's server processes kept busy: ~1 when the one server CPU was saturated, as the ratio assumes. */
const busy = (mode: string) => (serverCpu(mode) * results[mode]!.msgsPerSec) / 1e6;
/**
 * The ratio this shape gives when the server core is saturated, from CPU alone: direct's CPU per message over
 * the path's. Robust on a shared machine, where msg/s follows the CPU share the servers get.
 */
const cpuBound = (mode: string) => (appCpu === undefined ? undefined : appCpu / serverCpu(mode));
const cb = (mode: string) => {
  const r = cpuBound(mode);
  return r === undefined ? '' : ` (CPU-bound estimate ${r.toFixed(2)}x)`;
};
let text = `WebSocket messages/s through Portcullis ${int(p.msgsPerSec)} vs direct ${int(d.msgsPerSec)}: ${ratio.toFixed(2)}x${cb('portcullis')} (goal >= ${GOAL}x): ${pass ? 'PASS' : 'MISS'}`;
if (ng)
  text += `; nginx ${int(ng.msgsPerSec)} = ${(ng.msgsPerSec / d.msgsPerSec).toFixed(2)}x direct${cb('nginx')}`;
if (pcCpu !== undefined && ngCpu !== undefined)
  text += `; relay CPU/msg Portcullis ${f1(pcCpu)} us vs nginx ${f1(ngCpu)} us (${(pcCpu / ngCpu).toFixed(2)}x)`;
const label = (mode: string) =>
  mode === 'direct' ? 'direct to the app' : mode === 'portcullis' ? 'through Portcullis' : `through ${mode}`;
const notes = [
  '- A message is one round trip: the client sends it, the app echoes it (through a relay: relayed both ways).',
  '- The app and every relay share one server CPU, so when it is saturated (server cores busy ≈ 1) msg/s ≈ 1e6 / (app + relay CPU µs/msg) and the ratio ≈ the CPU-bound estimate (direct app CPU/msg over app + relay). Below 1 the machine gave the servers less than their core (other work): read the estimate, not msg/s.',
];
if (appCpu !== undefined)
  notes.push(
    `- ${GOAL}x direct on this shape needs a relay costing at most ${f1(((1 - GOAL) / GOAL) * appCpu)} us/msg (a quarter of the app's ${f1(appCpu)})${ngCpu !== undefined ? `; nginx costs ${f1(ngCpu)}` : ''}${pcCpu !== undefined ? `, Portcullis ${f1(pcCpu)}` : ''}.`,
  );
const md = [
  `### WebSocket echo (${CONNECTIONS} connections, ${SIZE}-byte binary messages, closed loop, ${DURATION} s x ${ROUNDS} rounds, median)`,
  '',
  '| path | msg/s | vs direct | CPU-bound estimate | range | server CPU us/msg | server cores busy | client CPU % |',
  '|---|---:|---:|---:|---:|---|---:|---:|',
  ...MODES.map((m) => {
    const r = results[m]!;
    const est = cpuBound(m);
    return `| ${label(m)} | ${int(r.msgsPerSec)} | ${(r.msgsPerSec / d.msgsPerSec).toFixed(2)}x | ${est === undefined ? '-' : `${est.toFixed(2)}x`} | ${int(r.min)}-${int(r.max)} | ${cpuText(r.cpuUsPerMsg)} | ${busy(m).toFixed(2)} | ${r.clientCpuPct.toFixed(0)} |`;
  }),
  '',
  `- ${text}`,
  ...notes,
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
        nginx: ng ?? null,
        paths: results,
        ratio,
        nginxRatio: ng ? ng.msgsPerSec / d.msgsPerSec : null,
        cpuBound: Object.fromEntries(MODES.map((m) => [m, cpuBound(m) ?? null])),
        samples,
        summary: [{ goal: 5, text, pass }],
      },
      null,
      2,
    )}\n`,
  );
