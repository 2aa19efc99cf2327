/** Opens the storage the configuration names (`storage.type`), loading only that adapter. */

import type { ResolvedStorage } from '../config/storage.ts';
import type { Logger } from '../observability/log.ts';
import { MemoryStorage } from './memory.ts';
import type { Clock, Storage } from './storage.ts';

export async function openStorage(config: ResolvedStorage, log: Logger, now?: Clock): Promise<Storage> {
  switch (config.type) {
    case 'memory':
      log.warn(
        { event: 'storage.memory' },
        'storage.type is memory: issuer state (sessions, grants, tokens, signing keys) is lost on restart and not shared between instances; use sqlite or redis outside tests',
      );
      return new MemoryStorage({ cleanupIntervalMs: config.cleanupInterval * 1000, ...(now ? { now } : {}) });
    case 'sqlite': {
      // Loaded only when used (here and for redis below): ioredis alone holds ~20 MB of a process's RSS, and
      // node:sqlite is loaded on first import; a deployment with cookie sessions needs neither.
      const { SqliteStorage } = await import('./sqlite.ts');
      return new SqliteStorage({
        file: config.file,
        cleanupIntervalMs: config.cleanupInterval * 1000,
        ...(now ? { now } : {}),
      });
    }
    case 'redis': {
      const { RedisStorage } = await import('./redis.ts');
      let last = 0;
      return RedisStorage.connect({
        connection: config.redis,
        url: config.url,
        password: config.passwordValue,
        keyPrefix: config.keyPrefix,
        onError: (err) => {
          // ioredis reports every failed reconnection attempt: one line per 10 s is enough.
          if (Date.now() - last < 10_000) return;
          last = Date.now();
          log.warn({ event: 'storage.redis-error', err: err.message }, 'redis connection problem');
        },
      });
    }
  }
}
