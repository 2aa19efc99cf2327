// Memory of `portcullis serve` (issue 14, goal 4): resident set size (VmRSS) idle right after start, after
// its first 20,000 authenticated requests, under load (wrk), and per 10,000 cached sessions; next to a bare
// Node (an idle `node -e` with nothing loaded) on the same machine.
//
// The configuration is the proxy mode of bench/run.sh: one OIDC provider (the dev IdP), one upstream (the
// sample app), cookie sessions, no issuer, metrics on their own listener. Each variant is its own process:
//   dist  the installed command: bin/portcullis.js (runs dist/, built first with `npm run build` unless BUILD=0)
//   src   the checkout: node src/cli/main.ts (type stripping)
//   dist:--flag,--flag (or src:…)  the same with node flags of its own, to compare settings in one run
// Sessions: N sessions sealed with the configuration's cookie keys (copies of alice's real one, each with
// its own subject), each requested once. With cookie sessions the only per-session memory is the cookie
// store's cache of decrypted sessions (src/sessions/cookie-store.ts: up to 10,000, 15 min).
//
// Usage: node bench/memory.ts
//   VARIANTS="dist src"  REQUESTS=20000  LOAD=10s  CONNECTIONS=64  SESSIONS=10000  BUILD=1
//   NODE_FLAGS="--max-semi-space-size=2"  (passed to every Portcullis process, as NODE_OPTIONS would)
//   PROBE=1  (a data: preload answers process.memoryUsage() over the IPC channel, and runs gc() on request)
//   BENCH_OUT=path.json  (also write the figures as JSON)
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'undici';
import { loadConfig } from '../src/config/load.ts';
import { Sealer } from '../src/sessions/sealer.ts';

const REPO = resolve(import.meta.dirname, '..');
const NODE = process.execPath;
const env = process.env;
const VARIANTS = (env['VARIANTS'] ?? 'dist src').split(/\s+/).filter(Boolean);
const REQUESTS = Number(env['REQUESTS'] ?? 20_000);
const LOAD = env['LOAD'] ?? '10s';
const CONNECTIONS = Number(env['CONNECTIONS'] ?? 64);
const SESSIONS = Number(env['SESSIONS'] ?? 10_000);
const NODE_FLAGS = (env['NODE_FLAGS'] ?? '').split(/\s+/).filter(Boolean);
const PROBE = env['PROBE'] !== '0';
/** IDLE_ONLY=1: only the idle figure (a quick look while reducing). */
const IDLE_ONLY = env['IDLE_ONLY'] === '1';

const log = (m: string) => process.stderr.write(`[memory ${new Date().toISOString().slice(11, 19)}] ${m}\n`);
const mb = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;

