// How long does signing in through Portcullis take, as a browser sees it? Starts the dev IdP
// (servers/idp.ts), the sample app (servers/app.ts) and two Portcullis instances (the CLI, generated
// configs), identical except for `autoLogin` (on: a protected page redirects straight to the IdP; off: to
// the sign-in page, whose one button the script clicks). Then signs in N times per instance, interleaved:
//
//   fresh  a new cookie jar: the protected page → the IdP's login form → POST credentials → … → the page
//   sso    the IdP's session kept, Portcullis's cookies dropped: no form
//
// The scripted browser is the tests' (test/support/browser.ts) with one keep-alive agent, as the peer
// benchmark's apps/login.mjs has: connections are reused across steps and sign-ins. It prints medians and
// p90 as markdown (per login, per step, and Portcullis's own calls to the IdP from its metrics) and writes
// the same as JSON to BENCH_OUT when set.
//
//   node bench/login-timing.ts                     # LOGINS=40 per instance and kind, after WARMUP=5
//   LOGINS=200 BENCH_OUT=run/login.json node bench/login-timing.ts
//   MODES=auto node bench/login-timing.ts         # only the autoLogin instance (MODES="auto page" default)
//   PROFILE_DIR=/tmp/prof node bench/login-timing.ts   # Portcullis under --cpu-prof (bench/profile-summary.ts)
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Browser, type BrowserResponse, type Exchange } from '../test/support/browser.ts';

const LOGINS = Number(process.env['LOGINS'] ?? 40);
const WARMUP = Number(process.env['WARMUP'] ?? 5);
const MODES = (process.env['MODES'] ?? 'auto page').split(/\s+/).filter(Boolean) as Mode[];
const OUT = process.env['BENCH_OUT'];
const PROFILE_DIR = process.env['PROFILE_DIR'];
const REPO = new URL('..', import.meta.url).pathname;
const NODE = process.execPath;

type Mode = 'auto' | 'page';
type Kind = 'fresh' | 'sso';

for (const m of MODES) if (m !== 'auto' && m !== 'page') throw new Error(`MODES: unknown mode ${m}`);

// --- processes, stopped by PID at exit ---------------------------------------------------------
const children: ChildProcess[] = [];
const dir = mkdtempSync(join(tmpdir(), 'portcullis-login-timing-'));
function stopAll() {
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
}
process.on('exit', stopAll);
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(130));

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** Starts `node args…` and waits for its `ready <url>` line (servers/*.ts print one). */
function startServer(name: string, args: string[]): Promise<string> {
  const child = spawn(NODE, args, { cwd: REPO, stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d;
      const m = /ready (\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code} before it was ready`)));
  });
}

async function waitFor(url: string, name: string, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      http
        .get(url, (res) => {
          res.resume();
          resolve(res.statusCode === 200);
        })
        .on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${name} did not answer ${url}`);
}

interface Instance {
  readonly mode: Mode;
  readonly url: string;
  readonly metrics: string;
}

const secret = randomBytes(24).toString('base64url');
const [idpPort, appPort, ...ports] = await Promise.all(
  [0, 1, ...MODES.flatMap(() => [0, 1])].map(() => freePort()),
);
const gateways = MODES.map((mode, i) => ({
  mode,
  port: ports[2 * i]!,
  metricsPort: ports[2 * i + 1]!,
}));
const redirectUris = gateways.map((g) => `http://127.0.0.1:${g.port}/oauth2/callback`);
const [issuer, appUrl] = await Promise.all([
  startServer('idp', ['bench/servers/idp.ts', String(idpPort), 'portcullis', secret, redirectUris.join(',')]),
  startServer('app', ['bench/servers/app.ts', String(appPort)]),
]);

const instances: Instance[] = [];
for (const g of gateways) {
  // JSON is YAML: the configuration a deployment would write, autoLogin the only difference.
  const config = {
    publicUrl: `http://127.0.0.1:${g.port}`,
    listen: `127.0.0.1:${g.port}`,
    cookie: { secret: randomBytes(32).toString('base64url') },
    providers: [{ id: 'bench', type: 'oidc', issuer, clientId: 'portcullis', clientSecret: secret }],
    autoLogin: g.mode === 'auto',
    upstreams: [{ path: '/', url: appUrl }],
    logging: { level: 'warn' },
    metrics: { listen: `127.0.0.1:${g.metricsPort}` },
  };
  const file = join(dir, `portcullis-${g.mode}.yaml`);
  writeFileSync(file, JSON.stringify(config, null, 2), { mode: 0o600 });
  // PROFILE_DIR: Portcullis runs with --cpu-prof (a .cpuprofile per instance, written when it stops).
  const prof = PROFILE_DIR
    ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`, `--cpu-prof-name=${g.mode}.cpuprofile`]
    : [];
  const child = spawn(NODE, [...prof, 'src/cli/main.ts', 'serve', '--config', file], {
    cwd: REPO,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  children.push(child);
  const url = `http://127.0.0.1:${g.port}`;
  await waitFor(`${url}/ping`, `portcullis (${g.mode})`, child);
  instances.push({ mode: g.mode, url, metrics: `http://127.0.0.1:${g.metricsPort}/metrics` });
}

// --- the scripted browser --------------------------------------------------------------------------
const agent = new http.Agent({ keepAlive: true, maxSockets: 6 });
let exchanges: Exchange[] = [];
const browser = () => new Browser({ agent, onExchange: (e) => exchanges.push(e) });

/** Where a login starts and must end: a protected page of the sample app. */
const PAGE = '/reports?week=49';

interface Login {
  readonly ms: number;
  readonly requests: number;
  readonly steps: readonly { label: string; ms: number }[];
}

async function login(b: Browser, inst: Instance, kind: Kind): Promise<Login> {
  exchanges = [];
  const t0 = performance.now();
  let r: BrowserResponse = await b.get(inst.url + PAGE);
  if (inst.mode === 'page') {
    // The sign-in page with its one button: the user clicks it.
    const href = /href="(\/oauth2\/start\?[^"]+)"/.exec(r.body)?.[1];
    if (!href) throw new Error(`${inst.mode}: expected the sign-in page, got ${r.status} at ${r.url}`);
    r = await b.get(new URL(href.replaceAll('&amp;', '&'), inst.url));
  }
  const forms = /<form[^>]*id="login"/.test(r.body) ? 1 : 0;
  if (forms) r = await b.signInAtDevIdp(r, 'alice', 'alice');
  const ms = performance.now() - t0;
  if (r.status !== 200 || r.url !== inst.url + PAGE)
    throw new Error(`${inst.mode} ${kind}: ended with ${r.status} at ${r.url}: ${r.body.slice(0, 200)}`);
  if (forms !== (kind === 'fresh' ? 1 : 0))
    throw new Error(`${inst.mode} ${kind}: ${forms ? 'a login form' : 'no login form'} at the IdP`);
  return {
    ms,
    requests: exchanges.length,
    steps: exchanges.map((e) => ({ label: label(e, inst), ms: e.ms })),
  };
}

