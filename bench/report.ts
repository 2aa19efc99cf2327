// Reads bench/run/results.jsonl (written by bench/run.sh), prints one table and writes results.md and
// results.json next to it. Usage: node bench/report.ts RESULTS_JSONL OUT_DIR
// A missed target is reported (MISS), never an exit code: the bench measures, it does not gate.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

interface Meta {
  kind: 'meta';
  date: string;
  node: string;
  wrk: string;
  cpus: number;
  server_cpus: string;
  wrk_cpus: string;
  threads: number;
  connections: number;
  duration: string;
  warmup: string;
  repeat: number;
  path: string;
  clk_tck: number;
}

interface WrkSummary {
  requests: number;
  duration_us: number;
  bytes: number;
  err_connect: number;
  err_read: number;
  err_write: number;
  err_status: number;
  err_timeout: number;
  lat_mean_us: number;
  lat_p50_us: number;
  lat_p90_us: number;
  lat_p99_us: number;
  lat_max_us: number;
}

interface WrkLine {
  kind: 'wrk';
  target: string;
  round: number;
  url: string;
  wrk: WrkSummary;
  /** `parts`: the target's processes one by one (nginx and Portcullis for forward-auth), when recorded. */
  cpu_ticks: { target: number; app: number; parts?: Record<string, number> };
  cpu_proc: string;
  expected_bytes: number;
}

interface Run {
  round: number;
  requests: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  /** CPU time of the target's own process per request: the proxy's for proxies, the app's for direct. */
  cpuUsPerReq: number;
  appCpuUsPerReq: number;
  /** CPU per request of each of the target's processes. */
  partsUsPerReq: Record<string, number>;
  avgBytes: number;
  check: string;
}

interface Row extends Run {
  target: string;
  description: string;
  rounds: number;
  rpsMin: number;
  rpsMax: number;
  cpuMin: number;
  cpuMax: number;
  p99Min: number;
  p99Max: number;
}

const CPU_RATIO_TARGET = 1.15;
const P99_DELTA_TARGET_MS = 1;

const DESCRIPTIONS: Record<string, string> = {
  direct: 'sample app, no proxy',
  baseline: 'node:http + undici Pool proxy, no auth',
  portcullis: 'Portcullis, valid session cookie',
  nginx: 'nginx proxying the app, no auth (the floor)',
  'nginx-fa': 'nginx auth_request -> Portcullis /oauth2/auth (keep-alive), no cache',
  'nginx-fa-cache': 'the same, nginx caching the 202 (forwardAuth.cacheSeconds)',
  'nginx-fa-bare': 'nginx-fa asking a bare node:http 202 (bench/servers/bare-auth.ts): the Node floor',
};

/** Issue 14, goal 1: forward-auth behind nginx as a share of nginx alone's req/s. */
const FA_TARGETS: Record<string, number> = { 'nginx-fa': 0.55, 'nginx-fa-cache': 0.9 };

const [input, outDir] = process.argv.slice(2);
if (!input || !outDir) {
  process.stderr.write('usage: report.ts RESULTS_JSONL OUT_DIR\n');
  process.exit(2);
}

const lines = readFileSync(input, 'utf8')
  .split('\n')
  .filter((l) => l.trim() !== '')
  .map((l) => JSON.parse(l) as Meta | WrkLine);
const meta = lines.find((l): l is Meta => l.kind === 'meta');
if (!meta) throw new Error(`${input}: no meta line`);
const wrkLines = lines.filter((l): l is WrkLine => l.kind === 'wrk');

function toRun(l: WrkLine, clkTck: number): Run {
  const w = l.wrk;
  const requests = Math.max(w.requests, 1);
  const errors = w.err_connect + w.err_read + w.err_write + w.err_status + w.err_timeout;
  const avgBytes = w.bytes / requests;
  const problems: string[] = [];
  if (errors > 0)
    problems.push(
      `${errors} errors (connect ${w.err_connect}, read ${w.err_read}, write ${w.err_write}, status ${w.err_status}, timeout ${w.err_timeout})`,
    );
  // Every response should be the 200 seen in the checks: a redirect, an error page or a re-issued cookie
  // on some responses would change the average size.
  if (Math.abs(avgBytes - l.expected_bytes) >= 0.5)
    problems.push(`avg response ${avgBytes.toFixed(1)} B, expected ${l.expected_bytes} B`);
  return {
    round: l.round,
    requests: w.requests,
    rps: w.requests / (w.duration_us / 1e6),
    p50Ms: w.lat_p50_us / 1000,
    p99Ms: w.lat_p99_us / 1000,
    cpuUsPerReq: ((l.cpu_ticks.target / clkTck) * 1e6) / requests,
    appCpuUsPerReq: ((l.cpu_ticks.app / clkTck) * 1e6) / requests,
    partsUsPerReq: Object.fromEntries(
      Object.entries(l.cpu_ticks.parts ?? {}).map(([k, t]) => [k, ((t / clkTck) * 1e6) / requests]),
    ),
    avgBytes,
    check: problems.length === 0 ? 'ok' : problems.join('; '),
  };
}

