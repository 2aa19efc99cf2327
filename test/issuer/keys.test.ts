/**
 * Signing keys: generated once and shared through the storage, sealed with the cookie secret, rotated
 * with old keys kept for verification until the tokens they signed have expired.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { providerJwks } from '../../src/keys/state.ts';
import { KEYS_ID, KEYS_KIND, KeyStore, KeysUnreadableError } from '../../src/keys/store.ts';
import { MemoryStorage } from '../../src/storage/memory.ts';

const secret = () => randomBytes(32);

test('the first load generates an RS256 and an ES256 key; later loads return the same set', async () => {
  const storage = new MemoryStorage();
  const keys = new KeyStore(storage, [secret()]);
  const first = await keys.load(1_000);
  assert.deepEqual(
    first.keys.map((k) => k.alg),
    ['RS256', 'ES256'],
  );
  assert.equal(first.version, 1);
  for (const k of first.keys) {
    assert.equal(k.jwk.kid, k.kid);
    assert.equal(k.jwk.use, 'sig');
    assert.equal(typeof k.jwk.d, 'string', 'private');
  }
  const again = await keys.load(2_000);
  assert.deepEqual(again, first);
});

test('instances starting together on one storage end up with one key set', async () => {
  const storage = new MemoryStorage();
  const s = secret();
  const sets = await Promise.all([1, 2, 3, 4].map(() => new KeyStore(storage, [s]).load(1_000)));
  const kids = new Set(sets.map((x) => x.keys.map((k) => k.kid).join()));
  assert.equal(kids.size, 1);
});

test('the stored set is sealed: no key material in storage, unreadable with another secret', async () => {
  const storage = new MemoryStorage();
  const set = await new KeyStore(storage, [secret()]).load(1_000);
  const raw = JSON.stringify(await storage.find(KEYS_KIND, KEYS_ID));
  for (const k of set.keys) {
    assert.ok(!raw.includes(String(k.jwk.d)), 'private key in the clear');
    assert.ok(!raw.includes(k.kid), 'even the key ids are sealed');
  }
  await assert.rejects(new KeyStore(storage, [secret()]).load(2_000), KeysUnreadableError);
});

test('a rotated cookie secret still opens the set (old one second) and re-seals it under the new one', async () => {
  const storage = new MemoryStorage();
  const oldSecret = secret();
  const newSecret = secret();
  const set = await new KeyStore(storage, [oldSecret]).load(1_000);
  const reopened = await new KeyStore(storage, [newSecret, oldSecret]).load(2_000);
  assert.deepEqual(reopened.keys, set.keys);
  const onlyNew = await new KeyStore(storage, [newSecret]).load(3_000);
  assert.deepEqual(onlyNew.keys, set.keys, 'the old secret can go now');
});

test('rotate adds signing keys first and keeps the old ones for verification, then drops them', async () => {
  const storage = new MemoryStorage();
  const keys = new KeyStore(storage, [secret()]);
  const first = await keys.load(1_000);
  const r = await keys.rotate(5_000, 3_600);
  assert.equal(r.set.version, 2);
  assert.deepEqual(
    r.added.map((k) => k.alg),
    ['RS256', 'ES256'],
  );
  assert.deepEqual(
    r.retired.map((k) => k.kid),
    first.keys.map((k) => k.kid),
  );
  assert.deepEqual(r.dropped, []);
  for (const k of r.retired) {
    assert.equal(k.retiredAt, 5_000);
    assert.equal(k.keepUntil, 5_000 + 3_600 + 60);
  }
  // The JWKS oidc-provider gets: new keys first (they sign), then the retired ones (they only verify).
  const jwks = providerJwks(r.set, 6_000);
  assert.deepEqual(
    jwks.map((k) => k.kid),
    [...r.added.map((k) => k.kid), ...first.keys.map((k) => k.kid)],
  );
  // Past the window the retired keys leave the JWKS, and the next rotation drops them from storage.
  assert.deepEqual(
    providerJwks(r.set, 5_000 + 3_600 + 61).map((k) => k.kid),
    r.added.map((k) => k.kid),
  );
  const loaded = await keys.load(9_000);
  assert.equal(loaded.version, 2, 'every instance reads the rotated set');
  const r2 = await keys.rotate(5_000 + 3_600 + 61, 3_600);
  assert.deepEqual(
    r2.dropped.map((k) => k.kid),
    first.keys.map((k) => k.kid),
  );
  assert.deepEqual(
    r2.retired.map((k) => k.kid),
    r.added.map((k) => k.kid),
  );
  assert.equal(r2.set.keys.length, 4);
});

test('rotate refuses unreadable keys unless told to discard them', async () => {
  const storage = new MemoryStorage();
  await new KeyStore(storage, [secret()]).load(1_000);
  const other = new KeyStore(storage, [secret()]);
  await assert.rejects(other.rotate(2_000, 60), KeysUnreadableError);
  const r = await other.rotate(2_000, 60, { discardUnreadable: true });
  assert.equal(r.set.keys.length, 2);
  assert.equal(r.set.version, 2);
  assert.deepEqual((await other.load(3_000)).keys, r.set.keys);
});
