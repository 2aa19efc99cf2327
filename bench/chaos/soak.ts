/**
 * `npm run chaos -- --soak 10m`: no faults, a long steady load, and the question whether the instances stay
 * flat. Three `portcullis serve` behind HAProxy on one redis-server (as the standalone chaos run); sessions
 * written into Redis through the server-side store as a sign-in would write them, in pipelined batches
 * (ioredis auto-pipelining: a batch of writes is one round trip), 10,000 before the load and then more
 * during the run up to 100,000 (reached at 75 % of the run), while the load — a fixed request rate, so
 * that latency measures the work and not a queue — picks a random session among those written.
 *
 * Each time window (30 s) gives: sessions in Redis, requests, failures, p50/p99/max latency, and for each
 * instance its RSS and open descriptors (/proc) and its live heap (the heap in use after the last full GC,
 * from bench/chaos/mem-probe.ts loaded into the instance). After the warm-up the run checks BOUNDS and exits
 * 1 when one is exceeded: RSS and descriptors no higher in the second half than in the first (peaks: V8's
 * heap is a saw-tooth with a period of minutes, so a slope over a few minutes measures where the teeth fall,
 * not a leak), the live heap flat, p99 of the last window within a factor of the first, no failed request,
 * and a sample of sessions, old and new, still answering 200 on every instance at the end.
 *
 *   npm run chaos -- --soak 10m                                 # 100,000 sessions, 500 requests/s
 *   npm run chaos -- --soak 2m --sessions 20000 --start-sessions 2000
 *   npm run chaos -- --soak 5m --node-flags='--max-semi-space-size=16 --max-old-space-size=256'
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, getPriority, hostname, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { Agent, request } from 'undici';
import { cookieNames } from '../../src/sessions/cookie-store.ts';
import { ServerSessionStore } from '../../src/sessions/server-store.ts';
import { RedisStorage } from '../../src/storage/redis.ts';
import {
  freePort,
  haproxyConfig,
  log,
  NODE,
  type ProcStats,
  Procs,
  pct,
  procStats,
  REPO,
  resetClock,
  sessionOf,
  sleep,
  startRedis,
  status,
  until,
} from './procs.ts';

/** The bounds of a flat run (docs/scaling.md says why these). */
export const BOUNDS = {
  /** RSS: the peak of the second half after warm-up at most this fraction above the peak of the first. */
  RSS_PEAK_GROWTH: 0.1,
  /** The heap in use after a full GC, at the end, at most this fraction above the first after warm-up. */
  LIVE_GROWTH: 0.15,
  /** Descriptors: the peak of the second half at most this many above the first's. */
  FD_SLACK: 8,
  /** p99 of the last window at most this factor of the first window after warm-up. */
  P99_FACTOR: 2,
} as const;

/** `90s`, `10m`, `1h`, `1500ms` or a number of seconds → milliseconds. */
export function parseDuration(text: string, key: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (m === null) throw new Error(`chaos: ${key} "${text}" is not a duration: write 90s, 10m or 1h`);
  return Number(m[1]) * { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }[m[2] ?? 's']!;
}

