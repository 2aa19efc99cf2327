// Idle RSS of `portcullis serve`, A/B: each variant started ROUNDS times, interleaved (A B A B …), the
// configuration of bench/memory.ts (proxy mode, one OIDC provider, one upstream, cookie sessions, no issuer,
// metrics on their own listener); the median per variant. For reducing start-up memory one step at a time:
// build the old tree in one directory and the new one in another, and compare them in one run.
//
// Usage: node bench/idle.ts
//   VARIANTS="base=/tmp/portcullis-base new=."  name=directory (its bin/portcullis.js, so its dist/), and
//     name=directory:--flag,--flag for node flags of its own
//   ROUNDS=6  WAIT=2000 (ms after /ping first answers, as bench/memory.ts)  MODULES=1 (also count the
//     modules loaded, through a module hook in a preload: it adds a little memory of its own)
// Prints per variant the median idle VmRSS, and from /proc/<pid>/smaps_rollup the anonymous and the
// file-backed parts, the time from spawn to the first answer of /ping (polled every 20 ms) and the CPU time
// used by then (utime + stime of all threads, 10 ms ticks); no preload unless MODULES=1 (bench/memory.ts's probe adds ~1 MB).
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const REPO = resolve(import.meta.dirname, '..');
const NODE = process.execPath;
const env = process.env;
const ROUNDS = Number(env['ROUNDS'] ?? 6);
const WAIT = Number(env['WAIT'] ?? 2000);
const MODULES = env['MODULES'] === '1';
const VARIANTS = (env['VARIANTS'] ?? `new=${REPO}`)
  .split(/\s+/)
  .filter(Boolean)
  .map((v) => {
    const [name, rest = ''] = v.split(/=(.*)/s);
    const [dir = '', flags = ''] = rest.split(/:(.*)/s);
    return { name: name!, dir: resolve(dir), flags: flags.split(',').filter(Boolean) };
  });

const log = (m: string) => process.stderr.write(`[idle ${new Date().toISOString().slice(11, 19)}] ${m}\n`);
const mb = (kb: number) => (kb / 1024).toFixed(1);
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

// MODULES=1: a preload that counts the modules loaded (ESM and CommonJS, through module.registerHooks) and
// writes the list when it gets SIGUSR2.
const MODULES_SRC = `
import { registerHooks } from 'node:module'; import fs from 'node:fs';
const seen = new Set();
registerHooks({ load(url, ctx, next) { seen.add(url); return next(url, ctx); } });
process.on('SIGUSR2', () => fs.writeFileSync(process.env.IDLE_MODULES_FILE, [...seen].join('\\n')));`;

const started: ChildProcess[] = [];
process.on('exit', () => {
  for (const c of started) if (c.exitCode === null) c.kill('SIGTERM');
});
process.on('SIGINT', () => process.exit(130));

function freePort(): Promise<number> {
  return new Promise((ok) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => ok(port));
    });
  });
}

async function startReady(script: string, args: string[]): Promise<void> {
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
}

/** kB figures of /proc/<pid>/smaps_rollup and VmRSS. */
function memory(pid: number) {
  const roll = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kb = (text: string, k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0);
  const rss = kb(readFileSync(`/proc/${pid}/status`, 'utf8'), 'VmRSS');
  const anon = kb(roll, 'Anonymous');
  // CPU time so far, all threads, both sides of serve's restart (execve keeps the task): utime + stime.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const cpuMs = (Number(f[11]) + Number(f[12])) * 10;
  return { rss, anon, file: kb(roll, 'Rss') - anon, cpuMs };
}

