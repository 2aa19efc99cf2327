/**
 * The signed identity assertion: `X-Portcullis-Assertion`, a short-lived JWT that tells an upstream who the
 * user is in a form it can verify (the public keys are at /oauth2/jwks, and at /oidc/jwks with the issuer),
 * instead of trusting plain X-Forwarded-* headers that anything on the network path could have set. The
 * same idea as Google IAP's `x-goog-iap-jwt-assertion` (ES256, `aud` per backend) and Cloudflare Access's
 * `Cf-Access-Jwt-Assertion` (`aud` per application, previous key still published after rotation).
 *
 * Signed with the ES256 key of the key set the issuer manages (src/issuer/keys.ts): one set in the
 * configured storage, sealed with the cookie secret, rotated with `portcullis keys rotate`. ES256 because
 * it signs several times faster than RS256 and its signatures are short (the header is sent on every
 * request). Never signed per request: one assertion per session and audience is kept and reused until a
 * third of its lifetime is left, so the hot path is two map lookups.
 */
import { type CryptoKey, importJWK, type JWK, SignJWT } from 'jose';
import type { UpstreamConfig } from '../config/schema.ts';
import { type KeySet, KeyStore, providerJwks, type StoredKey } from '../issuer/keys.ts';
import type { Logger } from '../observability/log.ts';
import type { Session } from '../sessions/session.ts';
import type { Storage } from '../storage/storage.ts';

export const ASSERTION_HEADER = 'x-portcullis-assertion';
/** The algorithm assertions are signed with (the key set holds one active key of it). */
export const ASSERTION_ALG = 'ES256';
export const MIN_LIFETIME = 30;
export const MAX_LIFETIME = 3600;
/** How often the stored key set's version is checked (`portcullis keys rotate`, another instance). */
const KEY_POLL_MS = 60_000;
/** JWK members of public keys: everything else (d, p, q, dp, dq, qi, oth) is private. */
const PUBLIC_MEMBERS = ['kty', 'crv', 'x', 'y', 'n', 'e', 'kid', 'alg', 'use'] as const;

/** One upstream's assertion settings, resolved once per configuration. */
export interface AssertionSpec {
  readonly audience: string;
  /** Seconds. */
  readonly lifetime: number;
  /** Cache key: assertions with the same audience and lifetime are the same assertion. */
  readonly key: string;
}

/** The upstream's assertion settings, or undefined when it gets none. */
export function assertionSpec(u: Pick<UpstreamConfig, 'url' | 'assertion'>): AssertionSpec | undefined {
  const a = u.assertion;
  if (a === undefined || !a.enabled) return undefined;
  const audience = a.audience ?? new URL(u.url).origin;
  return { audience, lifetime: a.lifetime, key: `${a.lifetime} ${audience}` };
}

/** Configuration problems the schema cannot express (collected with the others by src/config/load.ts). */
export function assertionProblems(upstreams: readonly UpstreamConfig[]): string[] {
  const out: string[] = [];
  upstreams.forEach((u, i) => {
    const l = u.assertion?.lifetime;
    if (l !== undefined && (l < MIN_LIFETIME || l > MAX_LIFETIME)) {
      out.push(
        `upstreams[${i}].assertion.lifetime: ${l}s; must be between ${MIN_LIFETIME}s and 1h (a short-lived assertion is the point)`,
      );
    }
  });
  return out;
}

/** Whether any upstream is sent assertions: then the signing keys are needed even without an issuer. */
export function assertionsWanted(c: { readonly upstreams: readonly UpstreamConfig[] }): boolean {
  return c.upstreams.some((u) => assertionSpec(u) !== undefined);
}

/** The longest assertion lifetime configured (0: none): how long a rotated-out key must keep verifying. */
export function longestAssertionLifetime(c: { readonly upstreams: readonly UpstreamConfig[] }): number {
  return Math.max(0, ...c.upstreams.map((u) => assertionSpec(u)?.lifetime ?? 0));
}

