/**
 * What `npm run chaos` (run.ts) and its soak mode (soak.ts) share: processes that are always killed at the
 * end, readiness polls, HAProxy's configuration, an instance's figures from /proc, and a session written
 * into the store as a sign-in would write it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import type { Session } from '../../src/sessions/session.ts';

export const REPO = new URL('../..', import.meta.url).pathname;
/** The pinned Node of the checkout (never the system's). */
export const NODE = join(REPO, 'node_modules/.bin/node');

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

let t0 = Date.now();
/** The run's clock starts again (the load starts): log lines and figures count from here. */
export function resetClock(): number {
  t0 = Date.now();
  return t0;
}
export const log = (m: string) => process.stderr.write(`[${((Date.now() - t0) / 1000).toFixed(1)}s] ${m}\n`);

export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

export async function until(what: string, check: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await sleep(100);
  }
  throw new Error(`chaos: ${what} not ready within ${ms} ms`);
}

export async function status(url: string, headers: Record<string, string> = {}): Promise<number> {
  const r = await request(url, { headers, headersTimeout: 5_000, bodyTimeout: 5_000 });
  await r.body.dump();
  return r.statusCode;
}

export interface ProcStats {
  readonly rssMb: number;
  readonly fds: number;
}

/** Resident memory (VmRSS) and open descriptors of a process, from /proc. */
export function procStats(pid: number | undefined): ProcStats {
  if (pid === undefined) return { rssMb: Number.NaN, fds: Number.NaN };
  const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return { rssMb: Number(rss) / 1024, fds: readdirSync(`/proc/${pid}/fd`).length };
}

export const stopped = (p: ChildProcess) =>
  new Promise<void>((r) => (p.exitCode !== null || p.signalCode !== null ? r() : p.once('exit', () => r())));

/** The p-th percentile (nearest rank) of xs; NaN for none. */
export function pct(xs: readonly number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

/**
 * The processes of one run and its scratch directory. Whatever happens (an error, Ctrl-C, the end), every
 * process started here is SIGKILLed and the directory removed; `onCleanup` adds what else must go
 * (a Redis shape of test/support/redis-shapes.ts).
 */
export class Procs {
  readonly dir = mkdtempSync(join(tmpdir(), 'portcullis-chaos-'));
  readonly #children = new Set<ChildProcess>();
  readonly #hooks: (() => void)[] = [];

  constructor() {
    process.on('exit', () => this.cleanup());
    for (const sig of ['SIGINT', 'SIGTERM'] as const)
      process.on(sig, () => {
        this.cleanup();
        process.exit(130);
      });
  }

  start(cmd: string, argv: string[], name: string, env?: NodeJS.ProcessEnv): ChildProcess {
    const p = spawn(cmd, argv, {
      cwd: REPO,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(env ? { env: { ...process.env, ...env } } : {}),
    });
    // Portcullis logs JSON lines to stdout (logging.level: warn), with pino's numeric levels (40 warn,
    // 50 error, 60 fatal): its warnings and errors go into the run's log.
    p.stdout?.on('data', (d: Buffer) => {
      for (const line of d.toString().split('\n'))
        if (/"level":(40|50|60)\b/.test(line)) log(`${name}: ${line.slice(0, 400)}`);
    });
    p.stderr?.on('data', (d: Buffer) => {
      const text = d.toString().trim();
      if (text && !/shutting down/.test(text)) log(`${name}: ${text.slice(0, 300)}`);
    });
    this.#children.add(p);
    p.once('exit', () => this.#children.delete(p));
    return p;
  }

  onCleanup(hook: () => void): void {
    this.#hooks.push(hook);
  }

  cleanup(): void {
    for (const p of this.#children) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    this.#children.clear();
    for (const hook of this.#hooks.splice(0)) hook();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** One redis-server on loopback, no persistence. */
export async function startRedis(procs: Procs): Promise<{ port: number; url: string }> {
  const port = await freePort();
  procs.start(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    'redis',
  );
  return { port, url: `redis://127.0.0.1:${port}/0` };
}

/**
 * HAProxy in front of the instances: round robin, /ready checked every 500 ms (out after `fall` failures,
 * one by default, back after two successes), and a refused or dropped connection retried on another server.
 * A check answered later than 500 ms (`checkTimeout` unless given) counts as failed.
 */
export function haproxyConfig(
  lbPort: number,
  ports: readonly number[],
  o: { fall?: number; checkTimeout?: string } = {},
): string {
  return `global
  maxconn 4096
defaults
  mode http
  timeout connect 1s
  timeout client 30s
  timeout server 30s
${o.checkTimeout === undefined ? '' : `  timeout check ${o.checkTimeout}\n`}  retries 3
  option redispatch
  # A refused or dropped connection (an instance killed, a listener closed) is retried on another server.
  retry-on conn-failure empty-response
frontend fe
  bind 127.0.0.1:${lbPort}
  default_backend portcullis
backend portcullis
  balance roundrobin
  option httpchk GET /ready
  http-check expect status 200
${ports.map((port, i) => `  server p${i} 127.0.0.1:${port} check inter 500ms fall ${o.fall ?? 1} rise 2`).join('\n')}
`;
}

/** The session of user i, as a GitHub sign-in at `now` would store it (12 hours). */
export function sessionOf(i: number, now: number): Session {
  return {
    v: 1,
    provider: 'gh',
    identity: { sub: `user-${i}`, email: `user-${i}@example.com`, groups: ['staff'] },
    createdAt: now,
    expiresAt: now + 12 * 3600,
  };
}
