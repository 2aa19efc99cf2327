/**
 * npm run chaos: several Portcullis instances behind HAProxy (round robin, health check on /ready) on one
 * Redis, steady load across many signed-in sessions, and faults during the load; a report per run with the
 * figures issue 13 asks for, and a non-zero exit when a session is lost, a sign-out is undone, or a fault's
 * window of non-2xx answers exceeds what docs/scaling.md promises.
 *
 * Shapes (`--shape`): `standalone` (the control: one redis-server); `sentinel` (a primary, a replica and
 * three redis-sentinel, down-after-milliseconds 1000); `cluster` (six nodes, three primaries with a replica
 * each, cluster-node-timeout 2000); `all` runs the three one after the other, each in its own process. On
 * Sentinel and Cluster the Redis primary holding the sessions is SIGKILLed during the load as an extra
 * fault (a failover / a replica promotion). The Redis shapes are those of test/support/redis-shapes.ts.
 *
 * Real processes only, all on loopback: redis-server, HAProxy (Debian's), three `portcullis serve`. The
 * sessions are written into Redis through the server-side session store with the gateway's cookie secret
 * (as a sign-in would write them), so 1,000 sessions take a second instead of 1,000 browser logins; the
 * requests then go through HAProxy and the whole gateway pipeline with those cookies.
 *
 *   npm run chaos                               # 60 s, 1,000 sessions, 32 concurrent clients
 *   npm run chaos -- --duration 300 --sessions 2000 --concurrency 64
 *   npm run chaos -- --soak 10m                 # no faults: memory and latency flat? (bench/chaos/soak.ts)
 */
import { type ChildProcess, execFile, execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, hostname } from 'node:os';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { Redis } from 'ioredis';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { Agent, request } from 'undici';
import type { RedisConnection } from '../../src/config/redis.ts';
import { CookieSessionStore, cookieNames } from '../../src/sessions/cookie-store.ts';
import { Sealer } from '../../src/sessions/sealer.ts';
import { ServerSessionStore } from '../../src/sessions/server-store.ts';
import { RedisStorage } from '../../src/storage/redis.ts';
import { type RedisShape, startCluster, startSentinel } from '../../test/support/redis-shapes.ts';
import {
  freePort,
  haproxyConfig,
  log,
  NODE,
  Procs,
  pct,
  procStats,
  REPO,
  resetClock,
  sessionOf,
  sleep,
  startRedis,
  status,
  stopped,
  until,
} from './procs.ts';

const { values: args } = parseArgs({
  options: {
    shape: { type: 'string', default: 'standalone' },
    duration: { type: 'string', default: '60' },
    sessions: { type: 'string' },
    concurrency: { type: 'string', default: '32' },
    instances: { type: 'string', default: '3' },
    // The soak (bench/chaos/soak.ts): no faults, sessions growing, memory and latency per window.
    soak: { type: 'string' },
    'start-sessions': { type: 'string' },
    rate: { type: 'string' },
    window: { type: 'string' },
    warmup: { type: 'string' },
    'node-flags': { type: 'string' },
  },
});
if (args.soak !== undefined) {
  const { soakMain } = await import('./soak.ts');
  process.exit(await soakMain(args));
}
const SHAPES = ['standalone', 'sentinel', 'cluster', 'cookie'] as const;
if (args.shape === 'all') {
  // One process per shape, so that each run starts from nothing and cleans up after itself.
  let worst = 0;
  for (const shape of SHAPES) {
    const argv = process.argv.slice(2).filter((a, i, all) => a !== '--shape' && all[i - 1] !== '--shape');
    try {
      execFileSync(process.execPath, [process.argv[1]!, ...argv, '--shape', shape], { stdio: 'inherit' });
    } catch (err) {
      worst = Math.max(worst, (err as { status?: number }).status ?? 1);
    }
  }
  process.exit(worst);
}
if (!(SHAPES as readonly string[]).includes(args.shape)) {
  process.stderr.write(`chaos: --shape must be one of ${SHAPES.join(', ')}, all\n`);
  process.exit(2);
}
const SHAPE = args.shape as (typeof SHAPES)[number];
const DURATION_S = Number(args.duration);
const SESSIONS = Number(args.sessions ?? 1000);
const CONCURRENCY = Number(args.concurrency);
const INSTANCES = Number(args.instances);
/** What docs/scaling.md promises behind a load balancer that checks /ready (see the thresholds there). */
const PROMISE = {
  killWindowMs: 2_000,
  rollingErrors: 0,
  /**
   * A Redis primary SIGKILLed: the shapes here detect it after 1 s (Sentinel down-after-milliseconds) or
   * 2 s (cluster-node-timeout), elect, the clients follow, and HAProxy sees /ready 200 again (rise 2 × 500 ms).
   */
  redisFailoverWindowMs: { standalone: 0, sentinel: 8_000, cluster: 10_000, cookie: 0 }[SHAPE],
};

