/**
 * Whether what Portcullis talks to besides the IdP answers: each upstream, the session store and the
 * issuer's storage (Redis is PINGed; a sqlite file must be writable).
 */
import { accessSync, constants, existsSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Cluster, Redis, RedisOptions } from 'ioredis';
import { request as undiciRequest } from 'undici';
import type { RedisConnection } from '../config/redis.ts';
import { type Check, fail, ok, type Result, warn } from './finding.ts';
import { describeNetworkError } from './http.ts';
import type { StoreScope, UpstreamScope } from './scope.ts';

export const upstreamReach: Check<UpstreamScope> = {
  id: 'upstream.reach',
  when: 'live',
  title: 'each upstream answers HTTP (any status)',
  async run({ upstream }, io) {
    // Never wait longer than Portcullis itself would for the upstream's headers.
    const timeoutMs = Math.min(io.timeoutMs, upstream.timeout * 1000);
    const started = performance.now();
    // undici's request, like the proxy (src/proxy/forward.ts): fetch would refuse the Fetch standard's
    // "bad ports" (6000, 6665-6669, …) that the proxy reaches fine.
    try {
      const res = await undiciRequest(upstream.url, {
        method: 'GET',
        headers: { 'user-agent': 'portcullis-check' },
        signal: AbortSignal.timeout(timeoutMs),
      });
      await res.body.dump();
      const ms = Math.round(performance.now() - started);
      return ok(`${upstream.url} answers (HTTP ${res.statusCode}, ${ms} ms)`);
    } catch (err) {
      return fail(
        `upstream ${upstream.name} at ${upstream.url} does not answer: ${describeNetworkError(err, timeoutMs)}`,
        { fix: `start the application, or correct the url of upstream ${upstream.name}` },
      );
    }
  },
};

/** A Redis URL without its user name and password, for messages. */
export function redactUrl(url: string): string {
  const u = URL.parse(url);
  if (u === null) return '(invalid URL)';
  u.username = '';
  u.password = '';
  return u.href;
}

/** Where a connection points, for messages (no credentials). */
export function describeConnection(c: RedisConnection): string {
  const s = c.shape;
  const nodes = (n: readonly { host: string; port: number }[]) =>
    n.map((x) => `${x.host}:${x.port}`).join(',');
  if (s.kind === 'standalone') return `redis at ${redactUrl(s.url)}`;
  if (s.kind === 'sentinel') return `redis primary "${s.masterName}" through sentinels ${nodes(s.sentinels)}`;
  return `redis cluster (seeds ${nodes(s.nodes)})`;
}

/**
 * Connects, PINGs and disconnects; never throws. Every shape the runtime uses (src/storage/redis.ts) —
 * standalone, Sentinel (asks the sentinels for the primary, then PINGs it) and Cluster (loads the slot map,
 * then PINGs) — with no retries, so a dead server fails fast.
 */