/** VmRSS (and VmHWM, the peak) of a process, bytes, from /proc. */
function rss(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

// The debug channel: a preload (a data: URL, so the dist variant loads no TypeScript) that, on SIGUSR2, writes
// {memory, spaces} to the file MEMORY_PROBE_FILE names; when MEMORY_PROBE_FILE.gc exists it collects first
// (gc exposed at run time). A signal and a file, not an IPC channel: `serve` starts Node again in its own
// place (src/cli/node-flags.ts), which keeps the PID, the environment and the flags but not the channel.
const PROBE_SRC = `
import v8 from 'node:v8'; import vm from 'node:vm'; import fs from 'node:fs';
import { PerformanceObserver, constants } from 'node:perf_hooks';
const file = process.env.MEMORY_PROBE_FILE;
if (file) {
  const gcs = { minor: 0, minorMs: 0, major: 0, majorMs: 0 };
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const minor = e.detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR;
      gcs[minor ? 'minor' : 'major']++;
      gcs[minor ? 'minorMs' : 'majorMs'] += e.duration;
    }
  }).observe({ entryTypes: ['gc'] });
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc');
  process.on('SIGUSR2', () => {
    if (fs.existsSync(file + '.gc')) gc();
    const spaces = Object.fromEntries(v8.getHeapSpaceStatistics().map((s) => [s.space_name, s.space_size]));
    fs.writeFileSync(file + '.tmp', JSON.stringify({ memory: process.memoryUsage(), spaces, gcs }));
    fs.renameSync(file + '.tmp', file);
  });
}`;

interface Probe {
  memory: NodeJS.MemoryUsage;
  spaces: Record<string, number>;
  /** Garbage collections since start: scavenges (minor) and the others, their count and milliseconds. */
  gcs: { minor: number; minorMs: number; major: number; majorMs: number };
}

async function probe(pid: number, file: string, gc = false): Promise<Probe | undefined> {
  if (!PROBE) return undefined;
  rmSync(file, { force: true });
  if (gc) writeFileSync(`${file}.gc`, '');
  else rmSync(`${file}.gc`, { force: true });
  process.kill(pid, 'SIGUSR2');
  for (let i = 0; i < 100; i++) {
    await sleep(50);
    if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as Probe;
  }
  return undefined;
}

function freePort(): Promise<number> {
  return import('node:net').then(
    ({ createServer }) =>
      new Promise((ok) => {
        const s = createServer().listen(0, '127.0.0.1', () => {
          const port = (s.address() as { port: number }).port;
          s.close(() => ok(port));
        });
      }),
  );
}

const started: ChildProcess[] = [];
function stopAll() {
  for (const c of started) if (c.exitCode === null) c.kill('SIGTERM');
}
process.on('exit', stopAll);
process.on('SIGINT', () => process.exit(130));

/** Starts a helper server of bench/servers that prints "ready <url>". */
async function startReady(script: string, args: string[]): Promise<ChildProcess> {
  const child = spawn(NODE, [join(REPO, 'bench/servers', script), ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  started.push(child);
  await new Promise<void>((ok, fail) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d;
      if (out.includes('ready ')) ok();
    });
    child.once('exit', (code) => fail(new Error(`${script} exited (${code}) during start-up`)));
  });
  return child;
}

async function waitPing(url: string, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (child.exitCode !== null) throw new Error(`portcullis exited (${child.exitCode}) during start-up`);
    try {
      if ((await fetch(`${url}/ping`)).ok) return;
    } catch {}
    await sleep(50);
  }
  throw new Error(`${url}/ping did not answer within 30 s`);
}

/** n GET requests of `path`, `concurrency` at a time on keep-alive connections; each cookie from `cookieOf`. */
async function requests(url: string, n: number, concurrency: number, cookieOf: (i: number) => string) {
  const pool = new Pool(url, { connections: concurrency });
  let next = 0;
  let bad = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        const i = next++;
        const res = await pool.request({ path: '/', method: 'GET', headers: { cookie: cookieOf(i) } });
        await res.body.dump();
        if (res.statusCode !== 200) bad++;
      }
    }),
  );
  await pool.close();
  if (bad > 0) throw new Error(`${bad} of ${n} requests were not 200`);
}