const procs = new Procs();
const dir = procs.dir;
const start = (cmd: string, argv: string[], name: string) => procs.start(cmd, argv, name);
let redisShape: RedisShape | undefined;
procs.onCleanup(() => {
  void redisShape?.close(); // synchronous inside: SIGKILL and rm -r
  redisShape = undefined;
});

// --- the parts -----------------------------------------------------------------------------------
interface Instance {
  readonly port: number;
  proc: ChildProcess;
  startStats?: { rssMb: number; fds: number };
}

/** The Redis side: how Portcullis names it in YAML, how the bench connects, and the primary of our keys. */
let connection: RedisConnection | undefined;
let redisYaml = '';
let keysPrimary: () => Promise<number> = async () => 0;
if (SHAPE === 'cookie') {
  // No Redis: the session is sealed in the cookie itself (sessions.store: cookie, the default).
} else if (SHAPE === 'standalone') {
  const { port: redisPort, url: redisUrl } = await startRedis(procs);
  connection = { shape: { kind: 'standalone', url: redisUrl } };
  redisYaml = `url: ${redisUrl}`;
  keysPrimary = async () => redisPort;
} else if (SHAPE === 'sentinel') {
  const shape = await startSentinel();
  redisShape = shape;
  connection = shape.connection;
  const s = connection.shape.kind === 'sentinel' ? connection.shape.sentinels : [];
  redisYaml = `sentinels: [${s.map((n) => `'${n.host}:${n.port}'`).join(', ')}], sentinelMasterName: mymaster`;
  keysPrimary = async () => (await shape.primaries())[0]!;
} else {
  const shape = await startCluster();
  redisShape = shape;
  connection = shape.connection;
  const nodes = connection.shape.kind === 'cluster' ? connection.shape.nodes : [];
  redisYaml = `cluster: [${nodes.map((n) => `'${n.host}:${n.port}'`).join(', ')}]`;
  // On a Cluster every key of the prefix is in the slot of its hash tag (docs/scaling.md): its owner.
  keysPrimary = async () => {
    const seed = new Redis({ host: '127.0.0.1', port: nodes[0]!.port, lazyConnect: true });
    seed.on('error', () => {});
    try {
      await seed.connect();
      const slot = Number(await seed.call('CLUSTER', 'KEYSLOT', '{chaos:}'));
      const ranges = (await seed.call('CLUSTER', 'SLOTS')) as [number, number, [string, number]][];
      const owner = ranges.find(([from, to]) => slot >= from && slot <= to);
      if (owner === undefined) throw new Error(`chaos: no node owns slot ${slot}`);
      return Number(owner[2][1]);
    } finally {
      seed.disconnect();
    }
  };
}
const admin =
  SHAPE === 'cookie'
    ? undefined
    : new Redis({ host: '127.0.0.1', port: await keysPrimary(), lazyConnect: true });
