/**
 * Storage in Redis, for several Portcullis instances that share state (an authorization code issued by one
 * instance is redeemed at another). The layout follows oidc-provider's example Redis adapter:
 *
 *   <prefix>e:<kind>:<id>             hash: p = payload JSON, c = consumed at, g = grant id, l = lookups JSON
 *   <prefix>l:<kind>:<name>:<value>   string: the id of the entry with that lookup (a session's uid, …)
 *   <prefix>g:<grant id>              set: the entry keys issued under that grant
 *
 * Expiry is Redis's own (PEXPIRE), so there is nothing to sweep. A lookup key can outlive a replaced
 * entry; reads check that the entry still carries that lookup.
 *
 * Three shapes (docs/scaling.md): one server, a primary watched by Sentinel, or a Redis Cluster. On a
 * Cluster every multi-key operation (the CREATE script, the MULTI of upsert, the DEL of #remove) must stay
 * in one hash slot or Redis refuses it with CROSSSLOT (redis.io/docs/latest/operate/oss_and_stack/reference/cluster-spec/#hash-tags).
 * A lookup key is found by its value alone and a grant set by the grant id alone, so no per-entry tag
 * can put them in the entry's slot; instead the whole prefix is the hash tag (`{portcullis:}e:…`), and
 * one deployment's keys live in one slot: on a Cluster, Portcullis gets failover by replica promotion, not
 * sharding (its load is one small read per request; docs/scaling.md has the figures). Standalone and
 * Sentinel keep the untagged layout, so an upgrade keeps every stored key.
 */
import { type ChainableCommander, Cluster, type ClusterOptions, Redis, type RedisOptions } from 'ioredis';
import { describeRedis, type RedisConnection } from '../config/redis.ts';
import { RedisChanges } from './redis-changes.ts';
import {
  type ChangeFeed,
  type EntryOptions,
  type Expected,
  type GrantMember,
  type Payload,
  type Storage,
  type SwapOptions,
  withConsumed,
} from './storage.ts';

export interface RedisStorageOptions {
  /** Standalone shortcut (tests); `connection` names any shape. */
  readonly url?: string | undefined;
  readonly password?: string | undefined;
  /** Standalone, Sentinel or Cluster, from src/config/redis.ts; wins over url and password. */
  readonly connection?: RedisConnection | undefined;
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

/**
 * The key prefix as laid out on this shape: on a Cluster the prefix is the hash tag of every key (kept as
 * it is when it already holds one, e.g. `{platform-a}:`), elsewhere unchanged.
 */
export function layoutPrefix(prefix: string, cluster: boolean): string {
  if (!cluster) return prefix;
  // Redis hashes the part between the first '{' and the first '}' after it, when that part is not empty.
  const open = prefix.indexOf('{');
  const close = open === -1 ? -1 : prefix.indexOf('}', open + 1);
  return close > open + 1 ? prefix : `{${prefix}}`;
}

/** The ioredis client for a connection's shape (not yet connected: lazyConnect). */
export function redisClient(c: RedisConnection): Redis | Cluster {
  const common: RedisOptions = {
    lazyConnect: true,
    connectTimeout: 5_000,
    // A request waits for at most a few reconnection attempts, then fails (instead of hanging): the
    // session store answers 503 and the client retries, rather than piling requests up during a failover.
    maxRetriesPerRequest: 3,
    // After a failover the old primary may come back as a replica and answer writes with READONLY:
    // reconnect (and ask Sentinel or the slot map again) and resend the command (ioredis README,
    // "Reconnect on error").
    reconnectOnError: (err) => (err.message.startsWith('READONLY') ? 2 : false),
  };
  if (c.username !== undefined) common.username = c.username;
  if (c.password !== undefined) common.password = c.password;
  if (c.tls !== undefined) common.tls = { ...c.tls };
  const s = c.shape;
  switch (s.kind) {
    case 'standalone':
      // A rediss:// URL turns TLS on by itself; explicit tls settings add to it.
      return new Redis(s.url, { ...common, enableAutoPipelining: true });
    case 'sentinel':
      return new Redis({
        ...common,
        enableAutoPipelining: true,
        sentinels: s.sentinels.map((n) => ({ host: n.host, port: n.port })),
        name: s.masterName,
        ...(s.sentinelUsername !== undefined ? { sentinelUsername: s.sentinelUsername } : {}),
        ...(s.sentinelPassword !== undefined ? { sentinelPassword: s.sentinelPassword } : {}),
        ...(c.tls !== undefined ? { enableTLSForSentinelMode: true, sentinelTLS: { ...c.tls } } : {}),
        // Subscribe to +switch-master on the sentinels, so a failover is followed as soon as Sentinel
        // announces it rather than when the old primary's connection finally breaks.
        failoverDetector: true,
      });
    case 'cluster': {
      const options: ClusterOptions = {
        lazyConnect: true,
        enableAutoPipelining: true,
        redisOptions: common,
        // While a replica is promoted the slot's primary is unreachable or CLUSTERDOWN: retry the
        // command after the slot map is refreshed (ioredis "Cluster" options).
        retryDelayOnClusterDown: 200,
        retryDelayOnFailover: 200,
        retryDelayOnTryAgain: 100,
        slotsRefreshTimeout: 2_000,
      };
      // With TLS the certificates name the hosts, not the addresses ioredis would resolve them to.
      if (c.tls !== undefined) options.dnsLookup = (address, done) => done(null, address);
      return new Cluster(
        s.nodes.map((n) => ({ host: n.host, port: n.port })),
        options,
      );
    }
  }
}

export class RedisStorage implements Storage {
  readonly type = 'redis' as const;
  readonly redis: Redis | Cluster;
  readonly #prefix: string;
  /** Made at the first changes() call: most storages never publish nor subscribe. */
  #changes: RedisChanges | undefined;