const targets = [...new Set(wrkLines.map((l) => l.target))];
const rows: Row[] = targets.map((target) => {
  const runs = wrkLines.filter((l) => l.target === target).map((l) => toRun(l, meta.clk_tck));
  // The median round by the headline figure, CPU per request (the lower median for an even count).
  const sorted = [...runs].sort((a, b) => a.cpuUsPerReq - b.cpuUsPerReq);
  const median = sorted[Math.floor((sorted.length - 1) / 2)]!;
  const rps = runs.map((r) => r.rps);
  const cpu = runs.map((r) => r.cpuUsPerReq);
  const p99 = runs.map((r) => r.p99Ms);
  const failed = runs.filter((r) => r.check !== 'ok');
  return {
    ...median,
    check: failed.length === 0 ? 'ok' : failed.map((r) => `round ${r.round}: ${r.check}`).join(' | '),
    target,
    description: DESCRIPTIONS[target] ?? target,
    rounds: runs.length,
    rpsMin: Math.min(...rps),
    rpsMax: Math.max(...rps),
    cpuMin: Math.min(...cpu),
    cpuMax: Math.max(...cpu),
    p99Min: Math.min(...p99),
    p99Max: Math.max(...p99),
  };
});

const direct = rows.find((r) => r.target === 'direct');
const baseline = rows.find((r) => r.target === 'baseline');
const portcullis = rows.find((r) => r.target === 'portcullis');

const int = (n: number) => Math.round(n).toLocaleString('en-US');
const f1 = (n: number) => n.toFixed(1);
const f2 = (n: number) => n.toFixed(2);

interface Verdict {
  cpuRatio: number;
  cpuPass: boolean;
  p99DeltaMs: number;
  p99Pass: boolean;
}
const verdict: Verdict | undefined =
  baseline && portcullis
    ? {
        cpuRatio: portcullis.cpuUsPerReq / baseline.cpuUsPerReq,
        cpuPass: portcullis.cpuUsPerReq / baseline.cpuUsPerReq <= CPU_RATIO_TARGET,
        p99DeltaMs: portcullis.p99Ms - baseline.p99Ms,
        p99Pass: portcullis.p99Ms - baseline.p99Ms <= P99_DELTA_TARGET_MS,
      }
    : undefined;

const header = [
  'target',
  'req/s',
  'req/s range',
  'p50 ms',
  'p99 ms',
  'p99 range',
  'CPU us/req',
  'CPU range',
  'app CPU us/req',
  'CPU vs baseline',
  'p99 vs baseline',
  'check',
];
const table: string[][] = rows.map((r) => {
  const isPortcullis = r.target === 'portcullis' && verdict;
  const cpuVs =
    baseline && r.target !== 'direct'
      ? `${f2(r.cpuUsPerReq / baseline.cpuUsPerReq)}x${isPortcullis ? (verdict.cpuPass ? ' PASS' : ' MISS') : ''}`
      : '-';
  const delta = baseline ? r.p99Ms - baseline.p99Ms : 0;
  const p99Vs =
    baseline && r.target !== 'direct' && r.target !== 'baseline'
      ? `${delta >= 0 ? '+' : ''}${f2(delta)} ms${isPortcullis ? (verdict.p99Pass ? ' PASS' : ' MISS') : ''}`
      : '-';
  return [
    r.target,
    int(r.rps),
    r.rounds > 1 ? `${int(r.rpsMin)}-${int(r.rpsMax)}` : '-',
    f2(r.p50Ms),
    f2(r.p99Ms),
    r.rounds > 1 ? `${f1(r.p99Min)}-${f1(r.p99Max)}` : '-',
    r.target === 'direct' ? `(${f1(r.cpuUsPerReq)})` : f1(r.cpuUsPerReq),
    r.rounds > 1 ? `${f1(r.cpuMin)}-${f1(r.cpuMax)}` : '-',
    f1(r.appCpuUsPerReq),
    cpuVs,
    p99Vs,
    r.check,
  ];
});

