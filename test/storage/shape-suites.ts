/**
 * The storage contract (test/storage/contract.ts) and the session-store contract
 * (test/sessions/store-contract.ts) on a Redis shape the test file starts (test/support/redis-shapes.ts),
 * plus the checks every shape owes: each key in the one slot of its prefix's hash tag on a Cluster.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { Cluster } from 'ioredis';
import type { RedisConnection } from '../../src/config/redis.ts';
import type { Result } from '../../src/doctor/finding.ts';
import {
  pingConnection,
  sessionStore as sessionStoreCheck,
  storage as storageReach,
} from '../../src/doctor/reach.ts';
import type { StoreScope } from '../../src/doctor/scope.ts';
import { cookieNames } from '../../src/sessions/cookie-store.ts';
import { LocalSessionCache } from '../../src/sessions/local-cache.ts';
import { SESSION_KIND, ServerSessionStore } from '../../src/sessions/server-store.ts';
import { isStoreUnavailable } from '../../src/sessions/store-ops.ts';
import { RedisStorage } from '../../src/storage/redis.ts';
import { apply, session, sessionStoreContract } from '../sessions/store-contract.ts';
import type { Cleanup } from '../support/cleanup.ts';
import { type RedisShape, removeKeys } from '../support/redis-shapes.ts';
import { storageContract } from './contract.ts';

export function shapeSuites(
  name: string,
  start: () => Promise<RedisShape>,
  parts: Cleanup,
): () => Promise<RedisShape> {
  let started: Promise<RedisShape> | undefined;
  const shape = () => {
    started ??= start().then((s) => parts.add(s));
    return started;
  };
  const connect = async (keyPrefix: string) =>
    RedisStorage.connect({ connection: (await shape()).connection, keyPrefix });

  storageContract(`redis ${name}`, async () => {
    const prefix = `portcullis-test:${randomBytes(6).toString('hex')}:`;
    const storage = await connect(prefix);
    return {
      storage,
      // Redis owns expiry (PEXPIRE): time moves for real, the contract uses 1 s lifetimes.
      advance: (seconds) => new Promise((resolve) => setTimeout(resolve, seconds * 1000 + 50)),
      reopen: async () => {
        await storage.close();
        return connect(prefix);
      },
      dispose: async () => removeKeys(await shape(), `*${prefix}*`),
    };
  });

  const names = cookieNames('portcullis', false, undefined);
  const prefix = `portcullis-test:${randomBytes(6).toString('hex')}:sessions:`;
  let storage: Promise<RedisStorage> | undefined;
  sessionStoreContract(`server on redis ${name}`, {
    serverSide: true,
    async open(secrets, o = {}) {
      storage ??= connect(prefix);
      return new ServerSessionStore({
        storage: await storage,
        type: 'redis',
        cookieKeys: secrets,
        names,
        cookieOptions: { secure: false },
        ownsStorage: false,
        ...o,
      });
    },
    async dispose() {
      await (await storage)?.close();
      await removeKeys(await shape(), `*${prefix}*`);
    },
  });

  test(`redis ${name}: an entry with lookups and a grant, its lookup keys and its grant set share one slot`, async () => {
    const p = `portcullis-test:${randomBytes(6).toString('hex')}:`;
    const s = await connect(p);
    try {
      await s.create(
        'Session',
        'sid-1',
        { uid: 'u' },
        { expiresIn: 60, lookups: { uid: 'u-1' }, grantId: 'g-1' },
      );
      await s.upsert('AccessToken', 'at-1', { grantId: 'g-1' }, { expiresIn: 60, grantId: 'g-1' });
      assert.deepEqual(await s.findBy('Session', 'uid', 'u-1'), { uid: 'u' });
      await s.revokeGrant('g-1');
      assert.equal(await s.find('AccessToken', 'at-1'), undefined);
      assert.equal(await s.find('Session', 'sid-1'), undefined);
      if (s.redis instanceof Cluster) {
        const keys = [
          `${s.keyPrefix}e:Session:sid-1`,
          `${s.keyPrefix}l:Session:uid:u-1`,
          `${s.keyPrefix}g:g-1`,
        ];
        const slots = new Set(await Promise.all(keys.map((k) => s.redis.cluster('KEYSLOT', k))));
        assert.equal(slots.size, 1, `keys in slots ${[...slots].join(', ')}`);
      }
    } finally {
      await s.close();
      await removeKeys(await shape(), `*${p}*`);
    }
  });
  // Last in the file: it kills a primary, so the shape is degraded afterwards.
  test(`redis ${name}: portcullis check PINGs it the way the runtime connects (sessions.store, storage.reach)`, async () => {
    const c = (await shape()).connection;
    const io = { fetch, now: Date.now, timeoutMs: 5_000 };
    const sessions = (await sessionStoreCheck.run(
      { config: { sessions: { store: 'redis', redis: c } } } as unknown as StoreScope,
      io,
    )) as Result;
    assert.equal(sessions.status, 'ok', sessions.message);
    assert.match(sessions.message, name === 'sentinel' ? /through sentinels/ : /redis cluster/);
    const storage = (await storageReach.run(
      {
        config: { issuer: {}, sessions: { store: 'cookie' }, storage: { type: 'redis', redis: c } },
      } as unknown as StoreScope,
      io,
    )) as Result;
    assert.equal(storage.status, 'ok', storage.message);
    // Control: the same shape pointed at a port nobody listens on fails, and fast.
    const closed = { host: '127.0.0.1', port: 1 };
    const dead: RedisConnection = {
      ...c,
      shape:
        c.shape.kind === 'sentinel'
          ? { ...c.shape, sentinels: [closed] }
          : c.shape.kind === 'cluster'
            ? { ...c.shape, nodes: [closed] }
            : c.shape,
    };
    const t0 = performance.now();
    const down = await pingConnection(dead, 2_000);
    assert.equal(down.ok, false);
    assert.ok(performance.now() - t0 < 5_000, 'fails within the timeout');
  });

  test(`redis ${name}: sessions.localCache — a sign-out on one instance is refused on the other once its invalidation arrives`, async () => {
    const p = `portcullis-test:${randomBytes(6).toString('hex')}:sessions:`;
    const secret = randomBytes(32);
    const opened: { storage: RedisStorage; cache: LocalSessionCache }[] = [];
    const instance = async () => {
      const storage = await connect(p);
      const cache = new LocalSessionCache(storage.changes(SESSION_KIND), 30);
      opened.push({ storage, cache });
      const store = new ServerSessionStore({
        storage,
        type: 'redis',
        cookieKeys: [secret],
        names,
        cookieOptions: { secure: false },
        ownsStorage: false,
        localCache: cache,
        changes: storage.changes(SESSION_KIND),
      });
      return { store, cache };
    };
    const waitFor = async (f: () => boolean | Promise<boolean>) => {
      const start = Date.now();
      while (!(await f())) {
        assert.ok(Date.now() - start < 5_000, 'not within 5 s');
        await new Promise((r) => setTimeout(r, 5));
      }
    };
    try {
      const a = await instance();
      const b = await instance();
      await waitFor(() => a.cache.subscribed && b.cache.subscribed);
      const now = Math.floor(Date.now() / 1000);
      const jar = apply(new Map(), await a.store.write(session({ expiresAt: now + 3600 }), new Map(), now));
      assert.ok(await b.store.read(jar, now));
      assert.ok(b.store.read(jar, now) instanceof Promise === false, 'B serves it from memory');
      await a.store.clear(jar);
      await waitFor(async () => (await b.store.read(jar, now)) === undefined);
      assert.ok(b.cache.invalidations >= 1);
    } finally {
      for (const o of opened) {
        o.cache.close();
        await o.storage.close();
      }
      await removeKeys(await shape(), `*${p}*`);
    }
  });

  test(`redis ${name}: primary killed — reads answer "store unavailable" (503), never "signed out", until the failover; the session is there after`, async (t) => {
    const p = `portcullis-test:${randomBytes(6).toString('hex')}:sessions:`;
    const s = await connect(p);
    const store = new ServerSessionStore({
      storage: s,
      type: 'redis',
      cookieKeys: [randomBytes(32)],
      names,
      cookieOptions: { secure: false },
      ownsStorage: false,
    });
    try {
      const now = Date.now();
      const set = await store.write(session({ expiresAt: now + 3600_000 }), new Map(), now);
      const jar = apply(new Map(), set);
      assert.ok(await store.read(jar, Date.now()));
      // Replication is asynchronous: let the replica catch up before the crash (docs/scaling.md).
      await new Promise((r) => setTimeout(r, 500));
      const sh = await shape();
      let victim: number;
      if (s.redis instanceof Cluster) {
        const slot = (await s.redis.cluster('KEYSLOT', `${s.keyPrefix}x`)) as number;
        const ranges = (await s.redis.cluster('SLOTS')) as unknown as [number, number, [string, number]][];
        victim = ranges.find(([a, b]) => slot >= a && slot <= b)?.[2][1] ?? 0;
      } else victim = (await sh.primaries())[0] ?? 0;
      sh.kill(victim);
      const killed = Date.now();
      let unavailable = 0;
      let back: number | undefined;
      while (Date.now() - killed < 30_000) {
        try {
          const got = await store.read(jar, Date.now());
          assert.ok(got, 'the session read as absent during the failover: a user would be signed out');
          back = Date.now();
          break;
        } catch (err) {
          assert.ok(isStoreUnavailable(err), String(err));
          unavailable++;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      assert.ok(back !== undefined, 'no failover within 30 s');
      const window = back - killed;
      t.diagnostic(
        `${name}: ${unavailable} reads answered 503; sessions readable again ${window} ms after the kill`,
      );
      // The tests' timeouts: Sentinel down-after 1 s, cluster-node-timeout 2 s; the rest is the election and
      // the client finding the new primary.
      assert.ok(window < 15_000, `failover window ${window} ms`);
      const later = Date.now();
      assert.ok(
        await store.read(
          apply(new Map(), await store.write(session({ expiresAt: later + 60_000 }), new Map(), later)),
          later,
        ),
      );
    } finally {
      await store.close();
      await s.close();
    }
  });
  return shape;
}
