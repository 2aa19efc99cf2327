/**
 * Server-side sessions: the browser's cookie carries only a random id (256 bits), sealed with the cookie
 * key; the session lives in a `Storage` (redis, or sqlite through the storage section). What that buys:
 *
 * - Revocation: sign-out deletes the entry, so the old cookie, even replayed, is no session.
 * - Small cookies, whatever the size of the IdP's tokens.
 * - A forged or tampered cookie fails to open with the cookie key and is no session, without a store lookup.
 * - The store never sees the cookie value: the entry's key is SHA-256 of the id (the id has 256 bits of
 *   entropy, so a plain hash is one-way; no key is needed, and rotating the cookie secret keeps the keys).
 * - Tokens are encrypted at rest (AES-256-GCM, Sealer) with keys derived from the cookie secrets by HKDF
 *   under their own label, bound to the entry's key, so redis operators see no token and an entry copied
 *   to another key does not open.
 * - The entry expires with the session (TTL = the session's remaining absolute lifetime).
 *
 * A refresh with a rotating refresh token must be redeemed once, whichever instance sees the expired access
 * token first: one request per process (single-flight) and one process per session (a short lock entry
 * created with Storage.create, atomic with its expiry in every adapter) redeem it; the others wait for the
 * stored session to change and use it.
 *
 * Sign-out must win over a refresh in flight: the refreshed session is written back with Storage.swap, a
 * compare-and-set against the ciphertext read under the lock, so it lands only on that very entry. A
 * sign-out replaces the entry with a tombstone (kept TOMBSTONE_SECONDS, longer than any refresh can be in
 * flight), so the late write finds a changed entry, not a free key, and the request that redeemed in vain
 * is answered as signed out. Had another instance refreshed meanwhile, its stored session is used instead.
 *
 * Every request with a session costs one store read (redis: one HGETALL). By default no session is
 * cached across requests without that read, so revocation takes effect at the next request everywhere;
 * the decrypted session is reused only while the stored ciphertext is unchanged (which also keeps the
 * per-session policy and identity-header caches warm). With `sessions.localCache` a live session is served
 * from memory for a few seconds, and every change is published so that other instances drop their copy
 * (src/sessions/local-cache.ts); every process with that setting publishes, `portcullis sessions revoke`
 * included. Without it nothing is published: a Redis user may lack pub/sub rights, and sign-out must not
 * start failing for a cache nobody turned on.
 */
import { randomBytes } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { PortcullisError } from '../errors/codes.ts';
import type { ChangeFeed, Storage } from '../storage/storage.ts';
import { type CookieNames, CookieSessionStore } from './cookie-store.ts';
import type { CookieOptions } from './cookies.ts';
import { serializeCookie } from './cookies.ts';
import { DigestCache } from './digest-cache.ts';
import type { Cached, LocalSessionCache } from './local-cache.ts';
import { Sealer } from './sealer.ts';
import {
  atRestKey,
  LOCK_KIND,
  SESSION_KIND,
  storeKey,
  TOMBSTONE,
  TOMBSTONE_SECONDS,
  USER_KIND,
  userGroup,
} from './server-entries.ts';
import { isSession, needsRefresh, type Session } from './session.ts';
import { SignedOutAs } from './signed-out-as.ts';
import type {
  Cookies,
  Redeem,
  RefreshOutcome,
  SessionStore,
  UserRef,
  UserSession,
  UserSessions,
} from './store.ts';
import { STORE_TIMEOUT_MS, type StoreOp, StoreOps } from './store-ops.ts';

export { LOCK_KIND, SESSION_KIND, USER_KIND, userGroup } from './server-entries.ts';

/** The Sealer purpose of the cookie value: never opens as a cookie-store session, nor the other way round. */
const REF_PURPOSE = 'session-ref';
const ID_BYTES = 32;
const ID_SHAPE = /^[A-Za-z0-9_-]{43}$/;
/** Longer than a refresh at the IdP may take (10 s timeout); a crashed holder's lock expires by then. */
const LOCK_SECONDS = 15;
const POLL_MS = 50;
const CACHE_MAX = 10_000;
const CACHE_TTL_MS = 15 * 60_000;

