/**
 * The signing keys of the issuer's ID tokens and of X-Portcullis-Assertion: generated on first start (an
 * RS256 key — what every service can verify — and an ES256 key, which also signs assertions), kept in the
 * storage so every instance sharing it signs with the same keys, and sealed there with the cookie secret
 * (AES-256-GCM, src/sessions/sealer.ts) so a copy of the database or of Redis does not hand out the private
 * keys.
 *
 * `portcullis keys rotate` adds new keys that are published at once but sign only from `activatesAt` (when
 * every instance has had a poll to publish them too, src/keys/timing.ts), and schedules the current keys'
 * retirement for that moment. Retired keys stay published (services keep verifying what they signed) and
 * are dropped once the longest token lifetime has passed. What a key is at a given time: src/keys/state.ts.
 *
 * Stored format: `{ version, sealed }`, the sealed JSON being a KeySet. `activatesAt` is optional, so sets
 * stored before staged activation load unchanged (their keys sign from the start).
 */
import type { JWK } from 'jose';
import { calculateJwkThumbprint } from 'jose/jwk/thumbprint';
import { exportJWK } from 'jose/key/export';
import { generateKeyPair } from 'jose/key/generate/keypair';
import { Sealer } from '../sessions/sealer.ts';
import type { Storage } from '../storage/storage.ts';

export const KEYS_KIND = 'PortcullisKeys';
export const KEYS_ID = 'signing';
/** The sealing purpose: unchanged since the keys lived in src/issuer/, so stored sets still open. */
const PURPOSE = 'issuer signing keys';
/** Listed in this order in the JWKS: the first key of an algorithm is the one that signs. */
export const ALGORITHMS = ['RS256', 'ES256'] as const;
export type SigningAlg = (typeof ALGORITHMS)[number];
/** Verification outlives the token by this much, for clocks that disagree. */
const SKEW_SECONDS = 60;

export interface StoredKey {
  readonly kid: string;
  readonly alg: SigningAlg;
  /** Epoch seconds. */
  readonly createdAt: number;
  /**
   * Epoch seconds from which the key signs (before: published only). Absent for the first keys of a
   * storage and for keys stored before staged activation: they sign from the start.
   */
  readonly activatesAt?: number;
  /** Set when rotated out: from then on (epoch seconds, possibly ahead: the successor's activation) it no longer signs. */
  readonly retiredAt?: number;
  /** Published for verification until then (epoch seconds), then dropped. */
  readonly keepUntil?: number;
  /** The private key, with kid, alg and use. */
  readonly jwk: JWK;
}

export interface KeySet {
  readonly v: 1;
  /** Increases with every rotation: instances compare it to notice a new set. */
  readonly version: number;
  readonly keys: readonly StoredKey[];
}

/** Thrown when the stored keys cannot be opened with any configured cookie secret. */
export class KeysUnreadableError extends Error {
  constructor() {
    super(
      'the issuer signing keys in storage cannot be decrypted with the configured cookie secret(s): they were sealed with a cookie secret that is no longer configured. Put the old secret back (second in cookie.secret keeps it for reading) — or, to start over with new keys, run `portcullis keys rotate --discard-unreadable` (services must then fetch the new keys).',
    );
    this.name = 'KeysUnreadableError';
  }
}

async function generate(alg: SigningAlg, now: number): Promise<StoredKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true, modulusLength: 2048 });
  const kid = await calculateJwkThumbprint(await exportJWK(publicKey));
  return { kid, alg, createdAt: now, jwk: { ...(await exportJWK(privateKey)), kid, alg, use: 'sig' } };
}

async function generateSet(
  now: number,
  version: number,
  keep: readonly StoredKey[] = [],
  activatesAt?: number,
): Promise<KeySet> {
  const fresh = await Promise.all(ALGORITHMS.map((alg) => generate(alg, now)));
  const staged = activatesAt === undefined ? fresh : fresh.map((k) => ({ ...k, activatesAt }));
  return { v: 1, version, keys: [...staged, ...keep] };
}

export interface RotateOptions {
  /** Start over when the stored set cannot be opened (its cookie secret is gone). */
  readonly discardUnreadable?: boolean;
  /**
   * Seconds until the new keys sign (default 0: at once, which opens a window across instances — see
   * src/keys/timing.ts; `portcullis keys rotate` passes ACTIVATION_DELAY unless told `--now`).
   */
  readonly delay?: number;
}

export interface Rotation {
  readonly set: KeySet;
  readonly added: StoredKey[];
  /** Keys whose retirement this rotation scheduled (at `activatesAt`). */
  readonly retired: StoredKey[];
  readonly dropped: StoredKey[];
  /** Epoch seconds: when the added keys start signing and the retired ones stop. */
  readonly activatesAt: number;
}