export async function pingConnection(
  c: RedisConnection,
  timeoutMs: number,
): Promise<{ ok: true; ms: number } | { ok: false; error: string }> {
  const started = performance.now();
  const common: RedisOptions = {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
    ...(c.username !== undefined ? { username: c.username } : {}),
    ...(c.password !== undefined ? { password: c.password } : {}),
    ...(c.tls !== undefined ? { tls: { ...c.tls } } : {}),
  };
  // Loaded here, not at import: every command (serve too) imports the doctor through the CLI, and ioredis
  // holds ~20 MB of RSS that a deployment without redis does without.
  const { Cluster: ClusterClient, Redis: RedisClient } = await import('ioredis');
  const s = c.shape;
  const redis: Redis | Cluster =
    s.kind === 'standalone'
      ? new RedisClient(s.url, common)
      : s.kind === 'sentinel'
        ? new RedisClient({
            ...common,
            sentinels: s.sentinels.map((n) => ({ host: n.host, port: n.port })),
            name: s.masterName,
            sentinelRetryStrategy: () => null,
            ...(s.sentinelUsername !== undefined ? { sentinelUsername: s.sentinelUsername } : {}),
            ...(s.sentinelPassword !== undefined ? { sentinelPassword: s.sentinelPassword } : {}),
            ...(c.tls !== undefined ? { enableTLSForSentinelMode: true, sentinelTLS: { ...c.tls } } : {}),
          })
        : new ClusterClient(
            s.nodes.map((n) => ({ host: n.host, port: n.port })),
            {
              lazyConnect: true,
              enableOfflineQueue: false,
              redisOptions: common,
              clusterRetryStrategy: () => null,
              slotsRefreshTimeout: timeoutMs,
            },
          );
  let first: Error | undefined;
  redis.on('error', (err: Error) => {
    first ??= err;
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    const pong = await Promise.race([
      redis.connect().then(() => redis.ping()),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    if (pong !== 'PONG') return { ok: false, error: `PING answered ${JSON.stringify(pong)}` };
    return { ok: true, ms: Math.round(performance.now() - started) };
  } catch (err) {
    return { ok: false, error: (first ?? (err as Error)).message };
  } finally {
    clearTimeout(timer);
    redis.disconnect();
  }
}

/** A standalone Redis by URL (what `sessions.url` / `storage.url` name). */
export function pingRedis(url: string, password: string | undefined, timeoutMs: number) {
  return pingConnection({ shape: { kind: 'standalone', url }, password }, timeoutMs);
}

async function redisResult(
  what: string,
  c: RedisConnection,
  timeoutMs: number,
  key: string,
): Promise<Result> {
  const r = await pingConnection(c, timeoutMs);
  const where = describeConnection(c);
  if (r.ok) return ok(`${what}: ${where} answers PING (${r.ms} ms)`);
  return fail(`${what}: ${where} does not answer: ${r.error}`, {
    fix: /NOAUTH|WRONGPASS|invalid password/i.test(r.error)
      ? `check the redis user and password (${key})`
      : `start redis, or correct ${key}`,
  });
}

export const sessionStore: Check<StoreScope> = {
  id: 'sessions.store',
  when: 'live',
  title: 'the session store answers: redis PING (cookie sessions have nothing to reach)',
  async run({ config }, io) {
    const sessions = config.sessions;
    switch (sessions.store) {
      case 'cookie':
        return ok('sessions live in the encrypted cookie: nothing to reach');
      case 'redis':
        if (sessions.redis === undefined)
          return fail('sessions.store is redis but no connection is set (url, sentinels or cluster)');
        return redisResult(
          'sessions',
          sessions.redis,
          io.timeoutMs,
          'sessions.url (or sentinels, cluster) / sessions.username, password',
        );
      case 'storage':
        return ok(`sessions live in the storage section (${config.storage.type}): see storage.reach`);
      default:
        return warn(`session store "${String(sessions.store)}" cannot be checked by this version`);
    }
  },
};

/** The issuer keeps its state in `storage`; without an issuer nothing uses it yet. */
export const storage: Check<StoreScope> = {
  id: 'storage.reach',
  when: 'live',
  title:
    'the storage section answers (issuer, sessions.store storage): redis PING, or a writable sqlite file',
  async run({ config }, io) {
    const s = (config as { readonly storage?: (typeof config)['storage'] }).storage;
    // Used by the issuer, and by sessions with store: storage; otherwise nothing reads it.
    if (s === undefined || (config.issuer === undefined && config.sessions.store !== 'storage'))
      return undefined;
    switch (s.type) {
      case 'memory':
        return warn(
          'storage.type is memory: issuer state is lost on restart and not shared between instances',
          {
            fix: 'use storage.type sqlite (one instance) or redis (several)',
          },
        );
      case 'redis':
        if (s.redis === undefined)
          return fail('storage.type is redis but no connection is set (url, sentinels or cluster)');
        return redisResult(
          'storage',
          s.redis,
          io.timeoutMs,
          'storage.url (or sentinels, cluster) / storage.username, password',
        );
      case 'sqlite': {
        // SqliteStorage creates missing directories: the nearest one that exists must be writable.
        let target = s.file;
        while (!existsSync(target) && dirname(target) !== target) target = dirname(target);
        try {
          accessSync(target, constants.R_OK | constants.W_OK);
        } catch (err) {
          return fail(
            `storage: ${target} is not writable (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
            { fix: 'create the directory and give the Portcullis user write access, or change storage.path' },
          );
        }
        return ok(
          existsSync(s.file)
            ? `storage: sqlite ${s.file} is writable`
            : `storage: sqlite ${s.file} will be created`,
        );
      }
      default:
        return warn(
          `storage type "${String((s as { type: unknown }).type)}" cannot be checked by this version`,
        );
    }
  },
};