admin?.on('error', () => {}); // its primary is killed on purpose later; it is only used before that
if (admin)
  await until('redis', async () => {
    if (admin.status === 'wait') await admin.connect();
    return (await admin.ping()) === 'PONG';
  });

/**
 * A signing key rotation needs the upstream to verify X-Portcullis-Assertion (docs/assertion.md): with
 * storage for the keys (the same Redis) and a run long enough for a staged key to start signing
 * (ACTIVATION_DELAY_SECONDS, 2 minutes, after `keys rotate`), the instances sign assertions and the
 * upstream checks each one against <publicUrl>/oauth2/jwks as a real service would (jose's remote set,
 * refetched on an unknown kid). A refused assertion is a 502, counted apart from a session's 401.
 */
const ROTATE = SHAPE !== 'cookie' && DURATION_S >= 150;
const kidsSeen = new Map<string, number>();
let assertionsRefused = 0;
let jwks: ReturnType<typeof createRemoteJWKSet> | undefined;
const upstream = http.createServer(async (req, res) => {
  if (ROTATE) {
    const token = req.headers['x-portcullis-assertion'];
    try {
      if (typeof token !== 'string') throw new Error('no assertion');
      jwks ??= createRemoteJWKSet(new URL('/oauth2/jwks', publicUrl));
      await jwtVerify(token, jwks, { issuer: publicUrl, audience: upstreamUrl, clockTolerance: 30 });
      const kid = String(decodeProtectedHeader(token).kid);
      kidsSeen.set(kid, (kidsSeen.get(kid) ?? 0) + 1);
    } catch (err) {
      if (assertionsRefused++ < 5) log(`upstream refused an assertion: ${(err as Error).message}`);
      res.writeHead(502).end();
      return;
    }
  }
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ user: req.headers['x-forwarded-user'] ?? null }));
});
await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
const upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;

const lbPort = await freePort();
const publicUrl = `http://127.0.0.1:${lbPort}`;
const secret = Buffer.from(execFileSync('openssl', ['rand', '32'])).toString('base64url');
/** The cookie secret the cookie run rotates to (first in the list, the old one kept second). */
const newSecret = Buffer.from(execFileSync('openssl', ['rand', '32'])).toString('base64url');
const configText = (secrets: string) => `publicUrl: ${publicUrl}
cookie: { secret: ${secrets} }
providers: [{ id: gh, type: github, clientId: chaos, clientSecret: chaos }]
upstreams: [{ path: /, url: ${upstreamUrl}${ROTATE ? ', assertion: { lifetime: 30s }' : ''} }]
routes: [{ path: /api/, api: true }]
${SHAPE === 'cookie' ? '' : `sessions: { store: redis, ${redisYaml}, keyPrefix: 'chaos:' }`}
${ROTATE ? `storage: { type: redis, ${redisYaml}, keyPrefix: 'chaos-keys:' }` : ''}
server: { shutdownDelay: 2s, drainTimeout: 10s }
metrics: { enabled: false }
logging: { level: warn, format: json }
`;
const configFile = join(dir, 'portcullis.yaml');
writeFileSync(configFile, configText(secret));

const instances: Instance[] = [];
for (let i = 0; i < INSTANCES; i++) instances.push({ port: await freePort(), proc: undefined as never });
function startInstance(inst: Instance): void {
  inst.proc = start(
    NODE,
    ['src/cli/main.ts', 'serve', '--config', configFile, '--listen', `127.0.0.1:${inst.port}`],
    `portcullis:${inst.port}`,
  );
}
const ready = (inst: Instance) =>
  until(
    `portcullis on ${inst.port}`,
    async () => (await status(`http://127.0.0.1:${inst.port}/ready`)) === 200,
  );
for (const inst of instances) startInstance(inst);
for (const inst of instances) await ready(inst);

