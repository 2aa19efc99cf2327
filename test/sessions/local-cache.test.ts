/**
 * `sessions.localCache`: server-side sessions served from memory, invalidated over Redis pub/sub. Two
 * store instances (and two gateways) share a real Redis under a prefix of their own: a second read skips
 * Redis, a sign-out or revocation on one instance is refused on the other as soon as the message arrives
 * (polled, and long before the cache's bound), a lost subscription empties and disables the cache, and a
 * lost message costs at most `seconds`.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { request } from 'undici';
import { sessionsCommand } from '../../src/cli/sessions.ts';
import { ConfigError } from '../../src/config/errors.ts';
import { resolveConfig } from '../../src/config/load.ts';
import type { RawConfig } from '../../src/config/schema.ts';
import { createLogger } from '../../src/observability/log.ts';
import { type RunningGateway, startGateway } from '../../src/server/start.ts';
import { cookieNames } from '../../src/sessions/cookie-store.ts';
import { LocalSessionCache } from '../../src/sessions/local-cache.ts';
import { sessionChanges } from '../../src/sessions/open.ts';
import { SESSION_KIND, ServerSessionStore } from '../../src/sessions/server-store.ts';
import type { Session } from '../../src/sessions/session.ts';
import { RedisStorage } from '../../src/storage/redis.ts';
import type { ChangeFeed, ChangeListener, Storage } from '../../src/storage/storage.ts';
import { type Stack, startStack } from '../support/stack.ts';
import { apply, NOW, session } from './store-contract.ts';

const REDIS_URL = process.env['PORTCULLIS_TEST_REDIS'] ?? 'redis://127.0.0.1:6379/0';
const names = cookieNames('portcullis', false, undefined);

async function removePrefix(prefix: string): Promise<void> {
  const r = new Redis(REDIS_URL);
  const keys = await r.keys(`${prefix}*`);
  if (keys.length > 0) await r.del(...keys);
  await r.quit();
}

/** Polls (every 2 ms, for at most `ms`) until `f` holds; how long it took. */
async function until(f: () => boolean | Promise<boolean>, ms = 2_000): Promise<number> {
  const start = Date.now();
  while (!(await f())) {
    if (Date.now() - start > ms) assert.fail(`not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 2));
  }
  return Date.now() - start;
}

/** A RedisStorage that counts its reads (find), and passes everything through. */
function counting(inner: RedisStorage): Storage & { finds: number } {
  const s = {
    type: inner.type,
    finds: 0,
    upsert: inner.upsert.bind(inner),
    create: inner.create.bind(inner),
    swap: inner.swap.bind(inner),
    find: (kind: string, id: string) => {
      s.finds++;
      return inner.find(kind, id);
    },
    findBy: inner.findBy.bind(inner),
    consume: inner.consume.bind(inner),
    destroy: inner.destroy.bind(inner),
    revokeGrant: inner.revokeGrant.bind(inner),
    listGrant: inner.listGrant.bind(inner),
    cleanup: inner.cleanup.bind(inner),
    changes: inner.changes.bind(inner),
    close: inner.close.bind(inner),
  };
  return s;
}

describe('the local cache on its own', () => {
  /** A feed whose listener the test drives. */
  const fake = () => {
    const f: { l?: ChangeListener; published: string[] } & ChangeFeed = {
      published: [],
      publish: async (id) => {
        f.published.push(id);
      },
      listen: (l) => {
        f.l = l;
        l.down();
        return () => {};
      },
    };
    return f;
  };
  const entry = (over: Partial<Session> = {}) => ({ blob: 'b', session: session(over) });

  test('serves only while subscribed, for at most `seconds`, never a session due a refresh', () => {
    const feed = fake();
    const c = new LocalSessionCache(feed, 5);
    c.keep('k', entry(), c.mark(), NOW);
    assert.equal(c.get('k', NOW), undefined, 'nothing kept before the subscription is confirmed');
    feed.l!.up();
    c.keep('k', entry(), c.mark(), NOW);
    assert.ok(c.get('k', NOW + 4));
    assert.equal(c.get('k', NOW + 5), undefined, 'the bound: seconds after the read');
    c.keep('k', entry({ accessTokenExpiresAt: NOW + 20 }), c.mark(), NOW);
    assert.equal(c.get('k', NOW), undefined, 'due a refresh (30 s skew): through the store');
    c.keep('k', entry(), c.mark(), NOW);
    feed.l!.down();
    assert.equal(c.size, 0, 'emptied when the subscription is lost');
    assert.equal(c.get('k', NOW), undefined);
    feed.l!.up();
    assert.equal(c.get('k', NOW), undefined, 'and not refilled by the resubscription');
  });

  test('an invalidation that overtakes a read is not undone by the read’s answer', () => {
    const feed = fake();
    const c = new LocalSessionCache(feed, 5);
    feed.l!.up();
    const mark = c.mark();
    feed.l!.changed('k'); // heard while the read was on its way
    c.keep('k', entry(), mark, NOW);
    assert.equal(c.get('k', NOW), undefined);
    const before = c.mark();
    feed.l!.down();
    feed.l!.up();
    c.keep('k', entry(), before, NOW);
    assert.equal(c.get('k', NOW), undefined, 'nor one read across a reconnection');
  });
});

describe('two store instances sharing Redis, cache on', () => {
  const prefix = `portcullis-test:${randomBytes(6).toString('hex')}:`;
  const opened: RedisStorage[] = [];
  const caches: LocalSessionCache[] = [];
  const secret = randomBytes(32);
  const instance = async (cache: boolean, seconds = 30) => {
    const redis = await RedisStorage.connect({ url: REDIS_URL, keyPrefix: prefix });
    opened.push(redis);
    const storage = counting(redis);
    const local = cache ? new LocalSessionCache(redis.changes(SESSION_KIND), seconds) : undefined;
    if (local) caches.push(local);
    if (local) await until(() => local.subscribed);
    const store = new ServerSessionStore({
      storage,
      type: 'redis',
      cookieKeys: [secret],
      names,
      cookieOptions: { secure: false },
      ownsStorage: false,
      localCache: local,
      // Every instance publishes (as with sessions.localCache in the configuration), caching or not.
      changes: redis.changes(SESSION_KIND),
    });
    return { store, storage, redis, local };
  };
  after(async () => {
    for (const c of caches) c.close();
    for (const s of opened) await s.close();
    await removePrefix(prefix);
  });

  test('a second read skips Redis (a store without the cache reads every time)', async () => {
    const a = await instance(true);
    const b = await instance(true);
    const plain = await instance(false);
    const jar = apply(new Map(), await a.store.write(session(), new Map(), NOW));
    for (const x of [b, plain]) {
      assert.equal((await x.store.read(jar, NOW))?.identity.sub, 'alice');
      const second = x.store.read(jar, NOW);
      assert.equal((await second)?.identity.sub, 'alice');
    }
    assert.equal(b.storage.finds, 1, 'cached: one Redis read for two requests');
    assert.ok(!(b.store.read(jar, NOW) instanceof Promise), 'a hit answers without waiting');
    assert.equal(plain.storage.finds, 2, 'without the cache: one read per request');
  });

  test('sign-out on A is refused on B once the invalidation arrives, long before the bound', async () => {
    const a = await instance(true);
    const b = await instance(true);
    const jar = apply(new Map(), await a.store.write(session(), new Map(), NOW));
    await b.store.read(jar, NOW);
    assert.ok(b.store.read(jar, NOW) !== undefined && b.storage.finds === 1, 'B serves from its cache');
    await a.store.clear(jar);
    const took = await until(async () => (await b.store.read(jar, NOW)) === undefined, 1_000);
    assert.ok(b.local!.invalidations >= 1, 'B heard the invalidation');
    assert.ok(took < 1_000, `refused after ${took} ms (the bound is 30 s)`);
    // A itself never serves it again either.
    assert.equal(await a.store.read(jar, NOW), undefined);
  });

  test('endUser on A: every cached session of the user is refused on B; another user’s stays', async () => {
    const a = await instance(true);
    const b = await instance(true);
    const carol = { identity: { sub: 'carol-lc', email: 'carol@example.com', groups: [] } };
    const laptop = apply(new Map(), await a.store.write(session(carol), new Map(), NOW));
    const phone = apply(new Map(), await a.store.write(session(carol), new Map(), NOW));
    const bob = session({ identity: { sub: 'bob-lc', email: 'bob@example.com', groups: [] } });
    const other = apply(new Map(), await a.store.write(bob, new Map(), NOW));
    for (const jar of [laptop, phone, other]) await b.store.read(jar, NOW);
    const finds = b.storage.finds;
    for (const jar of [laptop, phone, other]) assert.ok(await b.store.read(jar, NOW));
    assert.equal(b.storage.finds, finds, 'all three cached on B');
    assert.equal(await a.store.endUser({ provider: 'test', sub: 'carol-lc' }), 2);
    await until(async () => (await b.store.read(laptop, NOW)) === undefined);
    await until(async () => (await b.store.read(phone, NOW)) === undefined);
    assert.equal((await b.store.read(other, NOW))?.identity.sub, 'bob-lc');
  });

  test('a refresh on A reaches B: B serves the refreshed session, not its cached copy', async () => {
    const a = await instance(true);
    const b = await instance(true);
    const s = session({ accessTokenExpiresAt: NOW + 3000 });
    const jar = apply(new Map(), await a.store.write(s, new Map(), NOW));
    assert.equal((await b.store.read(jar, NOW))?.accessToken, s.accessToken);
    const later = NOW + 2990; // due a refresh on A (30 s skew)
    const out = await a.store.refresh(jar, s, later, async (c) => ({
      ...c,
      accessToken: 'at-2',
      accessTokenExpiresAt: NOW + 3500,
    }));
    assert.equal(out.session?.accessToken, 'at-2');
    await until(async () => (await b.store.read(jar, NOW + 10))?.accessToken === 'at-2');
  });

  test('subscription lost: the cache empties and every read goes to Redis until resubscribed', async () => {
    const b = await instance(true);
    const a = await instance(false);
    const jar = apply(new Map(), await a.store.write(session(), new Map(), NOW));
    await b.store.read(jar, NOW);
    await b.store.read(jar, NOW);
    assert.equal(b.storage.finds, 1);
    const id = b.redis.subscriberId;
    assert.ok(id !== undefined);
    const admin = new Redis(REDIS_URL);
    try {
      await admin.client('KILL', 'ID', String(id));
    } finally {
      await admin.quit();
    }
    await until(() => !b.local!.subscribed);
    assert.equal(b.local!.size, 0, 'emptied');
    // Until the new subscription is confirmed, nothing is served from memory (it may come back quickly:
    // read as many times as it takes to see one read that went to Redis while down).
    const down = b.storage.finds;
    if (!b.local!.subscribed) {
      await b.store.read(jar, NOW);
      await b.store.read(jar, NOW);
      assert.ok(b.storage.finds >= down + 1);
    }
    await until(() => b.local!.subscribed);
    assert.notEqual(b.redis.subscriberId, id, 'a new subscriber connection');
    await b.store.read(jar, NOW);
    const up = b.storage.finds;
    await b.store.read(jar, NOW);
    assert.equal(b.storage.finds, up, 'cached again once resubscribed');
    // And the new subscription hears invalidations.
    await a.store.clear(jar);
    await until(async () => (await b.store.read(jar, NOW)) === undefined);
  });

  test('without sessions.localCache nothing is published: a sign-out sends no PUBLISH', async () => {
    const b = await instance(true);
    const redis = await RedisStorage.connect({ url: REDIS_URL, keyPrefix: prefix });
    opened.push(redis);
    const quiet = new ServerSessionStore({
      storage: redis,
      type: 'redis',
      cookieKeys: [secret],
      names,
      cookieOptions: { secure: false },
      ownsStorage: false,
    });
    const jar = apply(new Map(), await quiet.write(session(), new Map(), NOW));
    await b.store.read(jar, NOW);
    const heard = b.local!.invalidations;
    await quiet.clear(jar);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(b.local!.invalidations, heard);
    const config = (localCache: unknown) =>
      resolveConfig(
        {
          publicUrl: 'http://127.0.0.1:4180',
          cookie: { secret: secret.toString('base64url') },
          providers: [{ id: 'x', type: 'oidc', issuer: 'https://idp.example.com', clientId: 'c' }],
          upstreams: [{ path: '/', url: 'http://127.0.0.1:8080' }],
          sessions: { store: 'redis', url: REDIS_URL, ...(localCache ? { localCache } : {}) },
        } as RawConfig,
        {},
      );
    assert.equal(sessionChanges(config(undefined), redis), undefined);
    assert.ok(sessionChanges(config({ seconds: 5 }), redis));
  });

  test('a lost message costs at most `seconds`: an entry changed behind the cache’s back is read again', async () => {
    const b = await instance(true, 5);
    const a = await instance(false);
    const jar = apply(new Map(), await a.store.write(session(), new Map(), NOW));
    await b.store.read(jar, NOW);
    // Removed without an invalidation (as if the message were lost).
    const admin = new Redis(REDIS_URL);
    const keys = await admin.keys(`${prefix}e:${SESSION_KIND}:*`);
    await admin.del(...keys);
    await admin.quit();
    assert.ok(await b.store.read(jar, NOW + 4), 'stale within the bound');
    assert.equal(await b.store.read(jar, NOW + 5), undefined, 'read again at the bound');
  });
});

describe('configuration', () => {
  const base = {
    publicUrl: 'http://127.0.0.1:4180',
    cookie: { secret: randomBytes(32).toString('base64url') },
    providers: [{ id: 'x', type: 'oidc', issuer: 'https://idp.example.com', clientId: 'c' }],
    upstreams: [{ path: '/', url: 'http://127.0.0.1:8080' }],
  };
  const problems = (extra: Record<string, unknown>): readonly string[] => {
    try {
      resolveConfig({ ...base, ...extra } as RawConfig, {});
      return [];
    } catch (err) {
      assert.ok(err instanceof ConfigError, String(err));
      return err.problems;
    }
  };

  test('redis, or storage on redis: accepted; off by default', () => {
    const c = resolveConfig(
      { ...base, sessions: { store: 'redis', url: REDIS_URL, localCache: { seconds: 5 } } } as RawConfig,
      {},
    );
    assert.deepEqual(c.sessions.localCache, { seconds: 5 });
    assert.equal(
      resolveConfig({ ...base, sessions: { store: 'redis', url: REDIS_URL } } as RawConfig, {}).sessions
        .localCache,
      undefined,
    );
    assert.deepEqual(
      problems({
        sessions: { store: 'storage', localCache: { seconds: 5 } },
        storage: { type: 'redis', url: REDIS_URL },
      }),
      [],
    );
  });

  test('sqlite, memory and cookie sessions are refused with the key named; so is a bound out of range', () => {
    const sqlite = problems({
      sessions: { store: 'storage', localCache: { seconds: 5 } },
      storage: { type: 'sqlite', path: '/tmp/x.db' },
    });
    assert.equal(sqlite.length, 1);
    assert.match(sqlite[0]!, /^sessions\.localCache: .*storage\.type: sqlite.*remove sessions\.localCache/);
    assert.match(
      problems({ sessions: { localCache: { seconds: 5 } } })[0]!,
      /^sessions\.localCache: .*cookie/,
    );
    for (const seconds of [0, 301, 1.5])
      assert.match(
        problems({ sessions: { store: 'redis', url: REDIS_URL, localCache: { seconds } } }).join('\n'),
        /sessions\.localCache\.seconds/,
      );
    assert.match(
      problems({ sessions: { store: 'redis', url: REDIS_URL, localCache: { ttl: 5 } } }).join('\n'),
      /sessions\.localCache/,
    );
  });
});

describe('two gateways sharing Redis, cache on (real IdP)', () => {
  const prefix = `portcullis-test:${randomBytes(6).toString('hex')}:`;
  let stack: Stack;
  let second: RunningGateway;
  let monitor: net.Socket;
  /** HGETALLs of session entries under this prefix, as Redis saw them (MONITOR). */
  let reads = 0;

  before(async () => {
    stack = await startStack({
      config: (c) => ({
        ...c,
        sessions: { store: 'redis', url: REDIS_URL, keyPrefix: prefix, localCache: { seconds: 30 } },
      }),
    });
    second = await startGateway(
      stack.gw.ctx.config,
      createLogger('silent', new Writable({ write: (_c, _e, cb) => cb() })),
      { port: 0, now: stack.gw.ctx.now },
    );
    // MONITOR on a plain socket (ioredis's monitor() can lose its place when lines arrive with its OK).
    const url = new URL(REDIS_URL);
    monitor = net.connect(Number(url.port || 6379), url.hostname);
    await once(monitor, 'connect');
    let rest = '';
    const needle = `"hgetall" "${prefix}e:${SESSION_KIND}:`;
    monitor.setEncoding('utf8');
    monitor.on('data', (chunk: string) => {
      const lines = (rest + chunk).split('\r\n');
      rest = lines.pop() ?? '';
      for (const line of lines) if (line.toLowerCase().includes(needle.toLowerCase())) reads++;
    });
    monitor.write('MONITOR\r\n');
  });
  after(async () => {
    monitor?.destroy();
    await Promise.allSettled([second?.close(), stack?.close()]);
    await removePrefix(prefix);
  });

  const get = async (base: string, path: string, cookie: string, method: 'GET' | 'POST' = 'GET') => {
    const r = await request(`${base}${path}`, {
      method,
      headers: {
        accept: 'application/json',
        ...(method === 'POST' ? { 'sec-fetch-site': 'same-origin' } : {}),
        cookie: `portcullis=${cookie}`,
      },
    });
    await r.body.dump();
    return r.statusCode;
  };

  test('requests on B after the first skip Redis; sign-out on A is refused on B', async () => {
    const b = await stack.signIn('bob', '/api/x');
    const cookie = b.jar.get('portcullis', stack.url)!.value;
    assert.equal(await get(second.url, '/api/x', cookie), 200);
    await until(() => reads >= 1);
    const seen = reads;
    for (let i = 0; i < 5; i++) assert.equal(await get(second.url, '/api/x', cookie), 200);
    // MONITOR's stream trails the commands a little.
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(reads, seen, 'five requests on B, no Redis read');
    const metric = async (series: string) => {
      const text = await (await fetch(`${second.metricsUrl}/metrics`)).text();
      const line = text.split('\n').find((l) => l.startsWith(`${series} `));
      return line === undefined ? undefined : Number(line.slice(series.length + 1));
    };
    assert.ok((await metric('portcullis_session_cache_hits_total'))! >= 5);
    assert.equal(await metric('portcullis_session_cache_subscribed'), 1);
    assert.ok((await metric('portcullis_session_cache_entries'))! >= 1);
    const heard = (await metric('portcullis_session_cache_invalidations_total'))!;
    assert.equal(await get(stack.url, '/oauth2/sign_out', cookie, 'POST'), 303);
    await until(async () => (await get(second.url, '/api/x', cookie)) === 401, 1_000);
    assert.ok((await metric('portcullis_session_cache_invalidations_total'))! > heard);
  });

  test('portcullis sessions revoke (same configuration) reaches the caches of both gateways', async () => {
    const cookies = [];
    for (let i = 0; i < 2; i++) {
      const b = await stack.signIn('carol', '/api/x');
      cookies.push(b.jar.get('portcullis', stack.url)!.value);
    }
    for (const base of [stack.url, second.url])
      for (const c of cookies) for (let i = 0; i < 2; i++) assert.equal(await get(base, '/api/x', c), 200);
    const dir = mkdtempSync(join(tmpdir(), 'pcl-local-cache-'));
    try {
      const file = join(dir, 'portcullis.yaml');
      const c = stack.gw.ctx.config;
      writeFileSync(
        file,
        JSON.stringify({
          publicUrl: c.public.href,
          cookie: { secret: c.cookieKeys[0]!.toString('base64url') },
          providers: [{ id: 'test', type: 'oidc', issuer: 'https://idp.invalid', clientId: 'x' }],
          upstreams: [{ path: '/', url: 'http://127.0.0.1:9' }],
          sessions: { store: 'redis', url: REDIS_URL, keyPrefix: prefix, localCache: { seconds: 30 } },
        }),
      );
      const out = new Writable({ write: (_c, _e, cb) => cb() });
      await sessionsCommand(['revoke', '--user=carol', '--provider', 'test', '--config', file], out);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    for (const base of [stack.url, second.url])
      for (const c of cookies) await until(async () => (await get(base, '/api/x', c)) === 401, 1_000);
  });
});
