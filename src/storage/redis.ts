/**
 * Storage in Redis, for several Portcullis instances that share state (an authorization code issued by one
 * instance is redeemed at another). The layout follows oidc-provider's example Redis adapter:
 *
 *   <prefix>e:<kind>:<id>             hash: p = payload JSON, c = consumed at, g = grant id, l = lookups JSON
 *   <prefix>l:<kind>:<name>:<value>   string: the id of the entry with that lookup (a session's uid, …)
 *   <prefix>g:<grant id>              set: the entry keys issued under that grant
 *
 * Expiry is Redis's own (PEXPIRE), so there is nothing to sweep. A lookup key can outlive a replaced
 * entry; reads check that the entry still carries that lookup. Standalone Redis (or Sentinel) only: the
 * multi-key transactions here are not Cluster-safe.
 */
import { Redis, type RedisOptions } from 'ioredis';
import { type EntryOptions, type Payload, type Storage, withConsumed } from './storage.ts';

export interface RedisStorageOptions {
  readonly url: string;
  readonly password?: string | undefined;
  /** Prefix of every key (default `portcullis:`). */
  readonly keyPrefix?: string;
  /** Connection problems after start-up (Redis reconnects by itself). */
  readonly onError?: (err: Error) => void;
}

const CONSUME = `if redis.call('exists', KEYS[1]) == 1 then return redis.call('hset', KEYS[1], 'c', ARGV[1]) end return 0`;

export class RedisStorage implements Storage {
  readonly type = 'redis' as const;
  readonly redis: Redis;
  readonly #prefix: string;

  private constructor(redis: Redis, prefix: string) {
    this.redis = redis;
    this.#prefix = prefix;
  }

  /** Connects (failing fast with a clear message when Redis does not answer) and returns the storage. */
  static async connect(o: RedisStorageOptions): Promise<RedisStorage> {
    const options: RedisOptions = {
      lazyConnect: true,
      connectTimeout: 5_000,
      // A request waits for at most a few reconnection attempts, then fails (instead of hanging).
      maxRetriesPerRequest: 3,
      enableAutoPipelining: true,
    };
    if (o.password !== undefined) options.password = o.password;
    const redis = new Redis(o.url, options);
    let first: Error | undefined;
    redis.on('error', (err: Error) => {
      first ??= err;
      o.onError?.(err);
    });
    try {
      await redis.connect();
      await redis.ping();
    } catch (err) {
      redis.disconnect();
      const where = new URL(o.url);
      where.password = '';
      where.username = '';
      throw new Error(`storage: cannot reach redis at ${where.href} (${(first ?? (err as Error)).message})`, {
        cause: err,
      });
    }
    return new RedisStorage(redis, o.keyPrefix ?? 'portcullis:');
  }

