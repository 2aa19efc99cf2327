// Reads bench/run/results.jsonl (written by bench/run.sh) and the phases' outputs next to it, prints the
// report and writes it as OUT_DIR/results.md and results.json, and, given RESULT_BASE, also as
// RESULT_BASE.md and RESULT_BASE.json (bench/results/<date>-bench.*).
// Usage: node bench/report.ts RESULTS_JSONL OUT_DIR [RESULT_BASE]
// A missed target is reported (MISS), never an exit code: the bench measures, it does not gate.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { goalLines, type PhaseOut, type Row } from './report-goals.ts';

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
  rules_path?: string;
  clk_tck: number;
  quick?: boolean;
  note?: string;
  machine?: Record<string, string | number>;
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
  lat_p50_us: number;
  lat_p99_us: number;
}

interface WrkLine {
  kind: 'wrk';
  target: string;
  round: number;
  url: string;
  wrk: WrkSummary;
  /** `parts`: the target's processes one by one (nginx and Portcullis for forward-auth). */
  cpu_ticks: { target: number; app: number; parts?: Record<string, number> };
  cpu_proc: string;
  expected_bytes: number;
}

interface PhaseLine {
  kind: 'phase';
  name: string;
  status: 'ok' | 'failed' | 'timeout' | 'absent';
  exit: number;
}

interface EndLine {
  kind: 'end';
  date: string;
  loadavg_end: string;
}

type Run = Omit<
  Row,
  'target' | 'description' | 'rounds' | 'rpsMin' | 'rpsMax' | 'cpuMin' | 'cpuMax' | 'p99Min' | 'p99Max'
>;

const DESCRIPTIONS: Record<string, string> = {
  direct: 'sample app, no proxy',
  baseline: 'node:http + undici Pool proxy, no auth (the Node floor)',
  portcullis: 'Portcullis, proxy mode, cookie sessions',
  'portcullis-redis': 'Portcullis, server-side sessions in Redis',
  'portcullis-redis-cached': 'the same with sessions.localCache (pub/sub invalidation)',
  'portcullis-assertion': 'Portcullis, signed identity assertion on (X-Portcullis-Assertion)',
  'portcullis-rules': 'Portcullis, 10 route rules (groups, e-mails), request under the last',
  nginx: 'nginx proxying the app, no auth (the floor)',
  'nginx-fa': 'nginx auth_request -> Portcullis /oauth2/auth (keep-alive), no cache',
  'nginx-fa-cache': 'the same, nginx caching the 202 (forwardAuth.cacheSeconds)',
  'nginx-fa-bare': 'nginx-fa asking a bare node:http 202 (bench/servers/bare-auth.ts)',
  'apache-proxy': 'Apache mod_proxy, no auth',
  'apache-oidc': 'Apache + mod_auth_openidc, server-side sessions (shm)',
  'apache-oidc-cookie': 'Apache + mod_auth_openidc, client-cookie sessions',
};

const [input, outDir, resultBase] = process.argv.slice(2);
if (!input || !outDir) {
  process.stderr.write('usage: report.ts RESULTS_JSONL OUT_DIR [RESULT_BASE]\n');
  process.exit(2);
}

const lines = readFileSync(input, 'utf8')
  .split('\n')
  .filter((l) => l.trim() !== '')
  .map((l) => JSON.parse(l) as Meta | WrkLine | PhaseLine | EndLine);
const found = lines.find((l): l is Meta => l.kind === 'meta');
if (!found) throw new Error(`${input}: no meta line`);
const meta: Meta = found;
const wrkLines = lines.filter((l): l is WrkLine => l.kind === 'wrk');
const phaseLines = lines.filter((l): l is PhaseLine => l.kind === 'phase');
const end = lines.find((l): l is EndLine => l.kind === 'end');

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
const row = (t: string) => rows.find((r) => r.target === t);
const baseline = row('baseline');
const portcullis = row('portcullis');