/** CPU time of a process (user + system, all threads), seconds, from /proc/<pid>/stat. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 of stat (utime, stime), in clock ticks: 100 per second on Linux.
  return (Number(f[11]) + Number(f[12])) / 100;
}

/** wrk for `LOAD` with the cookie, sampling the server's RSS every 250 ms. */
async function load(url: string, cookie: string, pid: number) {
  const samples: number[] = [];
  const wrk = spawn('wrk', ['-t2', `-c${CONNECTIONS}`, `-d${LOAD}`, '-H', `Cookie: ${cookie}`, `${url}/`], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  started.push(wrk);
  let out = '';
  wrk.stdout!.on('data', (d: Buffer) => (out += d));
  const cpu0 = cpuSeconds(pid);
  const timer = setInterval(() => samples.push(rss(pid).rss), 250);
  await new Promise((ok) => wrk.once('exit', ok));
  clearInterval(timer);
  const cpu = cpuSeconds(pid) - cpu0;
  const reqs = Number(/([\d.]+) requests in/.exec(out)?.[1] ?? 0);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  if (non2xx > 0) throw new Error(`wrk: ${non2xx} non-2xx responses`);
  samples.sort((a, b) => a - b);
  return {
    requests: reqs,
    rps,
    cpuUsPerRequest: reqs > 0 ? (cpu * 1e6) / reqs : 0,
    max: samples.at(-1) ?? 0,
    median: samples[samples.length >> 1] ?? 0,
  };
}

interface Row {
  variant: string;
  idle: number;
  idleHeapUsed?: number | undefined;
  idleExternal?: number | undefined;
  after20k?: number;
  loadedMax?: number;
  loadedMedian?: number;
  loadRps?: number;
  cpuUsPerRequest?: number;
  afterLoad?: number;
  afterLoadSpaces?: Record<string, number> | undefined;
  /** Under load, per request: scavenges (per 1,000 requests) and the time in them and in other GCs. */
  loadGc?: { scavengesPer1000: number; scavengeUsPerRequest: number; otherGcUsPerRequest: number };
  sessions?: { count: number; rssBefore: number; rssAfter: number; heapBefore?: number; heapAfter?: number };
}

async function measure(
  variant: string,
  cfgFile: string,
  gwUrl: string,
  cookieOf: () => Promise<string>,
  sessions: () => readonly string[],
) {
  // "dist:--flag,--flag": a variant with node flags of its own (compare settings in one run).
  const [base, extra = ''] = variant.split(/:(.*)/s);
  const entry = base === 'dist' ? ['bin/portcullis.js'] : ['src/cli/main.ts'];
  const flags = [
    ...NODE_FLAGS,
    ...extra.split(',').filter(Boolean),
    ...(PROBE ? ['--import', `data:text/javascript,${encodeURIComponent(PROBE_SRC)}`] : []),
  ];
  const probeFile = join(dir, `probe-${process.hrtime.bigint()}.json`);
  const child = spawn(NODE, [...flags, ...entry, 'serve', '--config', cfgFile], {
    cwd: REPO,
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...env, MEMORY_PROBE_FILE: probeFile },
  });
  started.push(child);
  const pid = child.pid!;
  await waitPing(gwUrl, child);
  await sleep(2000);
  const idle = rss(pid).rss;
  const idleProbe = await probe(pid, probeFile);
  log(`${variant}: idle ${mb(idle)} MB`);
  if (IDLE_ONLY) {
    child.kill('SIGTERM');
    await new Promise((ok) => child.once('exit', ok));
    return {
      variant,
      idle,
      idleHeapUsed: idleProbe?.memory.heapUsed,
      idleExternal: idleProbe?.memory.external,
    };
  }
  const cookie = await cookieOf();
  await requests(gwUrl, REQUESTS, 32, () => cookie);
  await sleep(1000);
  const after20k = rss(pid).rss;
  log(`${variant}: after ${REQUESTS} requests ${mb(after20k)} MB`);
  const beforeLoadProbe = await probe(pid, probeFile);
  const l = await load(gwUrl, cookie, pid);
  await sleep(1000);
  const afterLoad = rss(pid).rss;
  const afterLoadProbe = await probe(pid, probeFile);
  log(
    `${variant}: under load max ${mb(l.max)} MB, median ${mb(l.median)} MB (${Math.round(l.rps)} req/s, ${Math.round(l.cpuUsPerRequest)} µs CPU/req)`,
  );
  const sealed = sessions();
  const before = await probe(pid, probeFile, true);
  const rssBefore = rss(pid).rss;
  await requests(gwUrl, sealed.length, 16, (i) => `portcullis=${sealed[i]}`);
  await sleep(1000);
  const after = await probe(pid, probeFile, true);
  const rssAfter = rss(pid).rss;
  log(`${variant}: ${sealed.length} sessions: ${mb(rssBefore)} → ${mb(rssAfter)} MB`);
  child.kill('SIGTERM');
  await new Promise((ok) => child.once('exit', ok));
  const row: Row = {
    variant,
    idle,
    idleHeapUsed: idleProbe?.memory.heapUsed,
    idleExternal: idleProbe?.memory.external,
    after20k,
    loadedMax: l.max,
    loadedMedian: l.median,
    loadRps: l.rps,
    cpuUsPerRequest: l.cpuUsPerRequest,
    afterLoad,
    afterLoadSpaces: afterLoadProbe?.spaces,
    ...(beforeLoadProbe && afterLoadProbe && l.requests > 0
      ? {
          loadGc: {
            scavengesPer1000: ((afterLoadProbe.gcs.minor - beforeLoadProbe.gcs.minor) * 1000) / l.requests,
            scavengeUsPerRequest:
              ((afterLoadProbe.gcs.minorMs - beforeLoadProbe.gcs.minorMs) * 1000) / l.requests,
            otherGcUsPerRequest:
              ((afterLoadProbe.gcs.majorMs - beforeLoadProbe.gcs.majorMs) * 1000) / l.requests,
          },
        }
      : {}),
    sessions: {
      count: sealed.length,
      rssBefore,
      rssAfter,
      ...(before ? { heapBefore: before.memory.heapUsed } : {}),
      ...(after ? { heapAfter: after.memory.heapUsed } : {}),
    },
  };
  return row;
}

