/**
 * A bounded least-recently-used cache keyed by a secret value (a session cookie, up to ~38 KB when
 * chunked) without keeping that value: the key is its SHA-256. What that buys:
 *
 * - Memory: 10,000 entries cost 10,000 × 43 characters of key, not 10,000 whole cookies (~380 MB at worst).
 * - No bearer credential sits in a long-lived map (a heap dump shows digests, not cookies).
 * - Least-recently-used eviction (lru-cache): a flood of new cookies evicts idle sessions, not the busy ones
 *   that were merely decrypted first (the hand-made caches evicted oldest-inserted first).
 *
 * SHA-256 is collision resistant, so a forged value cannot land on another's entry; with SHA extensions it
 * costs ~2 µs for a 3 KB cookie (~24 µs for 38 KB), well under the AES-GCM open and JSON parse it saves.
 */
import { hash } from 'node:crypto';
import { LRUCache } from 'lru-cache';

/** The cache key of a secret value: base64url SHA-256, 43 characters whatever the value's length. */
export function digestKey(value: string): string {
  return hash('sha256', value, 'base64url');
}

export interface DigestCacheOptions {
  /** Entries kept at most; the least recently used leaves first. */
  readonly max: number;
  /** Milliseconds an entry lives after it is set (not extended by reads); omitted: until evicted. */
  readonly ttlMs?: number;
}

export class DigestCache<V extends {}> {
  readonly #lru: LRUCache<string, V>;

  constructor(o: DigestCacheOptions) {
    this.#lru = new LRUCache<string, V>(
      o.ttlMs === undefined ? { max: o.max } : { max: o.max, ttl: o.ttlMs, updateAgeOnGet: false },
    );
  }

  get(secret: string): V | undefined {
    return this.#lru.get(digestKey(secret));
  }

  set(secret: string, value: V): void {
    this.#lru.set(digestKey(secret), value);
  }

  get size(): number {
    return this.#lru.size;
  }

  /** The keys held (digests), least recently used last; for tests. */
  keys(): string[] {
    return [...this.#lru.keys()];
  }
}
