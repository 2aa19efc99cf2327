/**
 * The signed identity assertion: `X-Portcullis-Assertion`, a short-lived JWT that tells an upstream who the
 * user is in a form it can verify (the public keys are at /oauth2/jwks, and at /oidc/jwks with the issuer),
 * instead of trusting plain X-Forwarded-* headers that anything on the network path could have set. The
 * same idea as Google IAP's `x-goog-iap-jwt-assertion` (ES256, `aud` per backend) and Cloudflare Access's
 * `Cf-Access-Jwt-Assertion` (`aud` per application, previous key still published after rotation).
 *
 * Signed with the ES256 key of the gateway's signing keys (src/keys/): one set in the configured storage,
 * sealed with the cookie secret, rotated with `portcullis keys rotate`, followed through the one key poller
 * the issuer follows too (a rotated key signs only once every instance publishes it). ES256 because
 * it signs several times faster than RS256 and its signatures are short (the header is sent on every
 * request). Never signed per request: one assertion per session and audience is kept and reused until a
 * third of its lifetime is left, so the hot path is two map lookups.
 */
import type { CryptoKey } from 'jose';
import { SignJWT } from 'jose/jwt/sign';
import { importJWK } from 'jose/key/import';

export { MAX_LIFETIME, MIN_LIFETIME } from '../config/assertion.ts';

import type { UpstreamConfig } from '../config/schema.ts';
import { KeyPoller } from '../keys/poller.ts';
import { publicJwks, signingKey } from '../keys/state.ts';
import type { KeySet } from '../keys/store.ts';
import type { Logger } from '../observability/log.ts';
import type { Session } from '../sessions/session.ts';
import type { Storage } from '../storage/storage.ts';

export const ASSERTION_HEADER = 'x-portcullis-assertion';
/** The algorithm assertions are signed with (the key set holds one active key of it). */
export const ASSERTION_ALG = 'ES256';

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

export interface SignerOptions {
  /** Key set polling period (ms) of the signer's own poller; 0: no polling (tests call refresh()). */
  readonly pollMs?: number;
  /** The clock of the signer's own poller, epoch seconds. */
  readonly now?: () => number;
}

export class AssertionSigner {
  readonly #keys: KeyPoller;
  /** Set when the signer made its poller (start), not when it follows a shared one (follow). */
  readonly #ownsPoller: boolean;
  readonly #log: Logger;
  readonly #unsubscribe: () => void;
  #signing: SigningKey;
  #jwks: string;
  /** Per session, per audience and lifetime. Replaced when the keys change, so the new key signs from then on. */
  #cache = new WeakMap<Session, Map<string, Cached>>();

  private constructor(keys: KeyPoller, owns: boolean, log: Logger, signing: SigningKey) {
    this.#keys = keys;
    this.#ownsPoller = owns;
    this.#log = log;
    this.#signing = signing;
    this.#jwks = JSON.stringify(publicJwks(keys.set, keys.now()));
    this.#unsubscribe = keys.subscribe((set, now) => this.#take(set, now));
  }

  /** Follows the instance's key poller (the one the issuer follows too). */
  static async follow(keys: KeyPoller, log: Logger): Promise<AssertionSigner> {
    return new AssertionSigner(keys, false, log, await importSigningKey(keys.set, keys.now()));
  }

  /** With a poller of its own on `storage` (no issuer to share one with: tests). */
  static async start(
    storage: Storage,
    cookieKeys: readonly Buffer[],
    log: Logger,
    o: SignerOptions = {},
  ): Promise<AssertionSigner> {
    const keys = await KeyPoller.start(storage, cookieKeys, log, o);
    try {
      return new AssertionSigner(keys, true, log, await importSigningKey(keys.set, keys.now()));
    } catch (err) {
      keys.close();
      throw err;
    }
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
   * Has the key poller look now (SIGHUP, tests): a rotation, a pending key that activated, a retired key
   * whose window ended. Returns whether anything changed.
   */
  refresh(): Promise<boolean> {
    return this.#keys.check();
  }

  /** A new key set, or a key that changed state: publish what is published, sign with what signs. */
  async #take(set: KeySet, now: number): Promise<void> {
    const signing = await importSigningKey(set, now);
    this.#jwks = JSON.stringify(publicJwks(set, now));
    if (signing.kid !== this.#signing.kid) {
      this.#signing = signing;
      this.#cache = new WeakMap();
      this.#log.info(
        { event: 'assertion.keys-reloaded', version: set.version, kid: signing.kid },
        'assertions are signed with a new key',
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
      client_id: who.client,
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
    this.#unsubscribe();
    if (this.#ownsPoller) this.#keys.close();
  }
}

/** The ES256 key that signs at `now` (src/keys/state.ts), imported for signing. */
async function importSigningKey(set: KeySet, now: number): Promise<SigningKey> {
  const k = signingKey(set, ASSERTION_ALG, now);
  if (k === undefined) throw new Error(`signing keys: the stored set has no active ${ASSERTION_ALG} key`);
  return { kid: k.kid, key: (await importJWK(k.jwk, ASSERTION_ALG)) as CryptoKey };
}