/** Least-squares slope of ys against xs (per unit of x). */
export function slope(xs: readonly number[], ys: readonly number[]): number {
  const n = xs.length;
  if (n < 2) return 0;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

interface ProbeLine {
  readonly t: number;
  readonly rssMb: number;
  readonly heapTotalMb: number;
  readonly heapUsedMb: number;
  readonly liveMb: number;
  /** When the last full collection measured liveMb (epoch ms). */
  readonly liveAt: number;
  readonly externalMb: number;
  readonly newSpaceMb: number;
  readonly oldSpaceMb: number;
  readonly codeSpaceMb: number;
  readonly largeObjectMb: number;
  readonly gc: { minor: number; major: number; pauseMs: number };
}

interface Window {
  readonly from: number;
  readonly to: number;
  readonly ms: number[];
  failed: number;
  sessions: number;
  redisMb: number;
  /** Per instance, at the window's end. */
  stats: ProcStats[];
  probe: (ProbeLine | undefined)[];
}

export interface SoakArgs {
  readonly soak?: string | undefined;
  readonly shape?: string | undefined;
  readonly sessions?: string | undefined;
  readonly 'start-sessions'?: string | undefined;
  readonly concurrency?: string | undefined;
  readonly instances?: string | undefined;
  readonly rate?: string | undefined;
  readonly window?: string | undefined;
  readonly warmup?: string | undefined;
  readonly 'node-flags'?: string | undefined;
}

export async function soakMain(args: SoakArgs): Promise<number> {
  if (args.shape !== undefined && args.shape !== 'standalone') {
    process.stderr.write('chaos: --soak runs on standalone Redis only; leave out --shape\n');
    return 2;
  }
  const DURATION_MS = parseDuration(args.soak ?? '10m', '--soak');
  const SESSIONS = Number(args.sessions ?? 100_000);
  const START_SESSIONS = Number(args['start-sessions'] ?? Math.min(10_000, SESSIONS));
  const CONCURRENCY = Number(args.concurrency ?? 32);
  const INSTANCES = Number(args.instances ?? 3);
  const RATE = Number(args.rate ?? 500);
  const WINDOW_MS = parseDuration(args.window ?? '30s', '--window');
  const WARMUP_MS = parseDuration(args.warmup ?? (DURATION_MS >= 8 * 60_000 ? '2m' : '30s'), '--warmup');
  const NODE_FLAGS = (args['node-flags'] ?? '').split(/\s+/).filter((f) => f !== '');
  const GROWN_AT = 0.75; // of the run: when the session count reaches SESSIONS
  for (const [k, v] of Object.entries({ SESSIONS, START_SESSIONS, CONCURRENCY, INSTANCES, RATE }))
    if (!Number.isInteger(v) || v <= 0) throw new Error(`chaos: ${k} must be a positive whole number`);
  if (DURATION_MS % 5_000 !== 0 || WINDOW_MS % 5_000 !== 0)
    throw new Error('chaos: --soak and --window must be whole multiples of 5 s (the sampling period)');
  if (WARMUP_MS + 2 * WINDOW_MS > DURATION_MS)
    throw new Error('chaos: the soak must last at least the warm-up plus two windows');
  const loadAtStart = loadavg();

  const procs = new Procs();
  const redis = await startRedis(procs);
  const admin = new Redis({ host: '127.0.0.1', port: redis.port, lazyConnect: true });
  admin.on('error', () => {});
  await until('redis', async () => {
    if (admin.status === 'wait') await admin.connect();
    return (await admin.ping()) === 'PONG';
  });
  const redisMb = async () => Number(/used_memory:(\d+)/.exec(await admin.info('memory'))?.[1]) / 1048576;

  const upstream = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ user: req.headers['x-forwarded-user'] ?? null }));
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
  const upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;

  const lbPort = await freePort();
  const publicUrl = `http://127.0.0.1:${lbPort}`;
  const secret = Buffer.from(execFileSync('openssl', ['rand', '32'])).toString('base64url');
  const configFile = join(procs.dir, 'portcullis.yaml');
  writeFileSync(
    configFile,
    `publicUrl: ${publicUrl}
cookie: { secret: ${secret} }
providers: [{ id: gh, type: github, clientId: soak, clientSecret: soak }]
upstreams: [{ path: /, url: ${upstreamUrl} }]
routes: [{ path: /api/, api: true }]
sessions: { store: redis, url: ${redis.url}, keyPrefix: 'soak:' }
metrics: { enabled: false }
logging: { level: warn, format: json }
`,
  );
  const ports: number[] = [];
  for (let i = 0; i < INSTANCES; i++) ports.push(await freePort());
  const probeFile = (i: number) => join(procs.dir, `probe-${i}.jsonl`);
  const instances = ports.map((port, i) =>
    procs.start(
      NODE,
      [
        '--import',
        './bench/chaos/mem-probe.ts',
        ...NODE_FLAGS,
        'src/cli/main.ts',
        'serve',
        '--config',
        configFile,
        '--listen',
        `127.0.0.1:${port}`,
      ],
      `portcullis:${port}`,
      { SOAK_PROBE_FILE: probeFile(i) },
    ),
  );
  for (const port of ports)
    await until(
      `portcullis on ${port}`,
      async () => (await status(`http://127.0.0.1:${port}/ready`)) === 200,
    );
  // No instance fails here on purpose: a /ready check slowed by a busy shared machine is not a reason to
  // take it out of rotation (the chaos run's fall 1 is for its kill faults).
  writeFileSync(
    join(procs.dir, 'haproxy.cfg'),
    haproxyConfig(lbPort, ports, { fall: 3, checkTimeout: '2s' }),
  );
  procs.start('/usr/sbin/haproxy', ['-f', join(procs.dir, 'haproxy.cfg'), '-db'], 'haproxy');
  await until('haproxy', async () => (await status(`${publicUrl}/ping`)) === 200);
  const idleStats = instances.map((p) => procStats(p.pid));

  // --- sessions, written in pipelined batches --------------------------------------------------------
  const storage = await RedisStorage.connect({
    connection: { shape: { kind: 'standalone', url: redis.url } },
    keyPrefix: 'soak:',
    onError: () => {},
  });
  const store = new ServerSessionStore({
    storage,
    type: 'redis',
    cookieKeys: [Buffer.from(secret, 'base64url')],
    names: cookieNames('portcullis', false, undefined),
    cookieOptions: { secure: false },
    ownsStorage: false,
  });
  const cookies: string[] = [];
  const BATCH = 1_000;
  async function writeSessions(upTo: number): Promise<void> {
    while (cookies.length < upTo) {
      const now = Math.floor(Date.now() / 1000);
      const from = cookies.length;
      const n = Math.min(BATCH, upTo - from);
      const sets = await Promise.all(
        Array.from({ length: n }, (_, k) => store.write(sessionOf(from + k, now), new Map(), now)),
      );
      for (const set of sets) cookies.push(set[0]!.split(';')[0]!);
    }
  }
  const redisBefore = await redisMb();
  const t = Date.now();
  await writeSessions(START_SESSIONS);
  const writeSeconds = (Date.now() - t) / 1000;
  const bytesPerSession = ((await redisMb()) - redisBefore) * (1048576 / START_SESSIONS);
  log(
    `${START_SESSIONS} sessions written in ${writeSeconds.toFixed(1)} s (${(START_SESSIONS / writeSeconds).toFixed(0)}/s); ${bytesPerSession.toFixed(0)} bytes of Redis each`,
  );
  const startStats = instances.map((p) => procStats(p.pid));

  // --- load at a fixed rate, sessions growing, a sample every 5 s and a row every window --------------
  const agent = new Agent({ connections: CONCURRENCY, keepAliveTimeout: 10_000 });
  const T0 = resetClock();
  const windows: Window[] = [];
  for (let from = 0; from < DURATION_MS; from += WINDOW_MS)
    windows.push({
      from,
      to: Math.min(from + WINDOW_MS, DURATION_MS),
      ms: [],
      failed: 0,
      sessions: 0,
      redisMb: 0,
      stats: [],
      probe: [],
    });
  const windowAt = (at: number) => windows[Math.min(windows.length - 1, Math.floor(at / WINDOW_MS))]!;
  let running = true;
  let nextSlot = T0;
  const byStatus = new Map<number, number>();
  const failures: string[] = [];
  /** Slots given up: when the load falls a second behind its schedule, it starts again from now. */
  let dropped = 0;
  async function worker(): Promise<void> {
    while (running) {
      if (nextSlot < Date.now() - 1_000) {
        dropped += Math.floor(((Date.now() - nextSlot) * RATE) / 1000);
        nextSlot = Date.now();
      }
      const slot = nextSlot;
      nextSlot += 1000 / RATE;
      const wait = slot - Date.now();
      if (wait > 0) await sleep(wait);
      if (!running) return;
      const i = Math.floor(Math.random() * cookies.length);
      const startedAt = Date.now();
      let code = 0;
      let why = '';
      try {
        const r = await request(`${publicUrl}/api/x`, {
          dispatcher: agent,
          headers: { cookie: cookies[i]!, accept: 'application/json' },
          headersTimeout: 10_000,
        });
        code = r.statusCode;
        // A failure's body names its error code (PCL_…) and request id; it holds no credential.
        if (code === 200) await r.body.dump();
        else why = (await r.body.text()).slice(0, 200);
      } catch (err) {
        why = (err as Error).message;
      }
      const w = windowAt(startedAt - T0);
      const ms = Date.now() - startedAt;
      w.ms.push(ms);
      if (code !== 200) {
        w.failed++;
        byStatus.set(code, (byStatus.get(code) ?? 0) + 1);
        if (failures.length < 10)
          failures.push(
            `${((startedAt - T0) / 1000).toFixed(1)} s, ${ms} ms: ${code === 0 ? 'no answer' : code} ${why}`,
          );
      }
    }
  }
  const workers = Array.from({ length: CONCURRENCY }, () => worker());

  const grow = (async () => {
    while (running && cookies.length < SESSIONS) {
      const f = Math.min(1, (Date.now() - T0) / (DURATION_MS * GROWN_AT));
      await writeSessions(Math.round(START_SESSIONS + (SESSIONS - START_SESSIONS) * f));
      await sleep(1_000);
    }
  })();

  /** Every 5 s: each instance's RSS and descriptors, for the peaks. */
  const series = instances.map(() => [] as { t: number; rssMb: number; fds: number }[]);
  const probeLines = (i: number): ProbeLine[] => {
    try {
      return readFileSync(probeFile(i), 'utf8')
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l) as ProbeLine);
    } catch {
      return [];
    }
  };
  const lastProbe = (i: number): ProbeLine | undefined => probeLines(i).at(-1);
  const sampler = (async () => {
    let next = T0 + 5_000;
    for (;;) {
      await sleep(Math.max(0, next - Date.now()));
      const at = next - T0;
      for (const [i, p] of instances.entries()) series[i]!.push({ t: at, ...procStats(p.pid) });
      const w = windows.find((x) => x.to === at);
      if (w !== undefined) {
        w.sessions = cookies.length;
        w.redisMb = await redisMb();
        w.stats = instances.map((p) => procStats(p.pid));
        w.probe = instances.map((_, i) => lastProbe(i));
        const p = (q: number) => pct(w.ms, q);
        log(
          `${(at / 1000).toFixed(0)} s: ${w.sessions} sessions, ${w.ms.length} requests, p50/p99 ${p(50)}/${p(99)} ms, RSS ${w.stats.map((s) => s.rssMb.toFixed(0)).join('/')} MB, live heap ${w.probe.map((x) => x?.liveMb ?? '?').join('/')} MB, fds ${w.stats.map((s) => s.fds).join('/')}`,
        );
      }
      if (at >= DURATION_MS) return;
      next += 5_000;
    }
  })();
  await sampler;
  running = false;
  await Promise.all([...workers, grow]);

  // --- after: a sample of sessions, old and new, on every instance -----------------------------------
  let lost = 0;
  const checked = Math.min(1_000, cookies.length);
  for (let k = 0; k < checked; k++) {
    const i = Math.floor((k / checked) * cookies.length);
    for (const port of ports)
      if ((await status(`http://127.0.0.1:${port}/api/check`, { cookie: cookies[i]! })) !== 200) lost++;
  }

  // --- verdicts and report ---------------------------------------------------------------------------
  const post = windows.filter((w) => w.from >= WARMUP_MS);
  const first = post[0]!;
  const last = windows[windows.length - 1]!;
  const verdicts: string[] = [];
  // The halves of the time after the warm-up: a leak lifts the peaks of the second; V8's saw-tooth (the
  // young generation filling, the old space growing until a full collection) does not.
  const mid = WARMUP_MS + (DURATION_MS - WARMUP_MS) / 2;
  const perInstance = instances.map((_, i) => {
    const after = series[i]!.filter((s) => s.t > WARMUP_MS);
    const peak = (from: number, to: number, k: 'rssMb' | 'fds') =>
      Math.max(...after.filter((s) => s.t > from && s.t <= to).map((s) => s[k]));
    const rss = [peak(WARMUP_MS, mid, 'rssMb'), peak(mid, DURATION_MS, 'rssMb')] as const;
    const fds = [peak(WARMUP_MS, mid, 'fds'), peak(mid, DURATION_MS, 'fds')] as const;
    // Descriptors at an instant are the idle set plus two sockets per request in flight, so a peak follows
    // a latency burst (more requests in flight at the moment of the sample), not a leak. A leak lifts the
    // floor: compare the medians of the halves, and hold every peak under the ceiling.
    const medianOf = (from: number, to: number) => {
      const v = after
        .filter((s) => s.t > from && s.t <= to)
        .map((s) => s.fds)
        .sort((a, b) => a - b);
      return v[Math.floor((v.length - 1) / 2)] ?? 0;
    };
    const fdMedians = [medianOf(WARMUP_MS, mid), medianOf(mid, DURATION_MS)] as const;
    const fdCeiling = idleStats[i]!.fds + 2 * CONCURRENCY + BOUNDS.FD_SLACK;
    // Measured by a full collection after the warm-up (a line repeats the last one's figure until the next).
    const live = probeLines(i)
      .map((p) => ({ t: p.liveAt - T0, mb: p.liveMb }))
      .filter((p, k, all) => p.t > WARMUP_MS && typeof p.mb === 'number' && p.t !== all[k - 1]?.t);
    const liveWarm = live[0]?.mb ?? Number.NaN;
    const liveEnd = live[live.length - 1]?.mb ?? Number.NaN;
    const liveSlope = slope(
      live.map((p) => p.t / 60_000),
      live.map((p) => p.mb),
    );
    const name = `instance ${i + 1}`;
    if (rss[1] > rss[0] * (1 + BOUNDS.RSS_PEAK_GROWTH))
      verdicts.push(
        `${name}: RSS peaked at ${rss[1].toFixed(0)} MB in the second half > ${rss[0].toFixed(0)} MB in the first + ${BOUNDS.RSS_PEAK_GROWTH * 100} %`,
      );
    // Too short a run may see no full collection after its warm-up: nothing to judge then.
    if (liveEnd > liveWarm * (1 + BOUNDS.LIVE_GROWTH))
      verdicts.push(
        `${name}: live heap ${liveEnd} MB at the end > ${liveWarm} MB after warm-up + ${BOUNDS.LIVE_GROWTH * 100} %`,
      );
    if (fdMedians[1] > fdMedians[0] + BOUNDS.FD_SLACK)
      verdicts.push(
        `${name}: median ${fdMedians[1]} descriptors in the second half > ${fdMedians[0]} in the first + ${BOUNDS.FD_SLACK}`,
      );
    if (Math.max(...fds) > fdCeiling)
      verdicts.push(
        `${name}: ${Math.max(...fds)} descriptors > ${fdCeiling} (idle + 2 per request in flight + ${BOUNDS.FD_SLACK})`,
      );
    return { rss, fds, fdMedians, fdCeiling, liveWarm, liveEnd, liveSlope, endRss: last.stats[i]!.rssMb };
  });
  const p99First = pct(first.ms, 99);
  const p99Last = pct(last.ms, 99);
  if (p99Last > p99First * BOUNDS.P99_FACTOR)
    verdicts.push(
      `p99 ${p99Last} ms in the last window > ${BOUNDS.P99_FACTOR} × ${p99First} ms after warm-up`,
    );
  const failed = windows.reduce((n, w) => n + w.failed, 0);
  const requests = windows.reduce((n, w) => n + w.ms.length, 0);
  if (failed > 0) verdicts.push(`${failed} requests failed`);
  if (lost > 0) verdicts.push(`${lost} session checks refused at the end`);

  const lines: string[] = [];
  const w = (l = '') => lines.push(l);
  const mb = (x: number | undefined) => (x === undefined || Number.isNaN(x) ? '?' : x.toFixed(0));
  const nice = getPriority();
  w(`# npm run chaos -- --soak — standalone Redis, ${new Date().toISOString()}`);
  w();
  w(
    `Machine: ${hostname()}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}, Redis ${execFileSync('redis-server', ['--version']).toString().split(' ')[2]?.slice(2)}, HAProxy round robin. Shared: every instance, the load generator, HAProxy and Redis on the same cores, ${nice > 0 ? `all under \`nice -n ${nice}\`; ` : ''}load average ${loadAtStart.map((x) => x.toFixed(1)).join(' / ')} at the start (above ~1: other work ran too).`,
  );
  w(
    `Run: ${INSTANCES} instances, ${(DURATION_MS / 60_000).toFixed(1)} min at ${RATE} requests/s (at most ${CONCURRENCY} in flight), windows of ${WINDOW_MS / 1000} s, warm-up ${WARMUP_MS / 1000} s; sessions ${START_SESSIONS.toLocaleString('en')} before the load (written in ${writeSeconds.toFixed(1)} s, ${bytesPerSession.toFixed(0)} bytes of Redis each), growing to ${SESSIONS.toLocaleString('en')} at ${GROWN_AT * 100} % of the run; each request a random session among those written. Instance flags: ${NODE_FLAGS.length > 0 ? `\`${NODE_FLAGS.join(' ')}\`` : 'none (Node defaults)'}.`,
  );
  w();
  w(
    `Requests: ${requests.toLocaleString('en')} (${((requests * 1000) / DURATION_MS).toFixed(0)}/s; ${dropped.toLocaleString('en')} slots of the schedule given up when the machine fell behind), failed: ${failed}${byStatus.size > 0 ? ` (${[...byStatus].map(([k, n]) => `${k === 0 ? 'no answer' : k}: ${n}`).join(', ')})` : ''}; sessions checked on every instance at the end: ${checked} × ${INSTANCES}, refused: ${lost}.`,
  );
  if (failures.length > 0) {
    w();
    w('Failed requests (the first ten: when, how long, status and body):');
    w();
    for (const f of failures) w(`- ${f.replaceAll('|', '\\|')}`);
  }
  w();
  w(
    '| window (s) | sessions in Redis | Redis MB | requests | failed | p50 / p99 / max ms | RSS MB per instance | live heap MB | heap total MB | descriptors |',
  );
  w('|---|---|---|---|---|---|---|---|---|---|');
  for (const x of windows)
    w(
      `| ${x.from / 1000}–${x.to / 1000}${x.from < WARMUP_MS ? ' (warm-up)' : ''} | ${x.sessions.toLocaleString('en')} | ${x.redisMb.toFixed(0)} | ${x.ms.length} | ${x.failed} | ${pct(x.ms, 50)} / ${pct(x.ms, 99)} / ${Math.max(...x.ms)} | ${x.stats.map((s) => mb(s.rssMb)).join(' / ')} | ${x.probe.map((p) => mb(p?.liveMb)).join(' / ')} | ${x.probe.map((p) => mb(p?.heapTotalMb)).join(' / ')} | ${x.stats.map((s) => s.fds).join(' / ')} |`,
    );
  w();
  w(
    '| instance | RSS MB idle → sessions written → peak 1st half → peak 2nd half (end) | live heap MB after warm-up → end (slope) | descriptors idle → median / peak 1st half → 2nd half (ceiling) | at the end: heap total (new / old space), external, rest of RSS |',
  );
  w('|---|---|---|---|---|');
  perInstance.forEach((x, i) => {
    const p = last.probe[i];
    const rest = p ? p.rssMb - p.heapTotalMb - p.externalMb : Number.NaN;
    w(
      `| ${i + 1} | ${mb(idleStats[i]!.rssMb)} → ${mb(startStats[i]!.rssMb)} → ${mb(x.rss[0])} → ${mb(x.rss[1])} (${mb(x.endRss)}) | ${Number.isNaN(x.liveEnd) ? 'no full GC after warm-up' : `${x.liveWarm.toFixed(1)} → ${x.liveEnd.toFixed(1)} (${x.liveSlope.toFixed(2)} MB/min)`} | ${idleStats[i]!.fds} → ${x.fdMedians[0]} / ${x.fds[0]} → ${x.fdMedians[1]} / ${x.fds[1]} (${x.fdCeiling}) | ${p ? `${mb(p.heapTotalMb)} (${mb(p.newSpaceMb)} / ${mb(p.oldSpaceMb)}), ${mb(p.externalMb)}, ${mb(rest)}` : '?'} |`,
    );
  });
  w();
  w(
    `Bounds after the warm-up (${WARMUP_MS / 1000} s; the run exits 1 beyond them), per instance: the RSS peak of the second half ≤ the first half's + ${BOUNDS.RSS_PEAK_GROWTH * 100} %; the live heap (in use after a full GC) at the end ≤ after warm-up + ${BOUNDS.LIVE_GROWTH * 100} %; the median descriptor count of the second half ≤ the first's + ${BOUNDS.FD_SLACK} (a peak follows the requests in flight at that sample), and no peak above idle + 2 × ${CONCURRENCY} (a socket in and one out per request in flight) + ${BOUNDS.FD_SLACK}. For the run: p99 of the last window ≤ ${BOUNDS.P99_FACTOR} × the first after warm-up (${p99Last} vs ${p99First} ms); no failed request; every session checked answers 200 on every instance.`,
  );
  w();
  w(verdicts.length === 0 ? '**Verdict: pass.**' : `**Verdict: FAIL** — ${verdicts.join('; ')}`);
  const report = `${lines.join('\n')}\n`;
  process.stdout.write(report);
  mkdirSync(join(REPO, 'bench/results'), { recursive: true });
  const out = join(REPO, `bench/results/chaos-soak-${new Date().toISOString().slice(0, 10)}.md`);
  writeFileSync(out, report);
  // The raw probe lines (a line every 5 s per instance), for a closer look at the heap.
  for (let i = 0; i < INSTANCES; i++) {
    try {
      writeFileSync(join(tmpdir(), `portcullis-soak-probe-${i + 1}.jsonl`), readFileSync(probeFile(i)));
    } catch {}
  }
  log(`report written to ${out}; probe lines in ${join(tmpdir(), 'portcullis-soak-probe-*.jsonl')}`);

  admin.disconnect();
  await storage.close();
  await agent.close();
  upstream.close();
  procs.cleanup();
  return verdicts.length === 0 ? 0 : 1;
}