export interface ServerSessionStoreOptions {
  readonly storage: Storage;
  /** `sessions.store`: names the store in errors and metrics. */
  readonly type: 'redis' | 'storage';
  /** The cookie secrets (the first seals); the at-rest keys are derived from them. */
  readonly cookieKeys: readonly Buffer[];
  readonly names: CookieNames;
  readonly cookieOptions: CookieOptions;
  /** Close the storage with the store (false when it is shared with the issuer). */
  readonly ownsStorage: boolean;
  /** Every failed store operation (metrics, log); the request then fails with PCL_SESSION_STORE_UNAVAILABLE. */
  readonly onError?: (op: StoreOp, err: unknown) => void;
  readonly timeoutMs?: number;
  /** The refresh lock's lifetime in seconds (default LOCK_SECONDS; tests shorten it). */
  readonly lockSeconds?: number;
  /** `sessions.localCache`: one per process, shared by the stores reloads build (sessions/open.ts). */
  readonly localCache?: LocalSessionCache | undefined;
  /**
   * Where every change of a session is published (the invalidations of the local caches): given when the
   * configuration has `sessions.localCache`, whether or not this process caches (`portcullis sessions`).
   */
  readonly changes?: ChangeFeed | undefined;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The refresh is done when the stored session no longer holds the token we saw, or needs no refresh. */
function refreshedSince(seen: Session, current: Session, now: number): boolean {
  return current.refreshToken !== seen.refreshToken || !needsRefresh(current, now);
}

export class ServerSessionStore implements SessionStore, UserSessions {
  readonly type: 'redis' | 'storage';
  readonly users: UserSessions = this;
  readonly names: CookieNames;
  readonly #storage: Storage;
  readonly #refs: Sealer;
  readonly #atRest: Sealer;
  /** Expiring and recognising cookies is the same as for cookie sessions (chunks left from them too). */
  readonly #cookies: CookieSessionStore;
  readonly #opts: CookieOptions;
  readonly #signedOut: SignedOutAs;
  readonly #owns: boolean;
  readonly #ops: StoreOps;
  readonly #lockSeconds: number;
  /** Where changes are told to other instances (redis pub/sub); absent without sessions.localCache. */
  readonly #feed: ChangeFeed | undefined;
  readonly #local: LocalSessionCache | undefined;
  /**
   * Cookie value (by digest) → store key, for values that opened with our keys (the AEAD tag authenticates
   * them). No TTL: the mapping never changes; whether the session still exists is the store's to say.
   */
  readonly #refCache = new DigestCache<string>({ max: CACHE_MAX });
  /**
   * Store key (already a digest) → the decrypted session of the ciphertext last read; used only while the
   * stored ciphertext is unchanged. The TTL keeps an idle session's tokens from lingering in memory.
   */
  readonly #sessions = new LRUCache<string, Cached>({ max: CACHE_MAX, ttl: CACHE_TTL_MS });
  readonly #inflight = new Map<string, Promise<Session | undefined>>();

  constructor(o: ServerSessionStoreOptions) {
    this.type = o.type;
    this.names = o.names;
    this.#storage = o.storage;
    this.#refs = new Sealer(o.cookieKeys);
    this.#atRest = new Sealer(o.cookieKeys.map(atRestKey));
    this.#cookies = new CookieSessionStore(this.#refs, o.names, o.cookieOptions);
    this.#opts = o.cookieOptions;
    this.#signedOut = new SignedOutAs(this.#refs, o.names, o.cookieOptions);
    this.#owns = o.ownsStorage;
    this.#ops = new StoreOps(o.type, o.timeoutMs ?? STORE_TIMEOUT_MS, o.onError ?? (() => {}));
    this.#lockSeconds = o.lockSeconds ?? LOCK_SECONDS;
    this.#feed = o.changes;
    this.#local = o.localCache;
    // A store is built at start and at every reload: what the previous one decrypted goes, in case a
    // cookie secret was removed.
    this.#local?.clear();
  }

  owns(name: string): boolean {
    return name === this.#signedOut.name || this.#cookies.owns(name);
  }

