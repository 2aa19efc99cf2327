/**
 * The storage interface shared by the issuer (oidc-provider's models: sessions, grants, codes, tokens,
 * interactions) and server-side gateway sessions (their entries and refresh locks). One interface, three adapters (memory for tests,
 * sqlite on one host, redis shared by several instances) and one contract suite that every adapter passes
 * (test/storage/contract.ts).
 *
 * An entry is a JSON object under (kind, id). It may expire, belong to a group (oidc-provider's grant: every
 * code and token issued under one grant is removed together), and carry lookups: secondary keys such as
 * a session's `uid` or a device flow's `userCode` under which it can be found too.
 */

export type Payload = Record<string, unknown>;

export interface EntryOptions {
  /** Seconds from now; absent: the entry never expires. */
  readonly expiresIn?: number | undefined;
  /** Entries with the same grant id are removed together by `revokeGrant`. */
  readonly grantId?: string | undefined;
  /** Secondary keys, name → value, for `findBy(kind, name, value)`. */
  readonly lookups?: Readonly<Record<string, string>> | undefined;
}

export type StorageType = 'sqlite' | 'redis' | 'memory';

/** What `swap` compares: the string value of one top-level field of the stored payload (a version, an etag). */
export interface Expected {
  readonly field: string;
  readonly value: string;
}

export interface SwapOptions {
  /** Seconds from now; absent: never expires; ≤ 0: the matching entry is removed (compare-and-delete). */
  readonly expiresIn?: number | undefined;
}

export interface Storage {
  readonly type: StorageType;
  /** Inserts or replaces the entry (and its lookups and expiry). */
  upsert(kind: string, id: string, payload: Payload, o?: EntryOptions): Promise<void>;
  /**
   * Inserts the entry only when no live entry has this (kind, id); true when it did. Atomic with its
   * expiry, lookups and grant: no crash can leave the entry without them (an immortal lock).
   */
  create(kind: string, id: string, payload: Payload, o?: EntryOptions): Promise<boolean>;
  /**
   * Compare-and-set, atomic in every adapter: replaces the payload and expiry of the live entry only when
   * its stored payload's `expected.field` is `expected.value`; true when it did. An absent, expired or
   * changed entry is left as it is (false). For plain entries: one written with a grant or lookups is
   * refused (TypeError / a Redis error), since the indexes of those are not kept in step atomically.
   */
  swap(kind: string, id: string, expected: Expected, payload: Payload, o?: SwapOptions): Promise<boolean>;
  /** The live entry, with `consumed` set when it was consumed; undefined when absent or expired. */
  find(kind: string, id: string): Promise<Payload | undefined>;
  /** The live entry whose lookup `name` is `value`. */
  findBy(kind: string, name: string, value: string): Promise<Payload | undefined>;
  /** Marks the entry consumed at `at` (epoch seconds), keeping its payload and expiry; no-op when absent. */
  consume(kind: string, id: string, at: number): Promise<void>;
  destroy(kind: string, id: string): Promise<void>;
  /** Removes every entry stored with this grant id, whatever its kind. */
  revokeGrant(grantId: string): Promise<void>;
  /**
   * The live entries stored with this grant id, whatever their kind (an index: a user's sessions, an
   * account's grants). Not atomic with later writes: callers act on each entry by its own key.
   */
  listGrant(grantId: string): Promise<GrantMember[]>;
  /** Removes expired entries now; returns how many (redis expires keys itself and returns 0). */
  cleanup(): Promise<number>;
  /**
   * The change feed of one kind, where the storage has one that every process hears (redis: pub/sub);
   * absent elsewhere. Nothing is published by the adapter itself: callers tell what they changed.
   */
  changes?(kind: string): ChangeFeed;
  close(): Promise<void>;
}

/**
 * Messages that say "entry `id` of this kind changed", between processes. Delivery is at most once: a
 * message sent while a listener is not subscribed is lost, which is why a listener hears `down` first
 * and `up` only once its subscription is confirmed.
 */
export interface ChangeFeed {
  /** Tells every listener of this kind, in every process (this one too); resolves once the server has it. */
  publish(id: string): Promise<void>;
  /** Starts listening (`down` until subscribed); returns the function that stops. */
  listen(l: ChangeListener): () => void;
}

export interface ChangeListener {
  changed(id: string): void;
  /** Not subscribed (not yet, or the connection broke): changes from now until `up` may go unheard. */
  down(): void;
  /** Subscribed (again): every change published from now on is heard. */
  up(): void;
}

export interface GrantMember {
  readonly kind: string;
  readonly id: string;
  readonly payload: Payload;
}

/** Epoch milliseconds; injected so tests can move time instead of sleeping. */
export type Clock = () => number;

export const systemClock: Clock = () => Date.now();

/** The consumed marker as oidc-provider reads it (`payload.consumed`, epoch seconds). */
export function withConsumed(payload: Payload, consumed: number | undefined): Payload {
  return consumed === undefined ? payload : { ...payload, consumed };
}

/**
 * Seconds → an absolute expiry in epoch ms, or undefined for "never". oidc-provider computes some
 * lifetimes as `exp - now`, which can reach 0 or less at the edge: such an entry is stored as already
 * expired (adapters then remove it instead of storing it).
 */
export function expiryFrom(now: number, expiresIn: number | undefined): number | undefined {
  if (expiresIn === undefined) return undefined;
  if (Number.isNaN(expiresIn)) throw new RangeError('expiresIn must be a number of seconds');
  return now + Math.ceil(expiresIn * 1000);
}
