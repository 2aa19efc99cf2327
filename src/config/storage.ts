/**
 * Resolving the `storage` section (shared by the issuer, the signing keys and server-side sessions): the
 * file path made absolute, the Redis password read from its file, and the checks that span fields.
 * Problems are collected, never thrown one by one. Lives with the storage (not the issuer) so opening a
 * storage (src/storage/open.ts) depends on nothing above it.
 */
import { resolve } from 'node:path';
import type { StorageConfig } from './schema/issuer.ts';

export interface ResolvedStorage extends StorageConfig {
  /** `path` made absolute against the working directory. */
  readonly file: string;
  /** From `password` or `passwordFile`. */
  readonly passwordValue: string | undefined;
}

type ReadSecret = (file: string, key: string) => string | undefined;

export function resolveStorage(
  s: StorageConfig,
  problems: string[],
  readSecret: ReadSecret,
): ResolvedStorage {
  if (s.type === 'redis') {
    if (s.url === undefined)
      problems.push('storage.url: type redis needs a URL, e.g. redis://127.0.0.1:6379/0');
    else if (!URL.canParse(s.url) || !/^rediss?:$/.test(new URL(s.url).protocol)) {
      problems.push(`storage.url: "${s.url}" is not a redis:// or rediss:// URL`);
    }
  }
  if (s.password !== undefined && s.passwordFile !== undefined) {
    problems.push('storage: set either password or passwordFile, not both');
  }
  const passwordValue =
    s.password ??
    (s.passwordFile !== undefined ? readSecret(s.passwordFile, 'storage.passwordFile')?.trim() : undefined);
  return { ...s, file: resolve(s.path), passwordValue };
}