/**
 * The `iss` of assertions: the public URL's origin (`https://platform.example.com`). Deliberately not the
 * issuer's identifier (`<publicUrl>/oidc`): an assertion is not an ID token, and a service that accepts the
 * issuer's ID tokens must never accept an assertion as one (nor the other way round) — different `iss`
 * values keep the two apart even though the same key set signs both.
 */
export function assertionIssuer(publicUrl: URL): string {
  return publicUrl.origin;
}

/** The public half of the key set as a JWKS document (RFC 7517 §5). */
export function publicJwks(set: KeySet, now: number): { keys: JWK[] } {
  return {
    keys: providerJwks(set, now).map((k) => {
      const pub: JWK = {};
      for (const m of PUBLIC_MEMBERS) if (k[m] !== undefined) pub[m] = k[m];
      return pub;
    }),
  };
}

interface Cached {
  /** The current assertion, once signed. */
  readonly jwt: string | undefined;
  /** Epoch seconds: from then on a new assertion is signed. */
  readonly renewAt: number;
  /** A signature in flight: concurrent requests of the session share it. */
  readonly pending: Promise<string> | undefined;
}

interface SigningKey {
  readonly kid: string;
  readonly key: CryptoKey;
}

/** Picks up a new key set (the issuer rebuilds its provider, so /oidc/jwks carries the new keys). */
export interface KeyFollower {
  refreshKeys(): Promise<boolean>;
}

export interface SignerOptions {
  /** The issuer, when mounted: refreshed before a new key signs, so its JWKS already lists the key. */
  readonly follower?: KeyFollower | undefined;
  /** Key set polling period (ms); 0: no polling (tests call refresh()). */
  readonly pollMs?: number;
}

export class AssertionSigner {
  readonly #keys: KeyStore;
  readonly #log: Logger;
  readonly #follower: KeyFollower | undefined;
  #set: KeySet;
  #signing: SigningKey;
  #jwks: string;
  /** When #jwks was computed (epoch seconds): retired keys whose window ended since then leave it. */
  #jwksAt: number;
  /** Per session, per audience and lifetime. Replaced when the keys change, so the new key signs from then on. */
  #cache = new WeakMap<Session, Map<string, Cached>>();
  #timer: NodeJS.Timeout | undefined;

  private constructor(
    keys: KeyStore,
    log: Logger,
    follower: KeyFollower | undefined,
    set: KeySet,
    signing: SigningKey,
  ) {
    this.#keys = keys;
    this.#log = log;
    this.#follower = follower;
    this.#set = set;
    this.#signing = signing;
    this.#jwksAt = wallClock();
    this.#jwks = JSON.stringify(publicJwks(set, this.#jwksAt));
  }

  /** Loads (on first use: generates and stores) the key set from `storage`. */
  static async start(
    storage: Storage,
    cookieKeys: readonly Buffer[],
    log: Logger,
    o: SignerOptions = {},
  ): Promise<AssertionSigner> {
    const keys = new KeyStore(storage, cookieKeys);
    const set = await keys.load(wallClock());
    const signer = new AssertionSigner(keys, log, o.follower, set, await signingKey(set));
    const poll = o.pollMs ?? KEY_POLL_MS;
    if (poll > 0) signer.#timer = setInterval(() => void signer.#poll(), poll).unref();
    return signer;
  }

  /** The kid of the key that signs new assertions. */
  get kid(): string {
    return this.#signing.kid;
  }

  /** The body of /oauth2/jwks: every key of the set still published (the same keys as /oidc/jwks). */
  get jwks(): string {
    return this.#jwks;
  }

