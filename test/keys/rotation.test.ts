/**
 * Staged key activation, on real storages with an injected clock: a rotated key is published at once but
 * signs only from its activation time, so two instances on one storage never hand out a token whose kid the
 * other's JWKS lacks — however late the other polls within its period. One poller feeds every subscriber.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { decodeProtectedHeader, type JSONWebKeySet } from 'jose';
import { KeyPoller } from '../../src/keys/poller.ts';
import { keyState, providerJwks, signingKey } from '../../src/keys/state.ts';
import { KEYS_ID, KEYS_KIND, KeyStore, type StoredKey } from '../../src/keys/store.ts';
import { ACTIVATION_DELAY_SECONDS, KEY_POLL_SECONDS } from '../../src/keys/timing.ts';
import { createLogger } from '../../src/observability/log.ts';
import { AssertionSigner, assertionSpec } from '../../src/proxy/assertion.ts';
import { Sealer } from '../../src/sessions/sealer.ts';
import type { Session } from '../../src/sessions/session.ts';
import { MemoryStorage } from '../../src/storage/memory.ts';
import { RedisStorage } from '../../src/storage/redis.ts';
import { SqliteStorage } from '../../src/storage/sqlite.ts';
import type { Storage } from '../../src/storage/storage.ts';

const REDIS = process.env['PORTCULLIS_TEST_REDIS'] ?? 'redis://127.0.0.1:6379/0';
const log = createLogger('silent');
const T0 = 1_700_000_000;
const KEEP = 600;
const spec = assertionSpec({ url: 'http://app:8080/x', assertion: { enabled: true, lifetime: 300 } })!;
const session = (now: number): Session => ({
  v: 1,
  provider: 'corp',
  identity: { sub: 'u1', groups: [] },
  createdAt: now,
  expiresAt: now + 3600,
});
const kidsOf = (jwks: string) => (JSON.parse(jwks) as JSONWebKeySet).keys.map((k) => k.kid);

const dir = mkdtempSync(join(tmpdir(), 'portcullis-keys-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const storages: Record<string, () => Storage> = {
  memory: () => new MemoryStorage(),
  sqlite: () => new SqliteStorage({ file: join(dir, `${randomBytes(4).toString('hex')}.db`) }),
};

for (const [name, open] of Object.entries(storages)) {
  describe(`staged activation (${name} storage)`, () => {
    test('a rotated key is published at once and signs only from its activation time', async (t) => {
      const storage = open();
      t.after(() => storage.close());
      const secret = [randomBytes(32)];
      let now = T0;
      const poller = await KeyPoller.start(storage, secret, log, { pollMs: 0, now: () => now });
      t.after(() => poller.close());
      const signer = await AssertionSigner.follow(poller, log);
      t.after(() => signer.close());
      const oldKid = signer.kid;

      now = T0 + 10;
      const r = await new KeyStore(storage, secret).rotate(now, KEEP, { delay: ACTIVATION_DELAY_SECONDS });
      assert.equal(r.activatesAt, now + ACTIVATION_DELAY_SECONDS);
      const newKid = r.added.find((k) => k.alg === 'ES256')!.kid;
      for (const k of r.added) assert.equal(keyState(k, now), 'pending');
      for (const k of r.retired) {
        assert.equal(k.retiredAt, r.activatesAt, 'the old key signs until the new one takes over');
        assert.equal(k.keepUntil, r.activatesAt + KEEP + 60);
      }

      assert.equal(await signer.refresh(), true, 'the rotation is seen');
      assert.ok(kidsOf(signer.jwks).includes(newKid), 'published at once');
      assert.equal(kidsOf(signer.jwks).length, 4);
      assert.equal(signer.kid, oldKid, 'but not signing');
      const before = await signer.assertion(session(now), spec, 'https://gw', now);
      assert.equal(decodeProtectedHeader(before).kid, oldKid);

      now = r.activatesAt - 1;
      assert.equal(await signer.refresh(), false, 'nothing changes a second before activation');
      assert.equal(signer.kid, oldKid);

      now = r.activatesAt;
      assert.equal(await signer.refresh(), true, 'the activation is a change');
      assert.equal(signer.kid, newKid);
      const afterJwt = await signer.assertion(session(now), spec, 'https://gw', now);
      assert.equal(decodeProtectedHeader(afterJwt).kid, newKid);
      assert.ok(kidsOf(signer.jwks).includes(oldKid), 'the old key keeps verifying');

      now = r.activatesAt + KEEP + 60;
      assert.equal(await signer.refresh(), true, 'the retired key leaves when its window ends');
      assert.deepEqual(
        kidsOf(signer.jwks),
        r.added.map((k) => k.kid),
      );
      assert.equal(await signer.refresh(), false, 'and that is all');
    });

    test('a set stored before staged activation loads unchanged, and its keys sign', async (t) => {
      const storage = open();
      t.after(() => storage.close());
      const secret = [randomBytes(32)];
      // Written as src/issuer/keys.ts wrote it: no activatesAt; a retired key from an earlier rotation.
      const fresh = await new KeyStore(new MemoryStorage(), secret).load(T0);
      const [rsa, ec] = fresh.keys as [StoredKey, StoredKey];
      const retired = { ...(await new KeyStore(new MemoryStorage(), secret).load(T0)).keys[1]! };
      const legacy = {
        v: 1,
        version: 2,
        keys: [rsa, ec, { ...retired, retiredAt: T0, keepUntil: T0 + 1000 }],
      };
      const sealed = new Sealer(secret).seal('issuer signing keys', JSON.stringify(legacy));
      await storage.upsert(KEYS_KIND, KEYS_ID, { version: 2, sealed });

      const loaded = await new KeyStore(storage, secret).load(T0 + 5);
      assert.deepEqual(loaded, legacy);
      assert.equal(signingKey(loaded, 'ES256', T0 + 5)?.kid, ec.kid);
      assert.equal(signingKey(loaded, 'RS256', T0 + 5)?.kid, rsa.kid);
      assert.equal(keyState(loaded.keys[2]!, T0 + 5), 'retired');
      assert.deepEqual(
        providerJwks(loaded, T0 + 5).map((k) => k.kid),
        [rsa.kid, ec.kid, retired.kid],
      );
    });

    test('a rotation over no keys (fresh storage, discarded set) signs at once: nothing else would', async (t) => {
      const storage = open();
      t.after(() => storage.close());
      const r = await new KeyStore(storage, [randomBytes(32)]).rotate(T0, KEEP, {
        delay: ACTIVATION_DELAY_SECONDS,
      });
      assert.equal(r.activatesAt, T0);
      assert.equal(signingKey(r.set, 'ES256', T0)?.kid, r.added[1]!.kid);
    });

    test('rotating again, or with --now, during a staged rotation leaves one signing key per algorithm', async (t) => {
      const storage = open();
      t.after(() => storage.close());
      const store = new KeyStore(storage, [randomBytes(32)]);
      const a = await store.load(T0);
      const b = await store.rotate(T0 + 10, KEEP, { delay: ACTIVATION_DELAY_SECONDS });
      const c = await store.rotate(T0 + 20, KEEP, { delay: ACTIVATION_DELAY_SECONDS });
      const es = (set: { keys: readonly StoredKey[] }) => set.keys.filter((k) => k.alg === 'ES256');
      const signerAt = (now: number) => {
        const active = es(c.set).filter((k) => keyState(k, now) === 'active');
        assert.equal(active.length, 1, `one active ES256 key at ${now - T0}`);
        return active[0]!.kid;
      };
      const [aKid, bKid, cKid] = [es(a)[0]!.kid, es(b.set)[0]!.kid, es(c.set)[0]!.kid];
      for (let s = T0; s < T0 + 400; s++) {
        const kid = signerAt(s);
        assert.equal(kid, s < b.activatesAt ? aKid : s < c.activatesAt ? bKid : cKid);
      }
      // An emergency rotation over a pending one: the new key signs at once, the pending one never does.
      const d = await store.rotate(T0 + 30, KEEP);
      assert.equal(d.activatesAt, T0 + 30);
      const dKid = es(d.set)[0]!.kid;
      for (let s = T0 + 30; s < T0 + 400; s++) {
        const active = es(d.set).filter((k) => keyState(k, s) === 'active');
        assert.deepEqual(
          active.map((k) => k.kid),
          [dKid],
        );
      }
      assert.equal(es(d.set)[0]!.activatesAt, undefined, '--now keys are stored as before staging');
    });
  });
}

describe('two instances on one Redis', () => {
  /**
   * Instance A sees the rotation at once (it checks every second); instance B polled just before it and
   * looks again a full poll period later. Every second each signs an assertion, which must verify against
   * the other instance's published JWKS. Returns the seconds at which one did not.
   */
  async function run(t: import('node:test').TestContext, delay: number): Promise<string[]> {
    const prefix = `portcullis-test-${randomBytes(6).toString('hex')}:`;
    const connect = () => RedisStorage.connect({ url: REDIS, keyPrefix: prefix });
    const [sa, sb] = [await connect(), await connect()];
    t.after(async () => {
      await sa.destroy(KEYS_KIND, KEYS_ID);
      await Promise.all([sa.close(), sb.close()]);
    });
    const secret = [randomBytes(32)];
    let now = T0;
    const clock = () => now;
    const a = await AssertionSigner.start(sa, secret, log, { pollMs: 0, now: clock });
    const b = await AssertionSigner.start(sb, secret, log, { pollMs: 0, now: clock });
    t.after(() => {
      a.close();
      b.close();
    });
    assert.equal(a.kid, b.kid, 'one key set');
    const bPollsAt = T0 + KEY_POLL_SECONDS;
    const r = await new KeyStore(sa, secret).rotate(T0, KEEP, { delay });
    const misses: string[] = [];
    for (now = T0; now <= T0 + 3 * KEY_POLL_SECONDS; now++) {
      await a.refresh();
      // B's timer: every poll period from its phase (the real poller also wakes at each known transition).
      if ((now - bPollsAt) % KEY_POLL_SECONDS === 0 && now >= bPollsAt) await b.refresh();
      for (const [self, other, name] of [
        [a, b, 'A'],
        [b, a, 'B'],
      ] as const) {
        const jwt = await self.assertion(session(now), spec, 'https://gw', now);
        const kid = decodeProtectedHeader(jwt).kid!;
        if (!kidsOf(other.jwks).includes(kid)) misses.push(`+${now - T0}s ${name} signed ${kid.slice(0, 8)}`);
      }
    }
    const newKid = r.added.find((k) => k.alg === 'ES256')!.kid;
    assert.deepEqual([a.kid, b.kid], [newKid, newKid], 'both sign with the new key in the end');
    return misses;
  }

  test('with staged activation, neither ever signs with a key the other does not publish', async (t) => {
    const misses = await run(t, ACTIVATION_DELAY_SECONDS);
    assert.deepEqual(misses, []);
  });

  test('an immediate rotation (--now, the behaviour before staging) opens the window', async (t) => {
    const misses = await run(t, 0);
    // A signs with the new key from the rotation on; B's JWKS lists it only once B polls, a minute later.
    assert.equal(misses.length, KEY_POLL_SECONDS);
    assert.match(misses[0]!, /^\+0s A signed/);
  });
});