  private constructor(redis: Redis | Cluster, prefix: string) {
    this.redis = redis;
    this.#prefix = prefix;
  }

  /** The prefix every key starts with (on a Cluster: the hash tag; see layoutPrefix). */
  get keyPrefix(): string {
    return this.#prefix;
  }

  /** Connects (failing fast with a clear message when Redis does not answer) and returns the storage. */
  static async connect(o: RedisStorageOptions): Promise<RedisStorage> {
    const connection: RedisConnection = o.connection ?? {
      shape: { kind: 'standalone', url: o.url ?? '' },
      password: o.password,
    };
    const redis = redisClient(connection);
    const cluster = connection.shape.kind === 'cluster';
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
      throw new Error(
        `storage: cannot reach redis at ${describeRedis(connection)} (${(first ?? (err as Error)).message})`,
        { cause: err },
      );
    }
    return new RedisStorage(redis, layoutPrefix(o.keyPrefix ?? 'portcullis:', cluster));
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
  #extras(m: ChainableCommander, kind: string, id: string, ms: number | undefined, o: EntryOptions): void {
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
      const parsed = this.#parseEntryKey(ek);
      return parsed === undefined ? [] : [{ ...parsed, ek }];
    });
    await this.#remove(entries, [gk]);
  }

  async listGrant(grantId: string): Promise<GrantMember[]> {
    const members = await this.redis.smembers(this.#grantKey(grantId));
    const out: GrantMember[] = [];
    for (const ek of members) {
      const parsed = this.#parseEntryKey(ek);
      const entry = parsed && (await this.#read(ek));
      if (parsed && entry) out.push({ ...parsed, payload: entry.payload });
    }
    return out;
  }

  /** <prefix>e:<kind>:<id> → kind and id; kinds never contain ':', ids may. */
  #parseEntryKey(ek: string): { kind: string; id: string } | undefined {
    const rest = ek.slice(this.#prefix.length + 2);
    const colon = rest.indexOf(':');
    return colon === -1 ? undefined : { kind: rest.slice(0, colon), id: rest.slice(colon + 1) };
  }

  async cleanup(): Promise<number> {
    return 0;
  }

  /** Pub/sub on `<prefix>c:<kind>` (src/storage/redis-changes.ts). */
  changes(kind: string): ChangeFeed {
    this.#changes ??= new RedisChanges(this.redis);
    return this.#changes.feed(`${this.#prefix}c:${kind}`);
  }

  /** The subscriber connection's CLIENT ID while it is subscribed (tests end it with CLIENT KILL ID). */
  get subscriberId(): number | undefined {
    return this.#changes?.subscriberId;
  }

  async close(): Promise<void> {
    this.#changes?.close();
    if (this.redis.status === 'end') return;
    try {
      await this.redis.quit();
    } catch {
      // already gone: disconnect below
    }
    // With Sentinel's failover detector, QUIT leaves the client connected (ioredis 5): end it for good,
    // or the process never exits.
    if ((this.redis.status as string) !== 'end') this.redis.disconnect();
  }
}

async function exec(m: ChainableCommander): Promise<void> {
  const results = await m.exec();
  for (const [err] of results ?? []) if (err) throw err;
}
