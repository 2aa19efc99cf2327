/**
 * Resolving the `storage` section (shared by the issuer, the signing keys and server-side sessions): the
 * file path made absolute, the Redis connection (standalone, Sentinel or Cluster) with its secrets read
 * from their files, and the checks that span fields. Problems are collected, never thrown one by one.
 * Lives with the storage (not the issuer) so opening a storage (src/storage/open.ts) depends on nothing
 * above it.
 */
import { resolve } from 'node:path';
import { type RedisConnection, resolveRedis } from './redis.ts';
import type { StorageConfig } from './schema/issuer.ts';

export interface ResolvedStorage extends StorageConfig {
  /** `path` made absolute against the working directory. */
  readonly file: string;
  /** From `password` or `passwordFile`. */
  readonly passwordValue: string | undefined;
  /** Type redis: where and how to connect. */
  readonly redis: RedisConnection | undefined;
}

type ReadSecret = (file: string, key: string) => string | undefined;

export function resolveStorage(
  s: StorageConfig,
  problems: string[],
  readSecret: ReadSecret,
): ResolvedStorage {
  if (s.password !== undefined && s.passwordFile !== undefined) {
    problems.push('storage: set either password or passwordFile, not both');
  }
  const passwordValue =
    s.password ??
    (s.passwordFile !== undefined ? readSecret(s.passwordFile, 'storage.passwordFile')?.trim() : undefined);
  const redis =
    s.type === 'redis'
      ? resolveRedis('storage', 'type redis', s, passwordValue, problems, readSecret)
      : undefined;
  return { ...s, file: resolve(s.path), passwordValue, redis };
}