  #entryKey(kind: string, id: string): string {
    return `${this.#prefix}e:${kind}:${id}`;
  }

  #lookupKey(kind: string, name: string, value: string): string {
    return `${this.#prefix}l:${kind}:${name}:${value}`;
  }

  #grantKey(grantId: string): string {
    return `${this.#prefix}g:${grantId}`;
  }

  #fields(payload: Payload, o: EntryOptions): string[] {
    const fields = ['p', JSON.stringify(payload)];
    if (o.grantId !== undefined) fields.push('g', o.grantId);
    if (o.lookups !== undefined && Object.keys(o.lookups).length > 0)
      fields.push('l', JSON.stringify(o.lookups));
    return fields;
  }

  /** Queues the expiry, lookups and grant membership of an entry just written. */
  #extras(
    m: ReturnType<Redis['multi']>,
    kind: string,
    id: string,
    ms: number | undefined,
    o: EntryOptions,
  ): void {
    const ek = this.#entryKey(kind, id);
    if (ms !== undefined) m.pexpire(ek, ms);
    for (const [name, value] of Object.entries(o.lookups ?? {})) {
      const lk = this.#lookupKey(kind, name, value);
      if (ms !== undefined) m.set(lk, id, 'PX', ms);
      else m.set(lk, id);
    }
    if (o.grantId !== undefined) {
      const gk = this.#grantKey(o.grantId);
      m.sadd(gk, ek);
      // The set lives as long as its longest-lived member: NX sets a first expiry, GT only extends it.
      if (ms !== undefined) {
        m.pexpire(gk, ms, 'NX');
        m.pexpire(gk, ms, 'GT');
      } else m.persist(gk);
    }
  }

  async upsert(kind: string, id: string, payload: Payload, o: EntryOptions = {}): Promise<void> {
    const ms = o.expiresIn === undefined ? undefined : Math.ceil(o.expiresIn * 1000);
    if (ms !== undefined && ms <= 0) {
      await this.destroy(kind, id);
      return;
    }
    const ek = this.#entryKey(kind, id);
    const m = this.redis
      .multi()
      .del(ek)
      .hset(ek, ...this.#fields(payload, o));
    this.#extras(m, kind, id, ms, o);
    await exec(m);
  }

  async create(kind: string, id: string, payload: Payload, o: EntryOptions = {}): Promise<boolean> {
    const ms = o.expiresIn === undefined ? undefined : Math.ceil(o.expiresIn * 1000);
    if (ms !== undefined && ms <= 0) return false;
    const ek = this.#entryKey(kind, id);
    // HSETNX decides atomically which instance creates the entry; the rest follows for the winner only.
    if ((await this.redis.hsetnx(ek, 'p', JSON.stringify(payload))) !== 1) return false;
    const fields = this.#fields(payload, o).slice(2);
    const m = this.redis.multi();
    if (fields.length > 0) m.hset(ek, ...fields);
    this.#extras(m, kind, id, ms, o);
    await exec(m);
    return true;
  }

  async #read(ek: string): Promise<{ payload: Payload; lookups: Record<string, string> } | undefined> {
    const h = await this.redis.hgetall(ek);
    if (h['p'] === undefined) return undefined;
    const consumed = h['c'] === undefined ? undefined : Number(h['c']);
    return {
      payload: withConsumed(JSON.parse(h['p']) as Payload, consumed),
      lookups: h['l'] === undefined ? {} : (JSON.parse(h['l']) as Record<string, string>),
    };
  }

  async find(kind: string, id: string): Promise<Payload | undefined> {
    return (await this.#read(this.#entryKey(kind, id)))?.payload;
  }

  async findBy(kind: string, name: string, value: string): Promise<Payload | undefined> {
    const id = await this.redis.get(this.#lookupKey(kind, name, value));
    if (id === null) return undefined;
    const entry = await this.#read(this.#entryKey(kind, id));
    return entry?.lookups[name] === value ? entry.payload : undefined;
  }

  async consume(kind: string, id: string, at: number): Promise<void> {
    await this.redis.eval(CONSUME, 1, this.#entryKey(kind, id), String(at));
  }

  /** Deletes entry keys and the lookup keys that still point at them. */
  async #remove(
    entries: readonly { kind: string; id: string; ek: string }[],
    extra: string[] = [],
  ): Promise<void> {
    const keys = [...extra];
    for (const { kind, id, ek } of entries) {
      keys.push(ek);
      const l = await this.redis.hget(ek, 'l');
      if (l === null) continue;
      for (const [name, value] of Object.entries(JSON.parse(l) as Record<string, string>)) {
        const lk = this.#lookupKey(kind, name, value);
        if ((await this.redis.get(lk)) === id) keys.push(lk);
      }
    }
    if (keys.length > 0) await this.redis.del(...keys);
  }

  async destroy(kind: string, id: string): Promise<void> {
    await this.#remove([{ kind, id, ek: this.#entryKey(kind, id) }]);
  }

  async revokeGrant(grantId: string): Promise<void> {
    const gk = this.#grantKey(grantId);
    const members = await this.redis.smembers(gk);
    const entries = members.flatMap((ek) => {
      // <prefix>e:<kind>:<id>; kinds never contain ':', ids may.
      const rest = ek.slice(this.#prefix.length + 2);
      const colon = rest.indexOf(':');
      return colon === -1 ? [] : [{ kind: rest.slice(0, colon), id: rest.slice(colon + 1), ek }];
    });
    await this.#remove(entries, [gk]);
  }

  async cleanup(): Promise<number> {
    return 0;
  }

  async close(): Promise<void> {
    if (this.redis.status === 'end') return;
    try {
      await this.redis.quit();
    } catch {
      this.redis.disconnect();
    }
  }
}

async function exec(m: ReturnType<Redis['multi']>): Promise<void> {
  const results = await m.exec();
  for (const [err] of results ?? []) if (err) throw err;
}
