/**
 * Resolving the `sessions` section: the checks that span its fields (a redis store needs a connection —
 * url, sentinels or cluster; redis settings are refused with the other stores, where they would silently
 * do nothing) and the secrets read from their files. Problems are collected, never thrown one by one.
 */
import { REDIS_CONNECTION_KEYS, type RedisConnection, resolveRedis } from './redis.ts';
import type { SessionsConfig } from './schema.ts';

export interface ResolvedSessions extends SessionsConfig {
  /** From `password` or `passwordFile` (store redis). */
  readonly passwordValue: string | undefined;
  /** Store redis: where and how to connect (standalone, Sentinel or Cluster). */
  readonly redis: RedisConnection | undefined;
}

type ReadSecret = (file: string, key: string) => string | undefined;

export function resolveSessions(
  s: SessionsConfig,
  problems: string[],
  readSecret: ReadSecret,
  storageType: string,
): ResolvedSessions {
  // The local cache is safe only with invalidations every instance hears: redis pub/sub. Sqlite has no
  // way to tell another process (or worker) that a session ended, so the cache would serve it for up
  // to localCache.seconds after a sign-out.
  if (
    s.localCache !== undefined &&
    s.store !== 'redis' &&
    !(s.store === 'storage' && storageType === 'redis')
  )
    problems.push(
      `sessions.localCache: needs invalidations every instance hears (redis pub/sub), and ${s.store === 'storage' ? `sessions.store is storage with storage.type: ${storageType}` : 'sessions.store is cookie'}; remove sessions.localCache, or set sessions.store: redis`,
    );
  if (s.store !== 'redis') {
    for (const key of ['url', 'password', 'passwordFile', ...REDIS_CONNECTION_KEYS] as const) {
      if (s[key] !== undefined)
        problems.push(
          `sessions.${key}: only used with store redis (store is ${s.store}); remove it, or set sessions.store: redis`,
        );
    }
  }
  if (s.password !== undefined && s.passwordFile !== undefined) {
    problems.push('sessions: set either password or passwordFile, not both');
  }
  const passwordValue =
    s.password ??
    (s.passwordFile !== undefined && s.store === 'redis'
      ? readSecret(s.passwordFile, 'sessions.passwordFile')?.trim()
      : undefined);
  const redis =
    s.store === 'redis'
      ? resolveRedis('sessions', 'store redis', s, passwordValue, problems, readSecret)
      : undefined;
  return { ...s, passwordValue, redis };
}