writeFileSync(
  join(dir, 'haproxy.cfg'),
  haproxyConfig(
    lbPort,
    instances.map((inst) => inst.port),
  ),
);
start('/usr/sbin/haproxy', ['-f', join(dir, 'haproxy.cfg'), '-db'], 'haproxy');
await until('haproxy', async () => (await status(`${publicUrl}/ping`)) === 200);

// --- sessions ----------------------------------------------------------------------------------------
const memUsed = async () => Number(/used_memory:(\d+)/.exec((await admin?.info('memory')) ?? '')?.[1]);
const memBefore = await memUsed();
const storage = connection
  ? await RedisStorage.connect({ connection, keyPrefix: 'chaos:', onError: () => {} })
  : undefined;
const names = cookieNames('portcullis', false, undefined);
const sealedStore = (key: string) =>
  new CookieSessionStore(new Sealer([Buffer.from(key, 'base64url')]), names, { secure: false });
const store = storage
  ? new ServerSessionStore({
      storage,
      type: 'redis',
      cookieKeys: [Buffer.from(secret, 'base64url')],
      names,
      cookieOptions: { secure: false },
      ownsStorage: false,
    })
  : sealedStore(secret);
const now = Math.floor(Date.now() / 1000);
const cookies: string[] = [];
for (let i = 0; i < SESSIONS; i++) {
  const set = await store.write(sessionOf(i, now), new Map(), now);
  cookies.push(set[0]!.split(';')[0]!);
}
const memAfter = await memUsed();
const bytesPerSession = (memAfter - memBefore) / SESSIONS;
log(
  `${SESSIONS} sessions written${admin ? `; ${bytesPerSession.toFixed(0)} bytes of Redis memory each` : ''}`,
);
admin?.disconnect();
for (const inst of instances) inst.startStats = procStats(inst.proc.pid);

// --- load --------------------------------------------------------------------------------------------
interface Sample {
  readonly t: number;
  readonly ms: number;
  readonly status: number;
  readonly session: number;
}
const samples: Sample[] = [];
const signedOut = new Map<number, number>(); // session → when its sign-out was answered
/** Sessions whose sign-out was sent: a 401 racing it is the sign-out, not a loss. */
const signingOut = new Set<number>();
const lost = new Set<number>();
const undone = new Set<number>();
const agent = new Agent({ connections: CONCURRENCY, keepAliveTimeout: 10_000 });
let running = true;
const T0 = resetClock();
async function worker(): Promise<void> {
  while (running) {
    const i = Math.floor(Math.random() * SESSIONS);
    const startedAt = Date.now();
    let code = 0;
    try {
      const r = await request(`${publicUrl}/api/x`, {
        dispatcher: agent,
        headers: { cookie: cookies[i]!, accept: 'application/json' },
        headersTimeout: 10_000,
      });
      await r.body.dump();
      code = r.statusCode;
    } catch {
      code = 0; // connection error
    }
    const out = signedOut.get(i);
    if (out !== undefined && startedAt > out && code === 200) undone.add(i);
    if (out === undefined && code === 401 && !signingOut.has(i)) lost.add(i);
    samples.push({ t: startedAt - T0, ms: Date.now() - startedAt, status: code, session: i });
  }
}
const workers = Array.from({ length: CONCURRENCY }, () => worker());

// --- faults ------------------------------------------------------------------------------------------
interface Fault {
  readonly name: string;
  start: number;
  end: number;
}
const faults: Fault[] = [];
async function fault(name: string, run: () => Promise<void>): Promise<void> {
  const f: Fault = { name, start: Date.now() - T0, end: 0 };
  faults.push(f);
  log(`fault: ${name}`);
  await run();
  f.end = Date.now() - T0;
}