  /**
   * Re-reads the key set when its stored version changed (a rotation), and drops retired keys whose
   * verification window has passed from /oauth2/jwks. Returns whether anything changed.
   */
  async refresh(): Promise<boolean> {
    const version = await this.#keys.version();
    const now = wallClock();
    if (version === this.#set.version) {
      // The stored set keeps a retired key until the next rotation: it only leaves the published set.
      const since = this.#jwksAt;
      const lapsed = this.#set.keys.some(
        (k) => k.keepUntil !== undefined && k.keepUntil > since && k.keepUntil <= now,
      );
      if (!lapsed) return false;
      this.#jwksAt = now;
      this.#jwks = JSON.stringify(publicJwks(this.#set, now));
      return true;
    }
    // The issuer first: a key must be published at /oidc/jwks before an assertion signed with it exists.
    await this.#follower?.refreshKeys();
    const set = await this.#keys.load(now);
    const signing = await signingKey(set);
    this.#set = set;
    this.#jwksAt = now;
    this.#jwks = JSON.stringify(publicJwks(set, now));
    if (signing.kid !== this.#signing.kid) {
      this.#signing = signing;
      this.#cache = new WeakMap();
    }
    this.#log.info(
      { event: 'assertion.keys-reloaded', version: set.version, kid: signing.kid },
      'assertion signing keys reloaded',
    );
    return true;
  }

  async #poll(): Promise<void> {
    try {
      await this.refresh();
    } catch (err) {
      this.#log.error(
        { event: 'assertion.keys-reload-failed', err: String(err) },
        'assertion signing keys could not be reloaded; the previous ones stay in use',
      );
    }
  }

  /**
   * The assertion for this session and upstream at `now` (epoch seconds): the cached one while more than
   * a third of its lifetime is left, else a new one (the only asynchronous case).
   */
  assertion(session: Session, spec: AssertionSpec, iss: string, now: number): string | Promise<string> {
    let perSession = this.#cache.get(session);
    const hit = perSession?.get(spec.key);
    if (hit?.jwt !== undefined && now < hit.renewAt) return hit.jwt;
    if (hit?.pending !== undefined) return hit.pending;
    if (perSession === undefined) {
      perSession = new Map();
      this.#cache.set(session, perSession);
    }
    return this.#sign(perSession, hit, session, spec, iss, now);
  }

  #sign(
    perSession: Map<string, Cached>,
    previous: Cached | undefined,
    session: Session,
    spec: AssertionSpec,
    iss: string,
    now: number,
  ): Promise<string> {
    const signing = this.#signing;
    // Never outlives the session it speaks for.
    const exp = Math.min(now + spec.lifetime, session.expiresAt);
    const renewAt = Math.min(now + spec.lifetime - Math.floor(spec.lifetime / 3), exp);
    const who = session.identity;
    const pending = new SignJWT({
      email: who.email,
      email_verified: who.emailVerified,
      preferred_username: who.preferredUsername,
      name: who.name,
      groups: who.groups,
      provider: session.provider,
      auth_time: session.createdAt,
    })
      .setProtectedHeader({ alg: ASSERTION_ALG, kid: signing.kid, typ: 'JWT' })
      .setIssuer(iss)
      .setSubject(who.sub)
      .setAudience(spec.audience)
      .setIssuedAt(now)
      .setExpirationTime(exp)
      .sign(signing.key)
      .then(
        (jwt) => {
          perSession.set(spec.key, { jwt, renewAt, pending: undefined });
          return jwt;
        },
        (err: unknown) => {
          // Not cached: the next request tries again; this one fails (500) rather than go without it.
          if (previous === undefined) perSession.delete(spec.key);
          else perSession.set(spec.key, previous);
          throw err;
        },
      );
    perSession.set(spec.key, { jwt: previous?.jwt, renewAt: previous?.renewAt ?? 0, pending });
    return pending;
  }

  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

function wallClock(): number {
  return Math.floor(Date.now() / 1000);
}

/** The active (not retired) ES256 key of the set, imported for signing. */
async function signingKey(set: KeySet): Promise<SigningKey> {
  const k: StoredKey | undefined = set.keys.find((x) => x.alg === ASSERTION_ALG && x.retiredAt === undefined);
  if (k === undefined) throw new Error(`signing keys: the stored set has no active ${ASSERTION_ALG} key`);
  return { kid: k.kid, key: (await importJWK(k.jwk, ASSERTION_ALG)) as CryptoKey };
}
