/**
 * `sessions.localCache`: live server-side sessions kept in this process's memory, so a request skips the
 * store read — off by default, since without it revocation takes effect at the very next request. The
 * design is Redis's own client-side caching (redis.io/docs/latest/develop/reference/client-side-caching/),
 * with the invalidations sent by Portcullis: every write that changes or ends a session (sign-out,
 * revocation, a refresh's write-back) publishes the session's store key on the storage's change feed
 * (Redis pub/sub) before the request that made it is answered, and every process listens.
 *
 * An entry is served only while all of these hold, so a lost message costs at most `seconds`:
 * - the subscription is up: `down` (connection lost) empties the cache and turns it off until `up` (the
 *   re-subscription confirmed);
 * - it was read from the store after the last message heard (the `mark` taken before the read is still
 *   current): an invalidation that overtakes the read's answer is never undone by it;
 * - for at most `seconds` after that read;
 * - the session is neither expired nor due a refresh: those go through the store (another instance may
 *   have refreshed it; the redemption is single-flight there).
 */
import { LRUCache } from 'lru-cache';
import type { ChangeFeed, ChangeListener } from '../storage/storage.ts';
import { needsRefresh, type Session } from './session.ts';

/** A decrypted session with the ciphertext it was read from. */
export interface Cached {
  readonly blob: string;
  readonly session: Session;
}

interface Fresh {
  readonly entry: Cached;
  /** Served until this time (the store's clock: epoch seconds). */
  readonly until: number;
}

const MAX = 10_000;

export class LocalSessionCache implements ChangeListener {
  #seconds: number;
  readonly #entries = new LRUCache<string, Fresh>({ max: MAX });
  #up = false;
  /** Counts every message and subscription change: a read may fill the cache only if none came since. */
  #epoch = 0;
  readonly #stop: () => void;
  readonly #onSwitch: (up: boolean) => void;
  /** Serves and invalidations heard: what `portcullis_session_cache_*` would show, and what tests read. */
  hits = 0;
  invalidations = 0;

  /** `onSwitch`: the cache turned on (subscribed) or off (not), for the log; not called for the first off. */
  constructor(feed: ChangeFeed, seconds: number, onSwitch: (up: boolean) => void = () => {}) {
    this.#seconds = seconds;
    this.#onSwitch = onSwitch;
    this.#stop = feed.listen(this);
  }

  /** A reload may change the bound; entries already kept keep theirs. */
  set seconds(s: number) {
    this.#seconds = s;
  }

  get subscribed(): boolean {
    return this.#up;
  }

  get size(): number {
    return this.#entries.size;
  }

  changed(key: string): void {
    this.#epoch++;
    this.invalidations++;
    this.#entries.delete(key);
  }

  down(): void {
    const was = this.#up;
    this.#up = false;
    this.#epoch++;
    this.#entries.clear();
    if (was) this.#onSwitch(false);
  }

  up(): void {
    this.#epoch++;
    this.#entries.clear();
    if (!this.#up) this.#onSwitch(true);
    this.#up = true;
  }

  /** Taken before a store read; `keep` stores the answer only if it is still current. */
  mark(): number {
    return this.#up ? this.#epoch : -1;
  }

  get(key: string, now: number): Session | undefined {
    if (!this.#up) return undefined;
    const f = this.#entries.get(key);
    if (f === undefined) return undefined;
    const s = f.entry.session;
    if (now >= f.until || s.expiresAt <= now || needsRefresh(s, now)) {
      this.#entries.delete(key);
      return undefined;
    }
    this.hits++;
    return s;
  }

  keep(key: string, entry: Cached, mark: number, now: number): void {
    if (mark === this.#epoch && this.#up) this.#entries.set(key, { entry, until: now + this.#seconds });
  }

  forget(key: string): void {
    this.#entries.delete(key);
  }

  /** Everything goes (a reload may have removed the cookie secret some entries were sealed with). */
  clear(): void {
    this.#epoch++;
    this.#entries.clear();
  }

  close(): void {
    this.#stop();
    this.down();
  }
}