const at = (s: number) => sleep(Math.max(0, T0 + s * 1000 - Date.now()));
const schedule = (async () => {
  const d = DURATION_S;
  await at(d * 0.04);
  if (ROTATE)
    await fault('signing keys rotated (staged), then SIGHUP to every instance', async () => {
      // Not execFileSync: that would stall the load generator (this process) for the CLI's second.
      await promisify(execFile)(NODE, ['src/cli/main.ts', 'keys', 'rotate', '--config', configFile], {
        cwd: REPO,
      });
      for (const inst of instances) inst.proc.kill('SIGHUP');
    });
  await at(d * 0.15);
  await fault('kill -9 of one instance, restarted 3 s later', async () => {
    const victim = instances[1]!;
    victim.proc.kill('SIGKILL');
    await stopped(victim.proc);
    await sleep(3_000);
    startInstance(victim);
    await ready(victim);
  });
  await at(d * 0.35);
  await fault('rolling restart of every instance by SIGTERM', async () => {
    for (const inst of instances) {
      inst.proc.kill('SIGTERM');
      await stopped(inst.proc);
      startInstance(inst);
      await ready(inst);
      // Let HAProxy see it healthy again (rise 2 × 500 ms) before the next one goes.
      await sleep(1_500);
    }
  });
  if (SHAPE !== 'standalone' && SHAPE !== 'cookie') {
    await at(d * 0.6);
    await sleep(3_000); // a quiet moment after the rolling restart, so each fault's figures are its own
    const primary = await keysPrimary();
    await fault(
      SHAPE === 'sentinel'
        ? 'Redis primary SIGKILLed (Sentinel failover)'
        : 'Redis primary of the sessions slot SIGKILLed (Cluster replica promotion)',
      async () => {
        redisShape!.kill(primary);
        // Over when a session answers 200 again through the balancer, on every instance.
        await until(
          'sessions after the Redis failover',
          async () => {
            for (const inst of instances)
              if ((await status(`http://127.0.0.1:${inst.port}/api/check`, { cookie: cookies[0]! })) !== 200)
                return false;
            return (await status(`${publicUrl}/api/check`, { cookie: cookies[0]! })) === 200;
          },
          60_000,
        );
        log(`Redis primary now on ${await keysPrimary()} (was ${primary})`);
      },
    );
  }
  if (SHAPE === 'cookie') {
    await at(d * 0.6);
    await sleep(3_000);
    await fault('cookie.secret rotated (new first, old second) across a rolling restart', async () => {
      writeFileSync(configFile, configText(`[${newSecret}, ${secret}]`));
      for (const inst of instances) {
        inst.proc.kill('SIGTERM');
        await stopped(inst.proc);
        startInstance(inst);
        await ready(inst);
        await sleep(1_500);
      }
    });
    return; // a cookie session cannot be revoked on the server: the sign-out fault is for the Redis shapes
  }
  await at(d * (SHAPE === 'standalone' ? 0.7 : 0.8));
  await fault('sign-out of 100 sessions on random instances', async () => {
    const picks = new Set<number>();
    while (picks.size < Math.min(100, SESSIONS / 2)) picks.add(Math.floor(Math.random() * SESSIONS));
    await Promise.all(
      [...picks].map(async (i) => {
        const inst = instances[Math.floor(Math.random() * instances.length)]!;
        signingOut.add(i);
        const r = await request(`http://127.0.0.1:${inst.port}/oauth2/sign_out`, {
          method: 'POST',
          headers: { cookie: cookies[i]!, origin: publicUrl },
        });
        await r.body.dump();
        if (r.statusCode === 303) signedOut.set(i, Date.now());
        else log(`sign-out of session ${i} answered ${r.statusCode}`);
      }),
    );
  });
})();
await at(DURATION_S);
await schedule;
running = false;
await Promise.all(workers);

