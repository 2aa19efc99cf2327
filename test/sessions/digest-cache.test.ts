/**
 * The session caches: least-recently-used (a busy session survives a flood of new cookies), keyed by a
 * digest (no cookie value is kept), bounded by count.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { CookieSessionStore, cookieNames } from '../../src/sessions/cookie-store.ts';
import { DigestCache, digestKey } from '../../src/sessions/digest-cache.ts';
import { Sealer } from '../../src/sessions/sealer.ts';
import type { Session } from '../../src/sessions/session.ts';

const NOW = 1_800_000_000;

/** A Sealer that counts how often a value was opened (a cache miss). */
class CountingSealer extends Sealer {
  opens = 0;
  override open(purpose: string, sealed: string): string | undefined {
    this.opens++;
    return super.open(purpose, sealed);
  }
}

function session(sub: string): Session {
  return {
    v: 1,
    provider: 'test',
    identity: { sub, email: `${sub}@example.com`, groups: [] },
    createdAt: NOW,
    expiresAt: NOW + 3600,
  };
}

describe('DigestCache', () => {
  test('keys are the SHA-256 of the secret, never the secret', () => {
    const cache = new DigestCache<number>({ max: 10 });
    const cookie = `${'x'.repeat(38_000)}tail`;
    cache.set(cookie, 1);
    assert.equal(cache.get(cookie), 1);
    assert.deepEqual(cache.keys(), [createHash('sha256').update(cookie).digest('base64url')]);
    assert.equal(digestKey(cookie).length, 43);
    assert.ok(!cache.keys().some((k) => k.includes('xxxx')), 'no raw value kept');
    assert.equal(cache.get(`${'x'.repeat(38_000)}tail!`), undefined, 'a different value misses');
  });

  test('evicts the least recently used entry, not the oldest inserted', () => {
    const cache = new DigestCache<number>({ max: 3 });
    cache.set('a', 1);
    cache.set('b', 2);
    cache.set('c', 3);
    assert.equal(cache.get('a'), 1); // a is now the most recently used
    cache.set('d', 4);
    assert.equal(cache.get('a'), 1, 'a was used: kept');
    assert.equal(cache.get('b'), undefined, 'b was the least recently used: evicted');
    assert.equal(cache.size, 3);
  });

  test('entries expire after the TTL', async () => {
    const cache = new DigestCache<number>({ max: 3, ttlMs: 20 });
    cache.set('a', 1);
    assert.equal(cache.get('a'), 1);
    await new Promise((r) => setTimeout(r, 40));
    assert.equal(cache.get('a'), undefined);
  });
});

describe('cookie session cache', () => {
  test('a busy session stays decrypted while 10,000 other cookies pass through (LRU, not FIFO)', () => {
    const sealer = new CountingSealer([randomBytes(32)]);
    const names = cookieNames('portcullis', false, undefined);
    const st = new CookieSessionStore(sealer, names, { secure: false });
    const jar = (s: Session) => {
      const raw = st.write(s, new Map(), NOW)[0]!;
      const pair = raw.split('; ')[0]!;
      return new Map([[names.session, pair.slice(pair.indexOf('=') + 1)]]);
    };
    const busy = jar(session('busy'));
    assert.equal(st.read(busy, NOW)?.identity.sub, 'busy');
    // 9,999 others fill the cache to its bound (10,000); the busy session is read meanwhile.
    for (let i = 0; i < 9_999; i++) {
      st.read(jar(session(`u${i}`)), NOW);
      if (i % 1000 === 0) st.read(busy, NOW);
    }
    st.read(busy, NOW);
    // One more new cookie evicts one entry: the least recently used, not the busy one inserted first.
    st.read(jar(session('late')), NOW);
    const before = sealer.opens;
    assert.equal(st.read(busy, NOW)?.identity.sub, 'busy');
    assert.equal(sealer.opens, before, 'served from the cache, not opened again');
  });
});