describe('one poller', () => {
  test('one check reads the stored version once for every subscriber, and tells them in order', async (t) => {
    const storage = new MemoryStorage();
    let reads = 0;
    const find = storage.find.bind(storage);
    storage.find = (kind, id) => {
      if (kind === KEYS_KIND) reads++;
      return find(kind, id);
    };
    const secret = [randomBytes(32)];
    const poller = await KeyPoller.start(storage, secret, log, { pollMs: 0 });
    t.after(() => poller.close());
    const told: string[] = [];
    poller.subscribe(() => void told.push('issuer'));
    const signer = await AssertionSigner.follow(poller, log);
    t.after(() => signer.close());
    poller.subscribe(() => void told.push('last'));
    reads = 0;
    assert.equal(await poller.check(), false);
    assert.equal(reads, 1, 'unchanged: the version only');
    const before = signer.kid;
    await new KeyStore(storage, secret).rotate(Math.floor(Date.now() / 1000), 0);
    reads = 0;
    assert.equal(await signer.refresh(), true);
    assert.equal(reads, 2, 'changed: the version, then the set — once for all subscribers');
    assert.deepEqual(told, ['issuer', 'last']);
    assert.notEqual(signer.kid, before, 'the signer followed');
  });

  test('the poller wakes at a key transition rather than a full period later', async (t) => {
    const storage = new MemoryStorage();
    const secret = [randomBytes(32)];
    const store = new KeyStore(storage, secret);
    const old = signingKey(await store.load(T0), 'ES256', T0)!.kid;
    // Rotated long enough ago that the new key activates five seconds from now (room for a loaded
    // machine to start the poller before then; the period it must beat is 60 s).
    const wall = Math.floor(Date.now() / 1000);
    const r = await store.rotate(wall + 5 - ACTIVATION_DELAY_SECONDS, KEEP, {
      delay: ACTIVATION_DELAY_SECONDS,
    });
    const poller = await KeyPoller.start(storage, secret, log); // the real timer, 60 s period
    t.after(() => poller.close());
    const signer = await AssertionSigner.follow(poller, log);
    t.after(() => signer.close());
    assert.equal(signer.kid, old);
    const newKid = r.added.find((k) => k.alg === 'ES256')!.kid;
    const deadline = Date.now() + 20_000;
    while (signer.kid !== newKid && Date.now() < deadline) await new Promise((f) => setTimeout(f, 50));
    assert.equal(signer.kid, newKid, 'switched at the activation time by its own timer');
  });
});