// --- after: every session checked on every instance ------------------------------------------------
for (let i = 0; i < SESSIONS; i++) {
  for (const inst of instances) {
    const code = await status(`http://127.0.0.1:${inst.port}/api/check`, { cookie: cookies[i]! });
    if (signedOut.has(i) && code !== 401) undone.add(i);
    if (!signedOut.has(i) && code !== 200) lost.add(i);
  }
}
if (SHAPE === 'cookie') {
  // After the rotation a session sealed with the new secret (a sign-in now) works on every instance too.
  const sealedNew = sealedStore(newSecret);
  for (let i = 0; i < 20; i++) {
    const t = Math.floor(Date.now() / 1000);
    const c = sealedNew
      .write(
        {
          v: 1,
          provider: 'gh',
          identity: { sub: `new-${i}`, groups: [] },
          createdAt: t,
          expiresAt: t + 3600,
        },
        new Map(),
        t,
      )[0]!
      .split(';')[0]!;
    for (const inst of instances)
      if ((await status(`http://127.0.0.1:${inst.port}/api/check`, { cookie: c })) !== 200)
        lost.add(SESSIONS + i);
  }
}
const endStats = instances.map((inst) => procStats(inst.proc.pid));

// --- report ------------------------------------------------------------------------------------------
const okFor = (s: Sample) => s.status === 200 || (s.status === 401 && signingOut.has(s.session));
/** The longest run of time in which requests that should have succeeded did not (ms). */
function longestWindow(from: number, to: number): number {
  let longest = 0;
  let openAt: number | undefined;
  // A request counts in [from, to] when it started and was answered within it.
  for (const s of samples.filter((x) => x.t >= from && x.t + x.ms <= to).sort((a, b) => a.t - b.t)) {
    if (!okFor(s)) {
      openAt ??= s.t;
      longest = Math.max(longest, s.t + s.ms - openAt);
    } else openAt = undefined;
  }
  return longest;
}
const byStatus = new Map<number, number>();
for (const s of samples) byStatus.set(s.status, (byStatus.get(s.status) ?? 0) + 1);
const lat = (from: number, to: number) => {
  const xs = samples.filter((s) => s.t >= from && s.t < to).map((s) => s.ms);
  return `${pct(xs, 50)} / ${pct(xs, 99)}`;
};
const lines: string[] = [];
const w = (l = '') => lines.push(l);
w(
  `# npm run chaos — ${SHAPE === 'cookie' ? 'cookie sessions (no Redis)' : `${SHAPE} Redis`}, ${new Date().toISOString()}`,
);
w();
w(
  `Machine: ${hostname()}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}, ${execFileSync('redis-server', ['--version']).toString().split(' ')[2]}, HAProxy 2.6 round robin with /ready checks every 500 ms.`,
);
w(
  `Run: ${INSTANCES} instances, ${SESSIONS} sessions, ${CONCURRENCY} concurrent clients, ${DURATION_S} s. Every instance shares the machine (and its cores) with the load generator, HAProxy and Redis.`,
);
w(
  `Redis: ${
    {
      standalone: 'one redis-server',
      sentinel: 'a primary, a replica and three redis-sentinel (quorum 2, down-after-milliseconds 1000)',
      cluster: 'six nodes, three primaries with a replica each (cluster-node-timeout 2000)',
      cookie: 'none (sessions.store: cookie: the session is sealed in the cookie)',
    }[SHAPE]
  }.`,
);
w();
w('| figure | value |');
w('|---|---|');
w(`| requests | ${samples.length} (${(samples.length / DURATION_S).toFixed(0)}/s) |`);
w(
  `| responses by status | ${[...byStatus]
    .sort((a, b) => a[0] - b[0])
    .map(([k, v]) => `${k === 0 ? 'connection error' : k}: ${v}`)
    .join(', ')} |`,
);
w(`| sessions lost | ${lost.size} |`);
w(`| sign-outs undone | ${undone.size} (of ${signedOut.size}) |`);
w(`| longest window of non-2xx (whole run) | ${longestWindow(0, Number.POSITIVE_INFINITY)} ms |`);
if (admin)
  w(
    `| Redis memory per session | ${bytesPerSession.toFixed(0)} bytes (≈ ${((1 << 30) / bytesPerSession / 1e6).toFixed(2)} M sessions per GB) |`,
  );
