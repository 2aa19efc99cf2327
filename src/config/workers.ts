/**
 * `server.workers`: how many processes serve requests (src/server/primary.ts forks them). Workers share
 * nothing in memory, so whatever one of them writes that another must read has to live outside the
 * process. What is safe per process, and why:
 *
 * - cookie sessions: the whole session is in the cookie, any worker opens it with the cookie key;
 * - sessions.store redis, and storage sqlite or redis: every worker reads and writes the same entries (the
 *   server-side session store is written for several instances: locks and compare-and-set in the store);
 *   sqlite runs in WAL mode with a 5 s busy timeout and takes the write lock first (BEGIN IMMEDIATE), so
 *   processes on one host take turns (src/storage/sqlite.ts);
 * - caches (forward-auth decisions, bearer keys, decrypted sessions checked against the store): a worker
 *   fills its own, as separate instances do. So does sessions.localCache, which serves sessions without a
 *   store read: each worker subscribes to the invalidations on its own connection, and every write
 *   publishes one before it is answered, so a sign-out in one worker reaches the others as it reaches
 *   other instances (and the option is refused without redis, src/config/sessions.ts).
 *
 * storage.type memory is not: each worker would hold its own grants, sessions and signing keys. And
 * metrics.insecureOnMainListener would show whichever worker answered, not the whole process group.
 */
import { availableParallelism } from 'node:os';
import type { UpstreamConfig } from './schema.ts';

export type WorkersSetting = number | 'auto';

/** The number of worker processes `server.workers` asks for on this host (auto: one per available core). */
export function workerCount(workers: WorkersSetting): number {
  return workers === 'auto' ? availableParallelism() : workers;
}

interface Input {
  readonly server: { readonly workers: WorkersSetting };
  readonly storage: { readonly type: string };
  readonly sessions: { readonly store: string };
  readonly issuer?: unknown;
  readonly upstreams: readonly Pick<UpstreamConfig, 'assertion'>[];
  readonly metrics: { readonly enabled: boolean; readonly insecureOnMainListener: boolean };
}

/**
 * The settings that keep state in one process's memory, refused when more than one worker would need it.
 * `auto` counts as several whatever the host: a configuration must not be valid on a laptop with one core
 * and refused on the server.
 */
export function workerProblems(c: Input): string[] {
  const w = c.server.workers;
  if (w === 1) return [];
  const n = `server.workers is ${w}`;
  const shared = 'every worker must read what another wrote';
  const fix = 'set storage.type: sqlite (one host) or redis, or server.workers: 1';
  const out: string[] = [];
  if (c.storage.type === 'memory') {
    if (c.issuer !== undefined)
      out.push(
        `storage.type: memory keeps the issuer's grants, codes, tokens and signing keys inside each worker, and ${n}: a code issued by one worker would be unknown to the next (${shared}); ${fix}`,
      );
    if (c.sessions.store === 'storage')
      out.push(
        `sessions.store: storage with storage.type: memory keeps each session inside the worker that made it, and ${n}: the next request may reach another worker and be signed out; ${fix}, or sessions.store: cookie or redis`,
      );
    const i = c.upstreams.findIndex((u) => u.assertion !== undefined && u.assertion.enabled !== false);
    if (i >= 0 && c.issuer === undefined)
      out.push(
        `upstreams[${i}].assertion: its signing keys would be generated per worker with storage.type: memory, and ${n}: /oauth2/jwks would list only the answering worker's keys; ${fix}`,
      );
  }
  if (c.metrics.enabled && c.metrics.insecureOnMainListener)
    out.push(
      `metrics.insecureOnMainListener: true would show the counts of whichever worker answers, and ${n}; serve metrics on metrics.listen (the primary process sums every worker there), or set server.workers: 1`,
    );
  return out;
}
