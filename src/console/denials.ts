/**
 * Recent denials shared by every instance: a capped Redis list (LPUSH + LTRIM in one MULTI) on the
 * connection of the server-side session store, under its key prefix — on a Cluster the prefix is the hash
 * tag, so the list lives where the sessions do. Used when `sessions.store` is redis (or storage on Redis);
 * otherwise each instance keeps its own in memory (src/policy/recorder.ts).
 */
import type { Logger } from '../observability/log.ts';
import type { DecisionRecord } from '../policy/record.ts';
import type { SharedDenials } from '../policy/recorder.ts';
import type { RedisStorage } from '../storage/redis.ts';
import type { Storage } from '../storage/storage.ts';

/** The list's key below the storage's prefix. */
export const DENIALS_KEY = 'console:denials';

const WARN_EVERY_MS = 60_000;

export class RedisDenials implements SharedDenials {
  readonly #storage: RedisStorage;
  readonly #key: string;
  readonly #max: number;
  readonly #log: Logger | undefined;
  #warned = 0;

  constructor(storage: RedisStorage, max: number, log?: Logger) {
    this.#storage = storage;
    this.#key = `${storage.keyPrefix}${DENIALS_KEY}`;
    this.#max = max;
    this.#log = log;
  }

  push(r: DecisionRecord): void {
    // Serialised here, off the allowed path: only denials come this way.
    this.#storage.redis
      .multi()
      .lpush(this.#key, JSON.stringify(r))
      .ltrim(this.#key, 0, this.#max - 1)
      .exec()
      .catch((err: unknown) => {
        if (Date.now() - this.#warned < WARN_EVERY_MS) return;
        this.#warned = Date.now();
        this.#log?.warn(
          { event: 'console.denials-unavailable', err: String(err) },
          'recent denials: redis write failed (kept in memory on this instance)',
        );
      });
  }

  async recent(limit: number): Promise<DecisionRecord[]> {
    const rows = await this.#storage.redis.lrange(this.#key, 0, Math.min(limit, this.#max) - 1);
    const out: DecisionRecord[] = [];
    for (const row of rows) {
      try {
        out.push(JSON.parse(row) as DecisionRecord);
      } catch {
        // A row another version wrote: skipped, never shown half-read.
      }
    }
    return out;
  }
}

/** The shared denial list when the session storage is Redis; undefined (memory per instance) otherwise. */
export function sharedDenials(
  storage: Storage | undefined,
  max: number,
  log?: Logger,
): RedisDenials | undefined {
  if (storage?.type !== 'redis') return undefined;
  return new RedisDenials(storage as RedisStorage, max, log);
}