async function bareNode(): Promise<number> {
  const child = spawn(NODE, ['-e', 'setInterval(() => {}, 1e6)'], { stdio: 'ignore' });
  started.push(child);
  await sleep(1500);
  const r = rss(child.pid!).rss;
  child.kill();
  return r;
}

// --- main ------------------------------------------------------------------------------------------
const wantsDist = VARIANTS.some((v) => v.startsWith('dist'));
if (wantsDist && env['BUILD'] !== '0') {
  log('npm run build (dist/ for the installed command; BUILD=0 to skip)');
  execFileSync('npm', ['run', '-s', 'build'], { cwd: REPO, stdio: 'inherit' });
}
if (wantsDist && !existsSync(join(REPO, 'dist/cli/main.js'))) throw new Error('dist/ missing');
const dir = mkdtempSync(join(tmpdir(), 'portcullis-memory-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const [appPort, idpPort, gwPort] = [await freePort(), await freePort(), await freePort()];
const gwUrl = `http://127.0.0.1:${gwPort}`;
const clientId = 'portcullis-memory';
const clientSecret = randomBytes(24).toString('base64url');
await startReady('app.ts', [String(appPort)]);
await startReady('idp.ts', [String(idpPort), clientId, clientSecret, `${gwUrl}/oauth2/callback`]);
const cfgFile = join(dir, 'portcullis.yaml');
writeFileSync(
  cfgFile,
  `publicUrl: ${gwUrl}
listen: 127.0.0.1:${gwPort}
cookie:
  secret: ${randomBytes(32).toString('base64url')}
providers:
  - id: dev
    type: oidc
    issuer: http://127.0.0.1:${idpPort}
    clientId: ${clientId}
    clientSecret: ${clientSecret}
upstreams:
  - path: /
    url: http://127.0.0.1:${appPort}
logging:
  level: warn
metrics:
  listen: 127.0.0.1:0
`,
);
const bare = await bareNode();
log(`bare node: ${mb(bare)} MB`);

// One sign-in (through the first variant), then N copies of its session, sealed with the same keys.
let cookie: string | undefined;
let sealed: string[] = [];
const { config } = loadConfig({ file: cfgFile, env: {} });
const signIn = async () => {
  if (cookie !== undefined) return cookie;
  cookie = execFileSync(NODE, [join(REPO, 'bench/login.ts'), gwUrl, 'alice', 'alice'], {
    encoding: 'utf8',
  }).trim();
  const sealer = new Sealer(config.cookieKeys);
  const value = cookie
    .split('; ')
    .map((c) => c.slice(c.indexOf('=') + 1))
    .join('');
  const session = JSON.parse(sealer.open('session', value) ?? 'null');
  if (session === null) throw new Error('alice’s session cookie did not open with the configuration’s keys');
  sealed = Array.from({ length: SESSIONS }, (_, i) =>
    sealer.seal(
      'session',
      JSON.stringify({ ...session, identity: { ...session.identity, sub: `${session.identity.sub}-${i}` } }),
    ),
  );
  if (sealed.some((s) => s.length > 3800)) throw new Error('a session needs chunks: not this bench');
  return cookie;
};

const rows: Row[] = [];
for (const v of VARIANTS) rows.push(await measure(v, cfgFile, gwUrl, signIn, () => sealed));

const opt = (v: number | undefined) => (v === undefined ? '' : String(mb(v)));
const perSessions = (r: Row) =>
  r.sessions && ((r.sessions.rssAfter - r.sessions.rssBefore) * 10_000) / r.sessions.count;
const perSessionsHeap = (r: Row) =>
  r.sessions?.heapAfter !== undefined && r.sessions.heapBefore !== undefined
    ? ((r.sessions.heapAfter - r.sessions.heapBefore) * 10_000) / r.sessions.count
    : undefined;
const machine = `${cpus().length} vCPU (${cpus()[0]?.model ?? '?'}), ${Math.round(totalmem() / 2 ** 30)} GB, Node ${process.versions.node}`;
const lines = [
  `Memory of \`portcullis serve\` (proxy mode, one OIDC provider, cookie sessions, no issuer); ${machine}` +
    (NODE_FLAGS.length ? `; node flags: ${NODE_FLAGS.join(' ')}` : ''),
  '',
  `| variant | idle RSS MB | idle heapUsed / external MB | after ${REQUESTS.toLocaleString('en')} req MB | ` +
    `under load MB (median / max) | load req/s | CPU µs/req | GC under load: scavenges per 1,000 req, µs/req (minor / other) | per 10,000 sessions: RSS / heap MB |`,
  '|---|---|---|---|---|---|---|---|---|',
  `| bare node | ${mb(bare)} | | | | | | | |`,
  ...rows.map((r) =>
    [
      '',
      r.variant,
      mb(r.idle),
      r.idleHeapUsed !== undefined ? `${mb(r.idleHeapUsed)} / ${mb(r.idleExternal ?? 0)}` : '',
      opt(r.after20k),
      r.loadedMax !== undefined ? `${opt(r.loadedMedian)} / ${opt(r.loadedMax)}` : '',
      r.loadRps !== undefined ? Math.round(r.loadRps) : '',
      r.cpuUsPerRequest !== undefined ? r.cpuUsPerRequest.toFixed(1) : '',
      r.loadGc
        ? `${r.loadGc.scavengesPer1000.toFixed(1)}, ${r.loadGc.scavengeUsPerRequest.toFixed(1)} / ${r.loadGc.otherGcUsPerRequest.toFixed(1)}`
        : '',
      r.sessions ? `${opt(perSessions(r))} / ${opt(perSessionsHeap(r))}` : '',
      '',
    ]
      .join(' | ')
      .trim(),
  ),
];
process.stdout.write(`${lines.join('\n')}\n`);
for (const r of rows) {
  if (r.afterLoadSpaces)
    process.stdout.write(
      `\n${r.variant}, heap spaces after load (MB): ${Object.entries(r.afterLoadSpaces)
        .map(([k, v]) => `${k.replace(/_space$/, '')} ${mb(v)}`)
        .join(', ')}\n`,
    );
}
if (env['BENCH_OUT']) {
  writeFileSync(
    env['BENCH_OUT'],
    `${JSON.stringify({ kind: 'memory', date: new Date().toISOString(), machine, nodeFlags: NODE_FLAGS, requests: REQUESTS, load: LOAD, connections: CONNECTIONS, bareNode: bare, rows: rows.map((r) => ({ ...r, per10kSessionsRss: perSessions(r), per10kSessionsHeap: perSessionsHeap(r) })) }, null, 2)}\n`,
  );
  log(`wrote ${env['BENCH_OUT']}`);
}
process.exit(0);