interface StoredPayload {
  readonly version: number;
  readonly sealed: string;
}

function isStored(p: unknown): p is StoredPayload {
  const o = p as Record<string, unknown> | undefined;
  return typeof o?.['version'] === 'number' && typeof o['sealed'] === 'string';
}

export class KeyStore {
  readonly #storage: Storage;
  readonly #sealer: Sealer;
  /** Seals with the first cookie secret only: tells whether a set still needs re-sealing after rotation. */
  readonly #current: Sealer;

  constructor(storage: Storage, cookieKeys: readonly Buffer[]) {
    this.#storage = storage;
    this.#sealer = new Sealer(cookieKeys);
    this.#current = new Sealer(cookieKeys.slice(0, 1));
  }

  #seal(set: KeySet): StoredPayload {
    return { version: set.version, sealed: this.#sealer.seal(PURPOSE, JSON.stringify(set)) };
  }

  #open(p: StoredPayload): { set: KeySet; stale: boolean } {
    const plain = this.#sealer.open(PURPOSE, p.sealed);
    if (plain === undefined) throw new KeysUnreadableError();
    const set = JSON.parse(plain) as KeySet;
    return { set, stale: this.#current.open(PURPOSE, p.sealed) === undefined };
  }

  /** The stored version, without opening the set (cheap: instances poll it). */
  async version(): Promise<number | undefined> {
    const p = await this.#storage.find(KEYS_KIND, KEYS_ID);
    return isStored(p) ? p.version : undefined;
  }

  /** The key set, generated and stored on first use; the first instance to store one wins. */
  async load(now: number): Promise<KeySet> {
    const found = await this.#storage.find(KEYS_KIND, KEYS_ID);
    if (isStored(found)) {
      const { set, stale } = this.#open(found);
      // Sealed under a cookie secret that is no longer the first: seal again under the current one, so the
      // old secret can be removed from the configuration later.
      if (stale) await this.#storage.upsert(KEYS_KIND, KEYS_ID, { ...this.#seal(set) });
      return set;
    }
    const set = await generateSet(now, 1);
    if (await this.#storage.create(KEYS_KIND, KEYS_ID, { ...this.#seal(set) })) return set;
    const winner = await this.#storage.find(KEYS_KIND, KEYS_ID);
    if (!isStored(winner)) throw new Error('signing keys: storage lost the key set just written');
    return this.#open(winner).set;
  }

  /**
   * Adds new keys, published at once and signing from `now + delay`, and schedules the retirement of the
   * keys that sign until then (or would have: a pending key superseded before it signed) for that moment;
   * they stay published for `keepFor` seconds after it (the longest token lifetime) plus clock skew. Keys
   * retired long enough ago are dropped.
   */
  async rotate(now: number, keepFor: number, o: RotateOptions = {}): Promise<Rotation> {
    const found = await this.#storage.find(KEYS_KIND, KEYS_ID);
    let current: KeySet | undefined;
    if (isStored(found)) {
      try {
        current = this.#open(found).set;
      } catch (err) {
        if (!(err instanceof KeysUnreadableError) || !o.discardUnreadable) throw err;
      }
    }
    const previous = current?.keys ?? [];
    // Staging only matters when a key signs meanwhile: over no keys (a fresh or discarded set) there is no
    // window to close, and a set with nothing active would leave the instances unable to sign.
    const signing = previous.some(
      (k) => (k.activatesAt ?? 0) <= now && (k.retiredAt === undefined || k.retiredAt > now),
    );
    const activatesAt = now + (signing ? Math.max(0, o.delay ?? 0) : 0);
    const retired: StoredKey[] = [];
    const kept: StoredKey[] = [];
    const dropped: StoredKey[] = [];
    for (const k of previous) {
      // Not retired, or retired later than the new keys take over (an emergency rotation during a staged
      // one): it stops when they start, so one key per algorithm signs at any time.
      if (k.retiredAt === undefined || k.retiredAt > activatesAt) {
        const r = { ...k, retiredAt: activatesAt, keepUntil: activatesAt + keepFor + SKEW_SECONDS };
        retired.push(r);
        kept.push(r);
      } else if ((k.keepUntil ?? 0) > now) kept.push(k);
      else dropped.push(k);
    }
    const version = Math.max(current?.version ?? 0, isStored(found) ? found.version : 0) + 1;
    // No activatesAt on keys that sign at once: the stored form stays what it was before staged activation.
    const set = await generateSet(now, version, kept, activatesAt > now ? activatesAt : undefined);
    await this.#storage.upsert(KEYS_KIND, KEYS_ID, { ...this.#seal(set) });
    return { set, added: set.keys.slice(0, ALGORITHMS.length), retired, dropped, activatesAt };
  }
}