w();
w(
  '| fault | start–end (s) | failed requests during | longest non-2xx window | p50 / p99 ms before | during | after |',
);
w('|---|---|---|---|---|---|---|');
const verdicts: string[] = [];
for (const [k, f] of faults.entries()) {
  const next = faults[k + 1]?.start ?? Number.POSITIVE_INFINITY;
  // A request still in flight when the next fault starts is that fault's, not this one's.
  const during = samples.filter((s) => s.t >= f.start && s.t <= f.end && s.t + s.ms < next);
  const failed = during.filter((s) => !okFor(s)).length;
  // The 2 s after a fault count as its own, unless the next fault has started by then.
  const window = longestWindow(f.start, Math.min(f.end + 2_000, next));
  w(
    `| ${f.name} | ${(f.start / 1000).toFixed(1)}–${(f.end / 1000).toFixed(1)} | ${failed} of ${during.length} | ${window} ms | ${lat(f.start - 5_000, f.start)} | ${lat(f.start, f.end)} | ${lat(f.end, f.end + 5_000)} |`,
  );
  if (f.name.startsWith('kill') && window > PROMISE.killWindowMs)
    verdicts.push(`${f.name}: window ${window} ms > ${PROMISE.killWindowMs} ms promised`);
  if ((f.name.startsWith('rolling') || f.name.startsWith('signing keys')) && failed > PROMISE.rollingErrors)
    verdicts.push(`${f.name}: ${failed} failed requests > ${PROMISE.rollingErrors} promised`);
  if (f.name.startsWith('Redis') && window > PROMISE.redisFailoverWindowMs)
    verdicts.push(`${f.name}: window ${window} ms > ${PROMISE.redisFailoverWindowMs} ms promised`);
}
w();
w('| instance | RSS MB start → end | open descriptors start → end |');
w('|---|---|---|');
instances.forEach((inst, i) => {
  const a = inst.startStats!;
  const b = endStats[i]!;
  w(`| ${inst.port} | ${a.rssMb.toFixed(0)} → ${b.rssMb.toFixed(0)} | ${a.fds} → ${b.fds} |`);
});
w();
w('(Every instance was restarted during the run: "end" is the process running at the end.)');
if (ROTATE) {
  w();
  w(
    `Assertions verified by the upstream, by signing key: ${[...kidsSeen].map(([k, n]) => `${k.slice(0, 8)}…: ${n}`).join(', ')}; refused: ${assertionsRefused}.`,
  );
  if (assertionsRefused > 0) verdicts.push(`${assertionsRefused} assertions refused by the upstream`);
  if (kidsSeen.size < 2) verdicts.push('the rotated key never signed an assertion during the run');
} else if (SHAPE !== 'cookie') {
  w();
  w('(No key rotation: it needs --duration 150 or more, for a staged key to start signing within the run.)');
}
if (lost.size > 0) verdicts.push(`${lost.size} sessions lost`);
if (undone.size > 0) verdicts.push(`${undone.size} sign-outs undone`);
w();
w(verdicts.length === 0 ? '**Verdict: pass.**' : `**Verdict: FAIL** — ${verdicts.join('; ')}`);
const report = `${lines.join('\n')}\n`;
process.stdout.write(report);
mkdirSync(join(REPO, 'bench/results'), { recursive: true });
const out = join(REPO, `bench/results/chaos-${SHAPE}-${new Date().toISOString().slice(0, 10)}.md`);
writeFileSync(out, report);
log(`report written to ${out}`);

// --- teardown ----------------------------------------------------------------------------------------
await storage?.close();
await agent.close();
upstream.close();
procs.cleanup();
process.exit(verdicts.length === 0 ? 0 : 1);
