/**
 * Verifying `Authorization: Bearer <JWT>` (RFC 6750) from a configured source: the signature with the
 * source's key set (src/idp/jwks.ts: refetched on an unknown kid, at most once per cooldown), an allowed
 * algorithm (never none or HS*), `iss` exactly, `aud` one of the source's audiences, `exp` required and
 * `exp`/`nbf`/`iat` with bounded clock skew (RFC 7519 §4.1, RFC 9068 §4). The result is a principal shaped
 * like a session — provider, identity, expiry — so the one authorize step, the identity headers and the
 * signed assertion treat it exactly as a signed-in user.
 *
 * A verified token is kept (by its SHA-256, never the token) until it expires, so a client repeating its
 * token costs a hash and a map lookup; the assertion cached per principal is then reused as for a session.
 */
// jose's modules by their subpaths, not its index: what is not used is not loaded (docs/scaling.md#memory).
import { decodeProtectedHeader } from 'jose/decode/protected_header';
import * as errors from 'jose/errors';
import { decodeJwt } from 'jose/jwt/decode';
import { jwtVerify } from 'jose/jwt/verify';
import { ISSUER_SOURCE } from '../config/bearer.ts';
import { PortcullisError } from '../errors/codes.ts';
import { DigestCache } from '../sessions/digest-cache.ts';
import type { Session } from '../sessions/session.ts';
import type { BearerSource } from './sources.ts';

/** Why a token was refused: a stable reason for logs and tests, and the RFC 6750 error_description. */
export interface Rejection {
  readonly ok: false;
  /** `not-a-jwt`, `issuer-unknown`, `expired`, `audience`, `signature`, `algorithm`, `key-unknown`, … */
  readonly reason: string;
  /** Safe for a quoted-string (RFC 9110 §5.6.4): ASCII, no quotes or backslashes. */
  readonly description: string;
  /** The unverified `iss`, for the log line (never the token). */
  readonly issuer?: string | undefined;
}

export interface Accepted {
  readonly ok: true;
  readonly principal: Session;
}

export type BearerResult = Accepted | Rejection;

/** A client_credentials access token of Portcullis's own issuer, as its storage knows it. */
export interface MachineToken {
  readonly clientId: string;
  /** Epoch seconds. */
  readonly exp: number;
}

/**
 * How long a machine token found in the issuer's storage is believed without asking again: a revoked
 * token (RFC 7009) or a client removed from the configuration stops working within this.
 */
export const MACHINE_RECHECK_SECONDS = 60;

export interface VerifierOptions {
  /** Seconds an opaque token's answer is believed (bearer.opaqueCache). */
  readonly opaqueTtl?: number;
  /** Seconds an inactive opaque token is refused without asking again. */
  readonly opaqueNegativeTtl?: number;
  /**
   * Looks up an opaque token in Portcullis's own issuer (its client_credentials tokens); absent without
   * an issuer. Routes accept these only when their `bearer` list names `issuer`.
   */
  readonly machineTokens?: ((token: string) => Promise<MachineToken | undefined>) | undefined;
  /** Seconds of clock skew allowed on exp, nbf and iat. */
  readonly skew: number;
  /** Epoch seconds. */
  readonly now: () => number;
  /** Verified tokens kept at most (least recently used leaves first). */
  readonly cacheMax?: number;
}

interface Cached {
  readonly source: string;
  readonly principal: Session;
  /** Epoch seconds: believed until then (a JWT: its exp plus the skew; opaque: the cache's ttl at most). */
  readonly until: number;
}

/** `typ` values of the tokens accepted as bearers; absent is accepted too (most ID tokens). */
const ACCEPTED_TYP = new Set(['jwt', 'at+jwt', 'application/at+jwt']);

const reject = (reason: string, description: string, issuer?: string): Rejection => ({
  ok: false,
  reason,
  description,
  issuer,
});

