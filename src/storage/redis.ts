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
import {
  type EntryOptions,
  type Expected,
  type Payload,
  type Storage,
  type SwapOptions,
  withConsumed,
} from './storage.ts';

export interface RedisStorageOptions {
  readonly url: string;
  readonly password?: string | undefined;
  /** Prefix of every key (default `portcullis:`). */
  readonly keyPrefix?: string;
  /** Connection problems after start-up (Redis reconnects by itself). */
  readonly onError?: (err: Error) => void;
}

const CONSUME = `if redis.call('exists', KEYS[1]) == 1 then return redis.call('hset', KEYS[1], 'c', ARGV[1]) end return 0`;

/**
 * create: the existence check, the entry, its expiry, lookups and grant membership in one script, which
 * Redis runs atomically (https://redis.io/docs/latest/develop/interact/programmability/eval-intro/). Two
 * separate steps (HSETNX, then PEXPIRE) left an entry without expiry when the process died in between: a
 * refresh lock nobody would ever release.
 *   KEYS: entry, lookup keys…, grant set (when ARGV[4] is 1)
 *   ARGV: ms ('' = no expiry), id, number of lookup keys, with grant (0/1), hash field/value pairs…
 */
const CREATE = `
if redis.call('exists', KEYS[1]) == 1 then return 0 end
local ms, id, nl = ARGV[1], ARGV[2], tonumber(ARGV[3])
redis.call('hset', KEYS[1], unpack(ARGV, 5))
if ms ~= '' then redis.call('pexpire', KEYS[1], ms) end
for i = 2, nl + 1 do
  if ms ~= '' then redis.call('set', KEYS[i], id, 'PX', ms) else redis.call('set', KEYS[i], id) end
end
if ARGV[4] == '1' then
  local gk = KEYS[nl + 2]
  redis.call('sadd', gk, KEYS[1])
  if ms ~= '' then
    redis.call('pexpire', gk, ms, 'NX')
    redis.call('pexpire', gk, ms, 'GT')
  else
    redis.call('persist', gk)
  end
end
return 1`;

/**
 * swap: compare-and-set on one payload field, in one script. A WATCH/MULTI transaction would need a
 * connection of its own per caller (WATCH is per connection, and this one is shared and pipelined).
 *   KEYS: entry
 *   ARGV: field, expected value, new payload JSON, ms ('' = no expiry, '0' = delete)
 */
const SWAP = `
local h = redis.call('hmget', KEYS[1], 'p', 'g', 'l')
if not h[1] then return 0 end
if h[2] or h[3] then return redis.error_reply('swap of entries with a grant or lookups is not supported') end
local ok, v = pcall(cjson.decode, h[1])
if not ok or type(v) ~= 'table' or v[ARGV[1]] ~= ARGV[2] then return 0 end
redis.call('del', KEYS[1])
if ARGV[4] == '0' then return 1 end
redis.call('hset', KEYS[1], 'p', ARGV[3])
if ARGV[4] ~= '' then redis.call('pexpire', KEYS[1], ARGV[4]) end
return 1`;

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
    const lookups = Object.entries(o.lookups ?? {}).map(([name, value]) =>
      this.#lookupKey(kind, name, value),
    );
    const keys = [this.#entryKey(kind, id), ...lookups];
    if (o.grantId !== undefined) keys.push(this.#grantKey(o.grantId));
    const args = [
      ms === undefined ? '' : String(ms),
      id,
      String(lookups.length),
      o.grantId === undefined ? '0' : '1',
      ...this.#fields(payload, o),
    ];
    return (await this.redis.eval(CREATE, keys.length, ...keys, ...args)) === 1;
  }

  async swap(
    kind: string,
    id: string,
    expected: Expected,
    payload: Payload,
    o: SwapOptions = {},
  ): Promise<boolean> {
    const ms = o.expiresIn === undefined ? '' : String(Math.max(0, Math.ceil(o.expiresIn * 1000)));
    const ek = this.#entryKey(kind, id);
    return (
      (await this.redis.eval(SWAP, 1, ek, expected.field, expected.value, JSON.stringify(payload), ms)) === 1
    );
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
