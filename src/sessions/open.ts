/**
 * Builds the session store `sessions.store` names. Opening its storage is asynchronous (a redis
 * connection that must answer at start-up) and done once per process; the store on top of it is rebuilt
 * with every configuration reload, so rotated cookie secrets take effect.
 */
import type { ResolvedConfig } from '../config/load.ts';
import { sameRedis } from '../config/redis.ts';
import type { Logger } from '../observability/log.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { ChangeFeed, Storage } from '../storage/storage.ts';
import { type CookieNames, CookieSessionStore } from './cookie-store.ts';
import type { CookieOptions } from './cookies.ts';
import { LocalSessionCache } from './local-cache.ts';
import type { Sealer } from './sealer.ts';
import { SESSION_KIND } from './server-entries.ts';
import { ServerSessionStore } from './server-store.ts';
import type { SessionStore } from './store.ts';

/** Only one warning per this many ms about a failing store: the 503s themselves are logged per request. */
const WARN_EVERY_MS = 10_000;

/**
 * The storage of a server-side session store, or undefined for cookie sessions: with store storage the
 * gateway's `storage` (shared with the issuer and the assertion keys), with store redis a connection of
 * its own, which fails with a clear message when redis does not answer at start-up (as `storage` does).
 */
export async function openSessionStorage(
  config: ResolvedConfig,
  log: Logger,
  shared: Storage | undefined,
): Promise<Storage | undefined> {
  const s = config.sessions;
  if (s.store === 'cookie') return undefined;
  if (s.store === 'storage') {
    if (shared === undefined)
      throw new TypeError('sessions.store storage: the storage section was not opened');
    return shared;
  }
  // ioredis is loaded only for a redis store (~20 MB of RSS that cookie sessions do without).
  const { RedisStorage } = await import('../storage/redis.ts');
  let last = 0;
  try {
    return await RedisStorage.connect({
      connection: s.redis,
      url: s.url,
      password: s.passwordValue,
      keyPrefix: s.keyPrefix,
      onError: (err) => {
        if (Date.now() - last < WARN_EVERY_MS) return;
        last = Date.now();
        log.warn(
          { event: 'session-store.redis-error', err: err.message },
          'session store: redis connection problem',
        );
      },
    });
  } catch (err) {
    const why = (err as Error).message.replace(/^storage: /, '');
    throw new Error(`sessions: ${why} — start redis, or correct sessions.url (or sentinels, cluster)`, {
      cause: err,
    });
  }
}

/** Whether a new configuration needs a restart to change where sessions live. */
export function sessionStorageChanged(before: ResolvedConfig, after: ResolvedConfig): boolean {
  const a = before.sessions;
  const b = after.sessions;
  if (a.store !== b.store) return true;
  if (a.store === 'redis') return a.keyPrefix !== b.keyPrefix || !sameRedis(a.redis, b.redis);
  if (a.store === 'storage')
    return (
      before.storage.type !== after.storage.type ||
      before.storage.file !== after.storage.file ||
      !sameRedis(before.storage.redis, after.storage.redis) ||
      before.storage.keyPrefix !== after.storage.keyPrefix
    );
  return false;
}

export interface SessionStoreDeps {
  readonly sealer: Sealer;
  readonly names: CookieNames;
  readonly cookieOptions: CookieOptions;
  readonly log: Logger;
  readonly metrics: Metrics;
  /** From openSessionStorage; required unless sessions.store is cookie. */
  readonly storage: Storage | undefined;
}

/**
 * `sessions.localCache`: one cache per process and storage, subscribed once and kept across reloads (a
 * reload's new store empties it; a new `seconds` applies to what is cached from then on). Turned off by a
 * reload, it stays subscribed, unused.
 */
const localCaches = new WeakMap<Storage, LocalSessionCache>();

function localCache(
  config: ResolvedConfig,
  storage: Storage,
  log: Logger,
  metrics: Metrics,
): LocalSessionCache | undefined {
  const want = config.sessions.localCache;
  // Refused at config load without a change feed (src/config/sessions.ts).
  const feed = want === undefined ? undefined : storage.changes?.(SESSION_KIND);
  if (want === undefined || feed === undefined) return undefined;
  let cache = localCaches.get(storage);
  if (cache === undefined) {
    cache = new LocalSessionCache(feed, want.seconds, (up) => {
      if (up) log.info({ event: 'session-cache.on' }, 'session cache: subscribed to invalidations');
      else
        log.warn(
          { event: 'session-cache.off' },
          'session cache: not subscribed to invalidations; every request reads the store until it is',
        );
    });
    localCaches.set(storage, cache);
  } else cache.seconds = want.seconds;
  metrics.sessionCache(cache);
  return cache;
}

/** The feed every session change is published on, with `sessions.localCache` (one PUBLISH per change). */
export function sessionChanges(config: ResolvedConfig, storage: Storage): ChangeFeed | undefined {
  return config.sessions.localCache === undefined ? undefined : storage.changes?.(SESSION_KIND);
}

export function createSessionStore(config: ResolvedConfig, d: SessionStoreDeps): SessionStore {
  const type = config.sessions.store;
  if (type === 'cookie') return new CookieSessionStore(d.sealer, d.names, d.cookieOptions);
  if (d.storage === undefined)
    throw new TypeError(`sessions.store ${type} needs its storage opened first (openSessionStorage)`);
  let last = 0;
  return new ServerSessionStore({
    storage: d.storage,
    type,
    cookieKeys: config.cookieKeys,
    names: d.names,
    cookieOptions: d.cookieOptions,
    // The gateway opened the storage and closes it (it may be shared with the issuer).
    ownsStorage: false,
    localCache: localCache(config, d.storage, d.log, d.metrics),
    changes: sessionChanges(config, d.storage),
    onError: (op, err) => {
      d.metrics.storeError(type);
      if (Date.now() - last < WARN_EVERY_MS) return;
      last = Date.now();
      d.log.warn(
        {
          event: 'session-store.error',
          store: type,
          op,
          err: err instanceof Error ? err.message : String(err),
        },
        'session store operation failed; requests that need a session answer 503 until it recovers',
      );
    },
  });
}