/** A jose failure as a reason and a description for the client. */
function rejection(err: unknown, issuer: string): Rejection | undefined {
  if (err instanceof errors.JWTExpired) return reject('expired', 'The access token expired', issuer);
  if (err instanceof errors.JWTClaimValidationFailed) {
    const claim = err.claim.replace(/[^a-z_]/gi, '');
    if (claim === 'aud')
      return reject('audience', 'The access token is not meant for this API (aud)', issuer);
    if (claim === 'nbf') return reject('not-yet-valid', 'The access token is not valid yet (nbf)', issuer);
    if (claim === 'exp') return reject('expired', 'The access token has no expiry (exp)', issuer);
    return reject(`claim:${claim}`, `The access token's ${claim} claim is not acceptable`, issuer);
  }
  if (err instanceof errors.JOSEAlgNotAllowed) {
    return reject('algorithm', 'The access token is signed with an algorithm not allowed', issuer);
  }
  if (err instanceof errors.JWKSNoMatchingKey) {
    return reject('key-unknown', 'The access token is signed with an unknown key', issuer);
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) {
    return reject('signature', 'The access token signature is invalid', issuer);
  }
  if (err instanceof errors.JWTInvalid || err instanceof errors.JWSInvalid) {
    return reject('malformed', 'The access token is malformed', issuer);
  }
  return undefined;
}

export class BearerVerifier {
  readonly #sources: ReadonlyMap<string, BearerSource>;
  readonly #o: VerifierOptions;
  readonly #cache: DigestCache<Cached>;

  constructor(sources: ReadonlyMap<string, BearerSource>, o: VerifierOptions) {
    this.#sources = sources;
    this.#o = o;
    this.#cache = new DigestCache({ max: o.cacheMax ?? 10_000 });
    this.#refused = new DigestCache({ max: o.cacheMax ?? 10_000, ttlMs: (o.opaqueNegativeTtl ?? 10) * 1000 });
  }

  /** Opaque tokens the IdP said are not active, refused without asking again for opaqueNegativeTtl. */
  readonly #refused: DigestCache<true>;