/** `portcullis GET /oauth2/callback`, `idp POST /interaction/:id/login`: ids and queries left out. */
function label(e: Exchange, inst: Instance): string {
  const u = new URL(e.url);
  const who = u.origin === inst.url ? 'portcullis' : u.origin === issuer ? 'idp' : u.origin;
  const path = u.pathname.replace(/\/[A-Za-z0-9_-]{16,}(?=\/|$)/g, '/:id');
  return `${who} ${e.method} ${path} → ${e.status}`;
}

function dropGatewayCookies(b: Browser) {
  for (const c of b.jar.all()) if (/^portcullis/.test(c.name)) b.jar.delete(c.name);
}

/** Portcullis's own calls to the IdP (portcullis_idp_request_duration_seconds): count and seconds per endpoint. */
async function idpCalls(inst: Instance): Promise<Record<string, { count: number; sum: number }>> {
  const text = await new Promise<string>((resolve, reject) => {
    http
      .get(inst.metrics, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => {
          body += d;
        });
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
  const out: Record<string, { count: number; sum: number }> = {};
  for (const m of text.matchAll(/^portcullis_idp_request_duration_seconds_(sum|count)\{([^}]*)\} (\S+)$/gm)) {
    const endpoint = /endpoint="([^"]+)"/.exec(m[2]!)?.[1] ?? '?';
    out[endpoint] ??= { count: 0, sum: 0 };
    out[endpoint][m[1] as 'sum' | 'count'] += Number(m[3]);
  }
  return out;
}

// --- the runs ----------------------------------------------------------------------------------------
const sso = new Map(instances.map((i) => [i, browser()]));
for (const inst of instances) {
  for (let i = 0; i < WARMUP; i++) {
    const b = browser();
    await login(b, inst, 'fresh');
    dropGatewayCookies(b);
    await login(b, inst, 'sso');
  }
  await login(sso.get(inst)!, inst, 'fresh');
}
const before = new Map(await Promise.all(instances.map(async (i) => [i, await idpCalls(i)] as const)));
const results = new Map<string, Login[]>();
const key = (inst: Instance, kind: Kind) => `${inst.mode} ${kind}`;
for (let i = 0; i < LOGINS; i++) {
  for (const inst of instances) {
    const fresh = await login(browser(), inst, 'fresh');
    const b = sso.get(inst)!;
    dropGatewayCookies(b);
    const again = await login(b, inst, 'sso');
    for (const [kind, r] of [
      ['fresh', fresh],
      ['sso', again],
    ] as const) {
      const k = key(inst, kind);
      results.set(k, [...(results.get(k) ?? []), r]);
    }
  }
}
const after = new Map(await Promise.all(instances.map(async (i) => [i, await idpCalls(i)] as const)));