const dir = mkdtempSync(join(tmpdir(), 'portcullis-idle-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const [appPort, idpPort, gwPort] = [await freePort(), await freePort(), await freePort()];
const gwUrl = `http://127.0.0.1:${gwPort}`;
const secret = randomBytes(24).toString('base64url');
await startReady('app.ts', [String(appPort)]);
await startReady('idp.ts', [String(idpPort), 'portcullis-idle', secret, `${gwUrl}/oauth2/callback`]);
const cfgFile = join(dir, 'portcullis.yaml');
writeFileSync(
  cfgFile,
  `publicUrl: ${gwUrl}\nlisten: 127.0.0.1:${gwPort}\ncookie:\n  secret: ${randomBytes(32).toString('base64url')}
providers:\n  - id: dev\n    type: oidc\n    issuer: http://127.0.0.1:${idpPort}\n    clientId: portcullis-idle
    clientSecret: ${secret}\nupstreams:\n  - path: /\n    url: http://127.0.0.1:${appPort}
logging:\n  level: warn\nmetrics:\n  listen: 127.0.0.1:0\n`,
);

async function once(v: (typeof VARIANTS)[number]) {
  const modulesFile = join(dir, `modules-${v.name}`);
  const flags = [
    ...v.flags,
    ...(MODULES ? ['--import', `data:text/javascript,${encodeURIComponent(MODULES_SRC)}`] : []),
  ];
  const child = spawn(NODE, [...flags, join(v.dir, 'bin/portcullis.js'), 'serve', '--config', cfgFile], {
    cwd: v.dir,
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...env, IDLE_MODULES_FILE: modulesFile },
  });
  started.push(child);
  const t0 = performance.now();
  for (let i = 0; ; i++) {
    if (child.exitCode !== null || i > 1500) throw new Error(`${v.name}: no /ping within 30 s`);
    if (
      await fetch(`${gwUrl}/ping`).then(
        (r) => r.ok,
        () => false,
      )
    )
      break;
    await sleep(20);
  }
  const startMs = performance.now() - t0;
  await sleep(WAIT);
  const m = memory(child.pid!);
  let modules: string[] = [];
  if (MODULES) {
    rmSync(modulesFile, { force: true });
    child.kill('SIGUSR2');
    for (let i = 0; i < 100 && !existsSync(modulesFile); i++) await sleep(50);
    modules = readFileSync(modulesFile, 'utf8').split('\n');
  }
  child.kill('SIGTERM');
  await new Promise((ok) => child.once('exit', ok));
  return { ...m, startMs, modules };
}

const results = new Map(VARIANTS.map((v) => [v.name, [] as Awaited<ReturnType<typeof once>>[]]));
for (let r = 0; r < ROUNDS; r++) {
  // Alternate the order each round so neither variant always runs right after the other.
  const order = r % 2 ? [...VARIANTS].reverse() : VARIANTS;
  for (const v of order) {
    const m = await once(v);
    results.get(v.name)!.push(m);
    log(
      `round ${r + 1} ${v.name}: ${mb(m.rss)} MB (anon ${mb(m.anon)}, file ${mb(m.file)}), /ping after ${Math.round(m.startMs)} ms, CPU ${m.cpuMs} ms`,
    );
  }
}
const lines = [
  `| variant | idle RSS MB, median of ${ROUNDS} (min–max) | anonymous MB | file-backed MB | first /ping ms | CPU ms at idle |${MODULES ? ' modules |' : ''}`,
  `|---|---|---|---|---|---|${MODULES ? '---|' : ''}`,
];
for (const [name, ms] of results) {
  const rss = ms.map((m) => m.rss);
  const count = ms[0]?.modules.filter((u) => u.startsWith('file:')).length;
  lines.push(
    `| ${name} | ${mb(median(rss))} (${mb(Math.min(...rss))}–${mb(Math.max(...rss))}) | ${mb(median(ms.map((m) => m.anon)))} | ${mb(median(ms.map((m) => m.file)))} | ${Math.round(median(ms.map((m) => m.startMs)))} | ${median(ms.map((m) => m.cpuMs))} |${MODULES ? ` ${count} |` : ''}`,
  );
}
process.stdout.write(`${lines.join('\n')}\n`);
if (env['MODULES_OUT'] && MODULES) {
  const out = Object.fromEntries([...results].map(([n, ms]) => [n, ms[0]?.modules ?? []]));
  writeFileSync(env['MODULES_OUT'], `${JSON.stringify(out, null, 2)}\n`);
}
process.exit(0);