  /**
   * A client_credentials token of the own issuer: the principal is the client, marked as a machine
   * (`client:<id>`, Identity.client), kept for MACHINE_RECHECK_SECONDS at most.
   */
  async #machine(token: string, now: number): Promise<BearerResult> {
    const t = await this.#o.machineTokens!(token);
    if (t === undefined || t.exp <= now) {
      return reject('issuer-token-unknown', 'The access token is unknown, expired or revoked');
    }
    const principal: Session = {
      v: 1,
      provider: ISSUER_SOURCE,
      identity: {
        sub: `client:${t.clientId}`,
        preferredUsername: t.clientId,
        groups: [],
        client: t.clientId,
      },
      createdAt: now,
      expiresAt: Math.min(t.exp, now + MACHINE_RECHECK_SECONDS),
    };
    this.#cache.set(token, { source: ISSUER_SOURCE, principal, until: principal.expiresAt });
    return { ok: true, principal };
  }

  /** The ids of every source. */
  get sourceIds(): string[] {
    return [...this.#sources.keys()];
  }

  /**
   * Verifies `token` against the sources `accepted` (true: all). A source that cannot be reached (its
   * discovery or key set) throws PCL_IDP_UNREACHABLE: neither accepted nor refused, the request answers 503.
   */
  async verify(token: string, accepted: true | readonly string[]): Promise<BearerResult> {
    const now = this.#o.now();
    const hit = this.#cache.get(token);
    // `true` is every configured JWT source, never the issuer's machine tokens (a route names those).
    const takes = (id: string) => (accepted === true ? id !== ISSUER_SOURCE : accepted.includes(id));
    if (hit !== undefined && takes(hit.source)) {
      if (hit.until > now) return { ok: true, principal: hit.principal };
    }
    let iss: string | undefined;
    let typ: string | undefined;
    try {
      typ = decodeProtectedHeader(token).typ;
      const claims = decodeJwt(token);
      // Unverified, so only ever logged shortened.
      iss = typeof claims.iss === 'string' ? claims.iss.slice(0, 200) : undefined;
    } catch {
      return this.#opaque(token, now, takes);
    }
    // Explicit typing (RFC 8725 §3.11): an ID token says JWT or nothing, an access token at+jwt (RFC 9068
    // §2.1). Other JWTs the IdP signs with the same key — logout tokens (logout+jwt), signed requests —
    // are not credentials for an API, whatever their aud.
    if (typ !== undefined && !ACCEPTED_TYP.has(typ.toLowerCase())) {
      return reject('type', 'The token is not an access or ID token (typ)', iss);
    }
    if (iss === undefined) return reject('issuer-missing', 'The access token has no issuer (iss)');
    const source = [...this.#sources.values()].find(
      (s) => s.keys !== undefined && s.issuer === iss && takes(s.id),
    );
    if (source === undefined)
      return reject('issuer-unknown', 'The access token issuer is not trusted here', iss);
    const keys = await source.keys!();
    const algorithms = [...(source.algorithms ?? keys.algorithms)].filter(
      (a) => a.toLowerCase() !== 'none' && !a.startsWith('HS'),
    );
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, keys.keys, {
        issuer: keys.issuer,
        audience: [...source.audiences],
        algorithms,
        clockTolerance: this.#o.skew,
        currentDate: new Date(now * 1000),
        requiredClaims: ['exp'],
      }));
    } catch (err) {
      const r = rejection(err, iss);
      if (r !== undefined) return r;
      if (err instanceof errors.JWKSTimeout || /fetch failed|ECONNREFUSED|ENOTFOUND/.test(String(err))) {
        throw new PortcullisError(
          'PCL_IDP_UNREACHABLE',
          `fetching the keys of ${source.id}: ${String(err)}`,
          {
            cause: err,
          },
        );
      }
      return reject('invalid', 'The access token is invalid', iss);
    }
    let identity: Awaited<ReturnType<BearerSource['identity']>>;
    try {
      identity = await source.identity(payload);
    } catch {
      identity = undefined;
    }
    if (identity === undefined) return reject('no-identity', 'The access token names no user (sub)', iss);
    const exp = payload['exp'] as number;
    const iat = typeof payload['iat'] === 'number' ? payload['iat'] : now;
    const principal: Session = {
      v: 1,
      provider: source.id,
      identity,
      createdAt: iat,
      expiresAt: exp,
      accessToken: token,
    };
    this.#cache.set(token, { source: source.id, principal, until: exp + this.#o.skew });
    return { ok: true, principal };
  }

  /**
   * A token that is not a JWT: the own issuer's machine tokens first (a storage read, nothing leaves the
   * process), then the one provider of this route with `bearer.opaque` (config/bearer.ts allows one: an
   * opaque token names no issuer, and asking several IdPs would hand it to all of them).
   */
  async #opaque(token: string, now: number, takes: (id: string) => boolean): Promise<BearerResult> {
    if (takes(ISSUER_SOURCE) && this.#o.machineTokens !== undefined) {
      const machine = await this.#machine(token, now);
      if (machine.ok) return machine;
    }
    const source = [...this.#sources.values()].find((s) => s.opaque !== undefined && takes(s.id));
    if (source === undefined) {
      return takes(ISSUER_SOURCE)
        ? reject('issuer-token-unknown', 'The access token is unknown, expired or revoked')
        : reject('not-a-jwt', 'The access token is not a JWT');
    }
    if (this.#refused.get(token) !== undefined) {
      return reject('inactive', 'The access token is not active', source.issuer);
    }
    const r = await source.opaque!(token);
    if (r === undefined) {
      this.#refused.set(token, true);
      return reject('inactive', 'The access token is not active', source.issuer);
    }
    if (r.exp !== undefined && r.exp + this.#o.skew <= now) {
      return reject('expired', 'The access token expired', source.issuer);
    }
    if (r.audiences !== undefined && !r.audiences.some((a) => source.audiences.includes(a))) {
      this.#refused.set(token, true);
      return reject('audience', 'The access token is not meant for this API (aud)', source.issuer);
    }
    const until = Math.min(r.exp ?? Number.POSITIVE_INFINITY, now + (this.#o.opaqueTtl ?? 60));
    const principal: Session = {
      v: 1,
      provider: source.id,
      identity: r.identity,
      createdAt: now,
      expiresAt: until,
      accessToken: token,
    };
    this.#cache.set(token, { source: source.id, principal, until });
    return { ok: true, principal };
  }
}