// --- the report -----------------------------------------------------------------------------------------
function stats(xs: readonly number[]) {
  const s = [...xs].sort((a, b) => a - b);
  const at = (p: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]!;
  const median = s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  const r = (v: number) => Math.round(v * 100) / 100;
  return { n: s.length, median_ms: r(median), p90_ms: r(at(0.9)), min_ms: r(s[0]!), max_ms: r(s.at(-1)!) };
}

const MODE_NAME: Record<Mode, string> = {
  auto: 'autoLogin: true',
  page: 'autoLogin: false (sign-in page, one click)',
};
const json = {
  logins: LOGINS,
  warmup: WARMUP,
  node: process.versions.node,
  client: 'test/support/browser.ts with a keep-alive agent (maxSockets 6), one process with the servers',
  runs: instances.flatMap((inst) =>
    (['fresh', 'sso'] as const).map((kind) => {
      const rs = results.get(key(inst, kind))!;
      const labels = [...new Set(rs.flatMap((r) => r.steps.map((s) => s.label)))];
      return {
        mode: inst.mode,
        autoLogin: inst.mode === 'auto',
        kind,
        browser_requests: rs[0]!.requests,
        portcullis_requests: rs[0]!.steps.filter((s) => s.label.startsWith('portcullis ')).length,
        ...stats(rs.map((r) => r.ms)),
        samples: rs.map((r) => Math.round(r.ms * 100) / 100),
        steps: labels.map((l) => ({
          step: l,
          ...stats(rs.flatMap((r) => r.steps.filter((s) => s.label === l).map((s) => s.ms))),
        })),
      };
    }),
  ),
  idp_calls: Object.fromEntries(
    instances.map((inst) => {
      const a = after.get(inst)!;
      const b = before.get(inst)!;
      return [
        inst.mode,
        Object.fromEntries(
          Object.entries(a).map(([ep, v]) => {
            const count = v.count - (b[ep]?.count ?? 0);
            const sum = v.sum - (b[ep]?.sum ?? 0);
            return [ep, { count, mean_ms: count ? Math.round((sum / count) * 1e5) / 100 : 0 }];
          }),
        ),
      ];
    }),
  ),
};

/** With both instances: the median over rounds of (autoLogin on ÷ off), each round's sign-ins side by side. */
function pairedRatios(): string[] {
  const on = (kind: Kind) => results.get(`auto ${kind}`);
  const off = (kind: Kind) => results.get(`page ${kind}`);
  if (!on('fresh') || !off('fresh')) return [];
  const ratio = (kind: Kind) => {
    const r = on(kind)!
      .map((x, i) => x.ms / off(kind)![i]!.ms)
      .sort((a, b) => a - b);
    return (r[Math.floor((r.length - 1) / 2)]! as number).toFixed(3);
  };
  return [
    '',
    `autoLogin on ÷ off, median of the per-round ratios: fresh ${ratio('fresh')}, SSO ${ratio('sso')}.`,
  ];
}

const lines = [
  `Sign-ins through Portcullis at the dev IdP: ${LOGINS} per row after ${WARMUP} unmeasured, the instances interleaved (Node ${process.versions.node}).`,
  '',
  '| instance | sign-in | browser requests | of them Portcullis | median ms | p90 ms | min ms | max ms |',
  '|---|---|---|---|---|---|---|---|',
  ...json.runs.map(
    (r) =>
      `| ${MODE_NAME[r.mode]} | ${r.kind} | ${r.browser_requests} | ${r.portcullis_requests} | ${r.median_ms} | ${r.p90_ms} | ${r.min_ms} | ${r.max_ms} |`,
  ),
  ...pairedRatios(),
  '',
  'Per step (median ms of each request, as the browser sees it):',
  '',
  '| instance | sign-in | step | median ms | p90 ms |',
  '|---|---|---|---|---|',
  ...json.runs.flatMap((r) =>
    r.steps.map((s) => `| ${r.mode} | ${r.kind} | ${s.step} | ${s.median_ms} | ${s.p90_ms} |`),
  ),
  '',
  'Portcullis’s own calls to the IdP during the measured sign-ins (portcullis_idp_request_duration_seconds):',
  '',
  '| instance | endpoint | calls | mean ms |',
  '|---|---|---|---|',
  ...Object.entries(json.idp_calls).flatMap(([mode, eps]) =>
    Object.entries(eps).map(([ep, v]) => `| ${mode} | ${ep} | ${v.count} | ${v.mean_ms} |`),
  ),
];
process.stdout.write(`${lines.join('\n')}\n`);
if (OUT) writeFileSync(OUT, `${JSON.stringify(json, null, 2)}\n`);
agent.destroy();
// Stopped by SIGTERM, each Portcullis shuts down gracefully (and writes its profile) before we exit.
await Promise.all(
  children.map(
    (c) =>
      new Promise((resolve) => {
        if (c.exitCode !== null) return resolve(undefined);
        c.once('exit', resolve);
        c.kill('SIGTERM');
      }),
  ),
);
process.exit(0);