  /** The store key the cookie names, or undefined for no cookie or one that does not open (forged). */
  #key(cookies: Cookies): string | undefined {
    const value = cookies.get(this.names.session);
    if (value === undefined) return undefined;
    const cached = this.#refCache.get(value);
    if (cached !== undefined) return cached;
    const id = this.#refs.open(REF_PURPOSE, value);
    if (id === undefined || !ID_SHAPE.test(id)) return undefined;
    const key = storeKey(id);
    this.#refCache.set(value, key);
    return key;
  }

  #op<T>(op: StoreOp, run: () => Promise<T>): Promise<T> {
    return this.#ops.run(op, run);
  }

  /** Tells every instance that the entry changed (their local caches drop it) before the caller answers. */
  async #changed(key: string, op: StoreOp): Promise<void> {
    this.#local?.forget(key);
    const feed = this.#feed;
    if (feed !== undefined) await this.#op(op, () => feed.publish(key));
  }

  async ping(): Promise<void> {
    await this.#op('read', () => this.#storage.find(SESSION_KIND, 'ready-probe'));
  }

  /** The live session entry with the ciphertext it was read from; undefined when absent, ended or expired. */
  async #entry(key: string, now: number): Promise<Cached | undefined> {
    const mark = this.#local?.mark() ?? -1;
    const payload = await this.#op('read', () => this.#storage.find(SESSION_KIND, key));
    const blob = payload?.['s'];
    if (typeof blob !== 'string') {
      this.#sessions.delete(key);
      this.#local?.forget(key);
      return undefined;
    }
    let entry = this.#sessions.get(key);
    if (entry?.blob !== blob) {
      const plain = this.#atRest.open(`session:${key}`, blob);
      let parsed: unknown;
      try {
        parsed = plain === undefined ? undefined : JSON.parse(plain);
      } catch {
        parsed = undefined;
      }
      // An entry sealed with a secret no longer configured, or damaged: no session.
      if (!isSession(parsed)) return undefined;
      entry = { blob, session: parsed };
      this.#sessions.set(key, entry);
    }
    if (entry.session.expiresAt <= now) return undefined;
    this.#local?.keep(key, entry, mark, now);
    return entry;
  }

  async #load(key: string, now: number): Promise<Session | undefined> {
    return (await this.#entry(key, now))?.session;
  }

  /** Sign-in: a new entry under a fresh key, and its entry in the user's index (same lifetime). */
  async #put(key: string, session: Session, now: number): Promise<void> {
    const ttl = session.expiresAt - now;
    if (ttl <= 0) return;
    const blob = this.#atRest.seal(`session:${key}`, JSON.stringify(session));
    await this.#op('write', () => this.#storage.upsert(SESSION_KIND, key, { s: blob }, { expiresIn: ttl }));
    this.#sessions.set(key, { blob, session });
    const user = { provider: session.provider, sub: session.identity.sub };
    const entry = { provider: session.provider, createdAt: session.createdAt, expiresAt: session.expiresAt };
    await this.#op('write', () =>
      this.#storage.upsert(USER_KIND, key, entry, { expiresIn: ttl, grantId: userGroup(user) }),
    );
  }

  /** A refresh's write-back: only onto the entry that still holds `blob` (compare-and-set); true when it did. */
  async #swap(key: string, blob: string, next: Session, now: number): Promise<boolean> {
    const ttl = next.expiresAt - now;
    const sealed = ttl > 0 ? this.#atRest.seal(`session:${key}`, JSON.stringify(next)) : '';
    const done = await this.#op('write', () =>
      this.#storage.swap(SESSION_KIND, key, { field: 's', value: blob }, ttl > 0 ? { s: sealed } : {}, {
        expiresIn: ttl,
      }),
    );
    if (done && ttl > 0) this.#sessions.set(key, { blob: sealed, session: next });
    else if (done) this.#sessions.delete(key);
    if (done) await this.#changed(key, 'write');
    return done;
  }

  /**
   * Ends a session: a tombstone replaces the entry, unconditionally (sign-out), or only while it still
   * holds `blob` (a refused refresh must not end a session another instance has refreshed since).
   */
  async #end(key: string, blob?: string): Promise<boolean> {
    const o = { expiresIn: TOMBSTONE_SECONDS };
    let done = true;
    if (blob === undefined)
      await this.#op('delete', () => this.#storage.upsert(SESSION_KIND, key, TOMBSTONE, o));
    else
      done = await this.#op('delete', () =>
        this.#storage.swap(SESSION_KIND, key, { field: 's', value: blob }, TOMBSTONE, o),
      );
    if (done) {
      this.#sessions.delete(key);
      await this.#changed(key, 'delete');
    }
    return done;
  }

  read(cookies: Cookies, now: number): Session | undefined | Promise<Session | undefined> {
    const key = this.#key(cookies);
    if (key === undefined) return undefined;
    return this.#local?.get(key, now) ?? this.#load(key, now);
  }

  /** Sign-in: always a new id (no session fixation); the browser's previous session, if any, is deleted. */
  async write(session: Session, present: Cookies, now: number): Promise<string[]> {
    const id = randomBytes(ID_BYTES).toString('base64url');
    await this.#put(storeKey(id), session, now);
    const previous = this.#key(present);
    if (previous !== undefined) {
      try {
        await this.#end(previous);
      } catch {
        // counted and logged by #op; the new session stands
      }
    }
    const out = [
      serializeCookie(
        this.names.session,
        this.#refs.seal(REF_PURPOSE, id),
        session.expiresAt - now,
        this.#opts,
      ),
    ];
    // Chunks of a cookie session from before the switch to a server store.
    for (const c of this.#cookies.expireCookies(present))
      if (!c.startsWith(`${this.names.session}=`)) out.push(c);
    // A previous user's "signed out as" on this browser must not outlive the next sign-in.
    out.push(...this.expireSignedOutAs(present));
    return out;
  }

  /**
   * Sign-out: the entry goes first (replaced by a tombstone), so a store failure answers 503 instead of a
   * sign-out that did not revoke.
   */
  async clear(present: Cookies): Promise<string[]> {
    const key = this.#key(present);
    if (key !== undefined) {
      await this.#end(key);
      await this.#op('delete', () => this.#storage.destroy(USER_KIND, key));
    }
    return this.#cookies.expireCookies(present);
  }

  expireCookies(present: Cookies): string[] {
    return this.#cookies.expireCookies(present);
  }

  async listUser(user: UserRef, now: number): Promise<UserSession[]> {
    const members = await this.#op('read', () => this.#storage.listGrant(userGroup(user)));
    const out: UserSession[] = [];
    for (const m of members) {
      if (m.kind !== USER_KIND) continue;
      // A session signed out on its own device left its index entry only if the index delete failed.
      if ((await this.#load(m.id, now)) === undefined) continue;
      const p = m.payload;
      out.push({
        ref: m.id.slice(0, 12),
        provider: String(p['provider']),
        createdAt: Number(p['createdAt']),
        expiresAt: Number(p['expiresAt']),
      });
    }
    return out.sort((a, b) => a.createdAt - b.createdAt);
  }

  /** Ends one of the user's sessions, named by its listing `ref`; false when none matches (already ended). */
  async endOne(user: UserRef, ref: string): Promise<boolean> {
    if (!/^[A-Za-z0-9_-]{12}$/.test(ref)) return false;
    const members = await this.#op('read', () => this.#storage.listGrant(userGroup(user)));
    const m = members.find((x) => x.kind === USER_KIND && x.id.slice(0, 12) === ref);
    if (m === undefined) return false;
    await this.#end(m.id);
    await this.#op('delete', () => this.#storage.destroy(USER_KIND, m.id));
    return true;
  }

  /**
   * Sign out everywhere: each indexed session is replaced by a tombstone (as a sign-out does, so a refresh
   * in flight cannot bring it back), then the index goes. Every instance reads the store at every request
   * (or, with a local cache, is sent each tombstone's invalidation before this returns), so the sessions
   * are refused everywhere from the next request on (with a local cache: once the message arrives).
   */
  async endUser(user: UserRef): Promise<number> {
    const group = userGroup(user);
    const members = await this.#op('read', () => this.#storage.listGrant(group));
    let live = 0;
    for (const m of members) {
      if (m.kind !== USER_KIND) continue;
      const payload = await this.#op('read', () => this.#storage.find(SESSION_KIND, m.id));
      if (typeof payload?.['s'] === 'string') live++;
      await this.#end(m.id);
    }
    await this.#op('delete', () => this.#storage.revokeGrant(group));
    return live;
  }

  signedOutAs(session: Session | undefined): string[] {
    return this.#signedOut.cookies(session);
  }

  readSignedOutAs(present: Cookies, now: number): UserRef | undefined {
    return this.#signedOut.read(present, now);
  }

  expireSignedOutAs(present: Cookies): string[] {
    return this.#signedOut.expire(present);
  }

  async refresh(present: Cookies, session: Session, now: number, redeem: Redeem): Promise<RefreshOutcome> {
    const key = this.#key(present);
    if (key === undefined) return { session: undefined, setCookies: [] };
    let pending = this.#inflight.get(key);
    if (pending === undefined) {
      pending = this.#refreshOnce(key, session, now, redeem).finally(() => this.#inflight.delete(key));
      this.#inflight.set(key, pending);
    }
    // The id stays the same: nothing to send to the browser.
    return { session: await pending, setCookies: [] };
  }

  async #refreshOnce(key: string, seen: Session, now: number, redeem: Redeem): Promise<Session | undefined> {
    // The lock names its holder, so a holder whose lock expired cannot release the next holder's.
    const owner = randomBytes(16).toString('base64url');
    // Created with its expiry in one step, the lock always expires by itself: a crashed holder's lock is
    // gone after lockSeconds, and the next create here takes it. No lock is ever broken by hand (that
    // would let two instances redeem at once); waiting longer than that means the store is not keeping up.
    const deadline = Date.now() + (this.#lockSeconds + 2) * 1000;
    for (;;) {
      const mine = await this.#op('lock', () =>
        this.#storage.create(LOCK_KIND, key, { owner }, { expiresIn: this.#lockSeconds }),
      );
      if (mine) {
        try {
          return await this.#redeemLocked(key, seen, now, redeem);
        } finally {
          await this.#release(key, owner);
        }
      }
      // Another instance is refreshing: wait for the stored session to change.
      await sleep(POLL_MS);
      const current = await this.#load(key, now);
      if (current === undefined || refreshedSince(seen, current, now)) return current;
      if (Date.now() > deadline) {
        throw new PortcullisError(
          'PCL_SESSION_STORE_UNAVAILABLE',
          `session store ${this.type}: refresh lock held for more than ${this.#lockSeconds} s`,
        );
      }
    }
  }

  async #redeemLocked(key: string, seen: Session, now: number, redeem: Redeem): Promise<Session | undefined> {
    // Read again under the lock: another instance may have refreshed between our read and now.
    const read = await this.#entry(key, now);
    if (read === undefined || refreshedSince(seen, read.session, now)) return read?.session;
    let next: Session;
    try {
      next = await redeem(read.session);
    } catch (err) {
      // The refresh token was refused: the session ends for every instance, unless the entry changed
      // meanwhile (then what is stored stands: a sign-out's tombstone, or another instance's refresh).
      if (await this.#end(key, read.blob)) throw err;
      const stored = await this.#load(key, now);
      if (stored === undefined) throw err;
      return stored;
    }
    // Compare-and-set against what was read under the lock: a sign-out during the redemption left a
    // tombstone, and this write must not bring the session back; the request is then signed out. If
    // another instance refreshed meanwhile (our lock expired), its session is the one to use.
    if (await this.#swap(key, read.blob, next, now)) return next.expiresAt > now ? next : undefined;
    return this.#load(key, now);
  }

  /** Removes the lock if it is still ours; failures are counted, not thrown (it expires by itself). */
  async #release(key: string, owner: string): Promise<void> {
    try {
      await this.#op('delete', () =>
        this.#storage.swap(LOCK_KIND, key, { field: 'owner', value: owner }, {}, { expiresIn: 0 }),
      );
    } catch {
      // counted and logged by #op
    }
  }

  async close(): Promise<void> {
    if (this.#owns) await this.#storage.close();
  }
}
