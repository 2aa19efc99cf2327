/**
 * Resolving the `sessions` section: the checks that span its fields (a redis store needs a URL; redis
 * settings are refused with the other stores, where they would silently do nothing) and the password read
 * from its file. Problems are collected, never thrown one by one.
 */
import type { SessionsConfig } from './schema.ts';

export interface ResolvedSessions extends SessionsConfig {
  /** From `password` or `passwordFile` (store redis). */
  readonly passwordValue: string | undefined;
}

type ReadSecret = (file: string, key: string) => string | undefined;

/** A URL without user name and password, for messages. */
function redact(url: string): string {
  const u = URL.parse(url);
  if (u === null) return url.replace(/\/\/[^@/]*@/, '//');
  u.username = '';
  u.password = '';
  return u.href;
}

export function resolveSessions(
  s: SessionsConfig,
  problems: string[],
  readSecret: ReadSecret,
): ResolvedSessions {
  if (s.store === 'redis') {
    if (s.url === undefined) {
      problems.push(
        'sessions.url: store redis needs a URL, e.g. redis://127.0.0.1:6379/0 (or set sessions.store: storage to keep sessions in the storage section)',
      );
    } else if (!URL.canParse(s.url) || !/^rediss?:$/.test(new URL(s.url).protocol)) {
      problems.push(`sessions.url: "${redact(s.url)}" is not a redis:// or rediss:// URL`);
    }
  } else {
    for (const key of ['url', 'password', 'passwordFile'] as const) {
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
  return { ...s, passwordValue };
}