const numeric = new Set([1, 2, 3, 4, 5, 6, 7, 8]);
const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i]!.length)));
const fmt = (cells: string[]) =>
  cells
    .map((c, i) => (numeric.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
    .join('  ')
    .trimEnd();

const pinning =
  meta.server_cpus !== '' ? `servers on CPU ${meta.server_cpus}, wrk on CPU ${meta.wrk_cpus}` : 'not pinned';
const setup =
  `${meta.wrk}: ${meta.threads} threads, ${meta.connections} connections, ${meta.duration} per target after a ` +
  `${meta.warmup} warm-up, ${meta.repeat} interleaved round(s) (median round by CPU/req shown); ` +
  `GET ${meta.path} with the session cookie on every target; ${meta.cpus} CPUs, ${pinning}; Node ${meta.node}`;

const summary: string[] = [];
if (verdict && baseline && portcullis) {
  summary.push(
    `Portcullis CPU per authenticated request: ${f1(portcullis.cpuUsPerReq)} us = ${f2(verdict.cpuRatio)}x the baseline's ${f1(baseline.cpuUsPerReq)} us (target <= ${CPU_RATIO_TARGET}x): ${verdict.cpuPass ? 'PASS' : 'MISS'}`,
    `Portcullis p99: ${f2(portcullis.p99Ms)} ms vs the baseline's ${f2(baseline.p99Ms)} ms: ${verdict.p99DeltaMs >= 0 ? '+' : ''}${f2(verdict.p99DeltaMs)} ms (target <= +${P99_DELTA_TARGET_MS} ms): ${verdict.p99Pass ? 'PASS' : 'MISS'}`,
  );
  const perRound = [...new Set(wrkLines.map((l) => l.round))].flatMap((round) => {
    const b = wrkLines.find((l) => l.target === 'baseline' && l.round === round);
    const p = wrkLines.find((l) => l.target === 'portcullis' && l.round === round);
    return b && p ? [toRun(p, meta.clk_tck).cpuUsPerReq / toRun(b, meta.clk_tck).cpuUsPerReq] : [];
  });
  if (perRound.length > 1)
    summary.push(`CPU ratio Portcullis/baseline per round: ${perRound.map((r) => `${f2(r)}x`).join(', ')}`);
  if (direct)
    summary.push(
      `req/s: Portcullis ${f2(portcullis.rps / baseline.rps)}x the baseline, ${f2(portcullis.rps / direct.rps)}x direct; baseline ${f2(baseline.rps / direct.rps)}x direct`,
    );
}
const floor = rows.find((r) => r.target === 'nginx');
const forwardAuth: { target: string; rpsRatio: number; goal: number; pass: boolean; cpuRatio: number }[] = [];
if (floor) {
  for (const r of rows) {
    const goal = FA_TARGETS[r.target];
    if (goal === undefined) continue;
    const rpsRatio = r.rps / floor.rps;
    forwardAuth.push({
      target: r.target,
      rpsRatio,
      goal,
      pass: rpsRatio >= goal,
      cpuRatio: r.cpuUsPerReq / floor.cpuUsPerReq,
    });
    const parts = Object.entries(r.partsUsPerReq)
      .map(([k, v]) => `${k} ${f1(v)}`)
      .join(' + ');
    summary.push(
      `${r.target}: ${int(r.rps)} req/s = ${rpsRatio.toFixed(3)}x nginx alone's ${int(floor.rps)} (goal >= ${goal}x): ${rpsRatio >= goal ? 'PASS' : 'MISS'}; ` +
        `CPU ${f1(r.cpuUsPerReq)} us/req (${parts}) vs nginx's ${f1(floor.cpuUsPerReq)}`,
    );
  }
}
const bare = rows.find((r) => r.target === 'nginx-fa-bare');
const fa = rows.find((r) => r.target === 'nginx-fa');
if (bare && fa) {
  const pc = fa.partsUsPerReq['portcullis'];
  const node = bare.partsUsPerReq['bare-auth'];
  if (pc !== undefined && node !== undefined)
    summary.push(
      `/oauth2/auth: Portcullis ${f1(pc)} us/req vs a bare node:http 202 ${f1(node)} us/req (${f2(pc / node)}x; ${f1(pc - node)} us of its own)`,
    );
}
const notes = [
  'CPU us/req: user+system CPU of the target process (all threads; /proc/<pid>/stat) during the measured run / requests.',
  '  For direct it is the app itself (in parentheses); for the proxies it excludes the app (app CPU us/req).',
  'For nginx-fa and nginx-fa-cache CPU us/req is nginx and the Portcullis it asks together (both listed below).',
  'Reference, CPU per proxied request: nginx ~50 us, Node proxy on undici ~150 us, node:http + http.Agent ~250 us,',
  '  Apache + mod_auth_openidc ~270-330 us.',
];

const out = [setup, '', fmt(header), ...table.map(fmt), '', ...summary, '', ...notes].join('\n');
process.stdout.write(`${out}\n`);

const md = [
  `# Portcullis bench, ${meta.date}`,
  '',
  setup,
  '',
  `| ${header.join(' | ')} |`,
  `|${header.map((_, i) => (numeric.has(i) ? '---:' : '---')).join('|')}|`,
  ...table.map((row) => `| ${row.join(' | ')} |`),
  '',
  ...summary.map((s) => `- ${s}`),
  '',
  ...notes,
  '',
].join('\n');
writeFileSync(join(outDir, 'results.md'), md);
writeFileSync(
  join(outDir, 'results.json'),
  `${JSON.stringify({ meta, rows, verdict: verdict ?? null, forwardAuth, runs: wrkLines }, null, 2)}\n`,
);