/** CPU per request of `t` over CPU per request of `b`, per round (the spread says how noisy a ratio is). */
function perRoundRatio(t: string, b: string): number[] {
  return [...new Set(wrkLines.map((l) => l.round))].flatMap((round) => {
    const x = wrkLines.find((l) => l.target === t && l.round === round);
    const y = wrkLines.find((l) => l.target === b && l.round === round);
    return x && y ? [toRun(x, meta.clk_tck).cpuUsPerReq / toRun(y, meta.clk_tck).cpuUsPerReq] : [];
  });
}

const int = (n: number) => Math.round(n).toLocaleString('en-US');
const f1 = (n: number) => n.toFixed(1);
const f2 = (n: number) => n.toFixed(2);

const header = [
  'target',
  'req/s',
  'req/s range',
  'p50 ms',
  'p99 ms',
  'CPU us/req',
  'CPU range',
  'app CPU us/req',
  'CPU vs baseline',
  'CPU vs portcullis',
  'check',
];
const numeric = new Set([1, 2, 3, 4, 5, 6, 7, 8, 9]);
const table: string[][] = rows.map((r) => [
  r.target,
  int(r.rps),
  r.rounds > 1 ? `${int(r.rpsMin)}-${int(r.rpsMax)}` : '-',
  f2(r.p50Ms),
  f2(r.p99Ms),
  r.target === 'direct' ? `(${f1(r.cpuUsPerReq)})` : f1(r.cpuUsPerReq),
  r.rounds > 1 ? `${f1(r.cpuMin)}-${f1(r.cpuMax)}` : '-',
  f1(r.appCpuUsPerReq),
  baseline && r.target !== 'direct' ? `${f2(r.cpuUsPerReq / baseline.cpuUsPerReq)}x` : '-',
  portcullis && r.target !== 'direct' ? `${f2(r.cpuUsPerReq / portcullis.cpuUsPerReq)}x` : '-',
  r.check,
]);
const widths = header.map((h, i) => Math.max(h.length, ...table.map((t) => t[i]!.length)));
const fmt = (cells: string[]) =>
  cells
    .map((c, i) => (numeric.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
    .join('  ')
    .trimEnd();

// --- phases: their markdown and the JSON they wrote (run/phase-<name>.md / .json) -------------------------
const runDir = dirname(input);
const phases: PhaseOut[] = phaseLines.map((p) => {
  const mdPath = join(runDir, `phase-${p.name}.md`);
  const jsonPath = join(runDir, `phase-${p.name}.json`);
  let json: unknown;
  try {
    json = existsSync(jsonPath) ? JSON.parse(readFileSync(jsonPath, 'utf8')) : undefined;
  } catch {
    json = undefined;
  }
  return {
    name: p.name,
    status: p.status,
    exit: p.exit,
    md: existsSync(mdPath) ? readFileSync(mdPath, 'utf8').trim() : '',
    json,
  };
});

const goals = goalLines(rows, phases, perRoundRatio);

// --- the texts ----------------------------------------------------------------------------------------
const m = meta.machine ?? {};
const pinning =
  meta.server_cpus !== '' ? `servers on CPU ${meta.server_cpus}, wrk on CPU ${meta.wrk_cpus}` : 'not pinned';
const machine = [
  `${meta.cpus} CPUs (${m['cpu_model'] ?? '?'}), ${m['mem_mb'] ?? '?'} MB, ${m['os'] ?? '?'}, ${m['kernel'] ?? '?'}`,
  `Node ${meta.node}; ${meta.wrk}; ${m['nginx'] || 'nginx -'}; ${m['apache'] || 'Apache -'}, mod_auth_openidc ${m['mod_auth_openidc'] || '-'}; Redis ${m['redis'] || '-'}`,
  `load average ${m['loadavg_start'] ?? '?'} at the start, ${end?.loadavg_end ?? '?'} at the end; commit ${m['commit'] ?? '?'}; ${meta.date} to ${end?.date ?? '?'}`,
  ...(meta.note ? [meta.note] : []),
];
const setup =
  `wrk: ${meta.threads} threads, ${meta.connections} connections, ${meta.duration} per target after a ` +
  `${meta.warmup} warm-up, ${meta.repeat} interleaved round(s) (median round by CPU/req shown)${meta.quick ? ' (QUICK=1)' : ''}; ` +
  `GET ${meta.path} with the session cookie on every target (portcullis-rules: GET ${meta.rules_path ?? '?'}); ${pinning}`;
const notes = [
  'CPU us/req: user+system CPU of the target process(es) (all threads; /proc/<pid>/stat) during the measured run / requests.',
  'For direct it is the app itself (in parentheses); for the proxies it excludes the app (app CPU us/req).',
  'nginx-fa*: nginx and the Portcullis (or bare 202 server) it asks, together. apache-*: the Apache main process and its workers.',
  'The Apache targets sign in again right before each run (mod_auth_openidc re-issues a session cookie older than 60 s).',
  "portcullis-redis*: the Redis server's own CPU is not counted (a shared system service).",
];

const portcullisRows = rows.filter((r) => r.target.startsWith('portcullis-'));
const modeLines = portcullis
  ? portcullisRows.map((r) => {
      const pr = perRoundRatio(r.target, 'portcullis');
      return `${r.target}: ${f1(r.cpuUsPerReq)} us/req = ${f2(r.cpuUsPerReq / portcullis.cpuUsPerReq)}x cookie mode's ${f1(portcullis.cpuUsPerReq)}${baseline ? `, ${f2(r.cpuUsPerReq / baseline.cpuUsPerReq)}x the baseline` : ''}; ${int(r.rps)} req/s${pr.length > 1 ? ` (per round ${pr.map((x) => `${f2(x)}x`).join(', ')})` : ''}`;
    })
  : [];

const phaseSections = phases.map((p) => {
  if (p.status === 'absent')
    return `### ${p.name}\n\nNot run: bench/${p.name}.ts or .sh is not on this branch.`;
  const head =
    p.status === 'ok' ? '' : `**${p.status}** (exit ${p.exit}; see bench/run/phase-${p.name}.log)\n\n`;
  const body = p.md || '(no output)';
  return /^#{1,3} /.test(body) && p.status === 'ok' ? body : `### ${p.name}\n\n${head}${body}`;
});

const out = [
  setup,
  '',
  fmt(header),
  ...table.map(fmt),
  '',
  'Issue 14 goals:',
  ...goals.map((g) => `  ${g}`),
  '',
  ...modeLines,
  '',
  ...phaseSections.flatMap((p) => [p, '']),
  ...machine,
].join('\n');
process.stdout.write(`${out}\n`);

const md = [
  `# Portcullis bench, ${meta.date.slice(0, 10)}`,
  '',
  `\`npm run bench\`${meta.quick ? ' with QUICK=1' : ''}. Machine: ${machine.map((l) => l.replace(/\.+$/, '')).join('. ')}.`,
  '',
  setup,
  '',
  '## Issue 14 goals',
  '',
  ...goals.map((g) => `- ${g}`),
  '',
  '## Throughput and CPU per request (wrk)',
  '',
  `| ${header.join(' | ')} |`,
  `|${header.map((_, i) => (numeric.has(i) ? '---:' : '---')).join('|')}|`,
  ...table.map((r) => `| ${r.join(' | ')} |`),
  '',
  `Targets: ${rows.map((r) => `\`${r.target}\` ${r.description}`).join('; ')}.`,
  '',
  ...modeLines.map((l) => `- ${l}`),
  '',
  ...notes.map((n) => `- ${n}`),
  '',
  ...(phaseSections.length ? ['## Phases', '', ...phaseSections.flatMap((s) => [s, ''])] : []),
].join('\n');
const json = `${JSON.stringify({ meta, end: end ?? null, rows, goals, phases, runs: wrkLines }, null, 2)}\n`;
writeFileSync(join(outDir, 'results.md'), md);
writeFileSync(join(outDir, 'results.json'), json);
if (resultBase) {
  writeFileSync(`${resultBase}.md`, md);
  writeFileSync(`${resultBase}.json`, json);
}
