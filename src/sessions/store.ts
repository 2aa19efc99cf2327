/**
 * What the gateway needs of a session store. Two implementations: the cookie store (the whole session
 * sealed in the browser's cookie; src/sessions/cookie-store.ts) and the server store (a sealed random id in
 * the cookie, the session in redis or the storage section; src/sessions/server-store.ts). Both pass the
 * same contract suite (test/sessions/store-contract.ts).
 *
 * Reads are synchronous for the cookie store, so its hot path never waits on a promise; the server store
 * answers absent and forged cookies synchronously too and returns a promise only when it asks the store.
 * Store failures are thrown as PortcullisError PCL_SESSION_STORE_UNAVAILABLE (a 503, never "signed out").
 */
import type { CookieNames } from './cookies.ts';
import type { Session } from './session.ts';

export type SessionStoreType = 'cookie' | 'redis' | 'storage';

export type Cookies = ReadonlyMap<string, string>;

/** Redeems the refresh token of `current` at the IdP and returns the refreshed session (or throws). */
export type Redeem = (current: Session) => Promise<Session>;

export interface RefreshOutcome {
  /** The refreshed session; undefined when it ended meanwhile (signed out on another instance). */
  readonly session: Session | undefined;
  /** Set-Cookie values to send (the cookie store's new cookie; none for the server store). */
  readonly setCookies: readonly string[];
}

/** One of a user's server-side sessions, as `portcullis sessions list` shows it: no id, no token. */
export interface UserSession {
  /** The store key's first 12 characters (SHA-256 of the cookie's id): tells sessions apart in a listing. */
  readonly ref: string;
  readonly provider: string;
  /** Epoch seconds. */
  readonly createdAt: number;
  readonly expiresAt: number;
}

/** A user: sessions are indexed per provider, since user ids are unique per provider only. */
export interface UserRef {
  readonly provider: string;
  readonly sub: string;
}

/**
 * Sign out everywhere (server-side stores only): every session of a user is indexed under the user, so
 * all of them can be listed and ended at once, on every instance (each reads the store at every request).
 */
export interface UserSessions {
  listUser(user: UserRef, now: number): Promise<UserSession[]>;
  /** Ends every session of the user; returns how many were live. */
  endUser(user: UserRef): Promise<number>;
  /** Ends one session of the user, named by its listing `ref` (the operator console); false when none matches. */
  endOne(user: UserRef, ref: string): Promise<boolean>;
  /**
   * A short-lived, sealed "signed out as" cookie set by a sign-out, so the signed-out page can still offer
   * to end the user's other sessions (SIGNED_OUT_AS_SECONDS); undefined when there is no session.
   */
  signedOutAs(session: Session | undefined): string[];
  /** The user the signed-out-as cookie names, if it opens and is still fresh. */
  readSignedOutAs(present: Cookies, now: number): UserRef | undefined;
  /** Expires the signed-out-as cookie, when the browser has one. */
  expireSignedOutAs(present: Cookies): string[];
}

export interface SessionStore {
  readonly type: SessionStoreType;
  readonly names: CookieNames;
  /** True for every cookie name Portcullis owns (session, chunks, flow state): never forwarded upstream. */
  owns(name: string): boolean;
  /** The live session the cookies name, or undefined (absent, forged, revoked, expired). */
  read(cookies: Cookies, now: number): Session | undefined | Promise<Session | undefined>;
  /** Stores a new session (sign-in) and returns the Set-Cookie values that hand it to the browser. */
  write(session: Session, present: Cookies, now: number): string[] | Promise<string[]>;
  /** Ends the session (server store: deletes it, so a replayed cookie is no session) and expires the cookies. */
  clear(present: Cookies): string[] | Promise<string[]>;
  /** Set-Cookie values that expire the session cookies, without touching any store. */
  expireCookies(present: Cookies): string[];
  /**
   * Refreshes `session` once: the server store makes sure that of several requests and instances holding
   * the same session only one redeems the refresh token, and the others use its result.
   */
  refresh(present: Cookies, session: Session, now: number, redeem: Redeem): Promise<RefreshOutcome>;
  /** Answers when the store does (server store: one lookup); rejects with PCL_SESSION_STORE_UNAVAILABLE. For /ready. */
  ping(): Promise<void>;
  /** Present on server-side stores: a cookie session cannot be found by its user (it lives in the browser). */
  readonly users?: UserSessions | undefined;
  close(): Promise<void>;
}
