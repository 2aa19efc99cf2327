/**
 * What an upstream identity provider is to the rest of Portcullis. Two bases implement it — OpenID Connect
 * (src/idp/oidc.ts) and plain OAuth2 with a profile endpoint (src/idp/oauth2.ts) — and each provider type
 * is one small module declaring its differences from its base, registered by `type` (src/idp/registry.ts).
 */
import { createHash } from 'node:crypto';
import type { JWTVerifyGetKey } from 'jose';
import type { CustomFetch } from 'openid-client';
import type { ResolvedProvider } from '../config/providers.ts';
import type { StepTimer } from '../login/trace.ts';
import type { Identity } from '../sessions/session.ts';

/** The per-sign-in secrets the flow cookie holds. `nonce` is unused by plain OAuth2 providers. */
export interface FlowSecrets {
  readonly state: string;
  readonly nonce: string;
  readonly codeVerifier: string;
}

export interface TokenSet {
  readonly accessToken: string | undefined;
  /** Epoch seconds. */
  readonly accessTokenExpiresAt: number | undefined;
  readonly refreshToken: string | undefined;
  readonly idToken: string | undefined;
}

export interface SignInResult extends TokenSet {
  readonly identity: Identity;
}

export interface RefreshResult extends TokenSet {
  /** A new identity when the provider returned fresh claims; otherwise the session keeps its own. */
  readonly identity?: Identity;
}

export interface ProviderOptions {
  readonly redirectUri: URL;
  /** Seconds for each HTTP request to the IdP. */
  readonly timeoutSeconds: number;
  /** Epoch seconds. */
  readonly now: () => number;
  readonly fetch?: CustomFetch | undefined;
  /** Claim paths some `requirements` rule reads: kept in the identity (src/policy/compile.ts requiredClaims). */
  readonly keepClaims?: readonly string[] | undefined;
  /** Some rule reads GitHub organisations or teams: the github provider fetches them. */
  readonly githubMemberships?: boolean | undefined;
}

/** How a provider's JWTs are verified when presented as bearer tokens (src/bearer/). */
export interface JwtKeys {
  /** The `iss` they carry, as discovery announced it. */
  readonly issuer: string;
  /** The provider's key set (src/idp/jwks.ts: refetched on an unknown kid, at most once per cooldown). */
  readonly keys: JWTVerifyGetKey;
  /** The algorithms its ID tokens are signed with (never none). */
  readonly algorithms: readonly string[];
}

/** What the IdP says of an opaque access token (src/bearer/): RFC 7662 introspection, or its profile API. */
export interface OpaqueToken {
  readonly identity: Identity;
  /** Epoch seconds, when the IdP said. */
  readonly exp?: number | undefined;
  /** The token's `aud` and `client_id` (RFC 7662 §2.2), when the IdP said: one must be an accepted audience. */
  readonly audiences?: readonly string[] | undefined;
}

export interface IdentityProvider {
  readonly id: string;
  readonly type: ResolvedProvider['type'];
  readonly displayName: string;
  /** URL of the sign-in button's image, if configured. */
  readonly icon: string | undefined;
  /** The issuer or authorization server the provider's flows are bound to (see ResolvedProvider.issuer). */
  readonly issuer: string;
  readonly config: ResolvedProvider;
  /** Resolves once the provider can serve sign-ins (discovery fetched); rejects with a PortcullisError. */
  ready(): Promise<void>;
  /** Where to send the browser: PKCE S256 and state always, nonce for OpenID Connect. */
  authorizationUrl(flow: FlowSecrets): Promise<URL>;
  /**
   * Completes the callback `callbackUrl` of `flow`; throws PortcullisError. `step` times its steps (code
   * exchange, ID token checks, userinfo and membership lookups) for the sign-in trace (src/login/trace.ts).
   */
  signIn(callbackUrl: URL, flow: FlowSecrets, step?: StepTimer): Promise<SignInResult>;
  /** Present when the provider can refresh; concurrent calls with the same token share one request. */
  refresh?(refreshToken: string, identity: Identity): Promise<RefreshResult>;
  /** OpenID Connect providers: the issuer, keys and algorithms its JWTs are verified with. */
  jwtKeys?(): Promise<JwtKeys>;
  /** OpenID Connect providers: the identity a verified JWT's claims make (as at sign-in, without userinfo). */
  identityFromClaims?(claims: Readonly<Record<string, unknown>>): Promise<Identity>;
  /**
   * Providers with `bearer.opaque`: what the IdP says of an opaque access token; undefined when it is not
   * active (unknown, expired, revoked, another application's). Throws PCL_IDP_UNREACHABLE when it cannot ask.
   */
  opaqueToken?(token: string): Promise<OpaqueToken | undefined>;
  /** RP-initiated logout URL, when the IdP has one. */
  endSessionUrl?(idToken: string | undefined, postLogoutRedirectUri: string): Promise<URL | undefined>;
}

/** How long a settled refresh result may serve requests that raced the one that asked for it. */
const REUSE_MS = 10_000;

/**
 * Shares one in-flight refresh per refresh token, and keeps the settled result briefly for requests that
 * raced it — only while its access token is still valid: an IdP that does not rotate refresh tokens and
 * issues short access tokens would otherwise have an expired token sent upstream. Keyed by a digest of the
 * refresh token, so the map never holds the credential itself.
 */
export class RefreshDeduper {
  readonly #entries = new Map<string, { promise: Promise<RefreshResult>; result?: RefreshResult }>();
  readonly #now: () => number;

  /** `now`: epoch seconds, the clock access token expiries are read on. */
  constructor(now: () => number) {
    this.#now = now;
  }

  run(refreshToken: string, fn: () => Promise<RefreshResult>): Promise<RefreshResult> {
    const key = createHash('sha256').update(refreshToken).digest('base64url');
    const entry = this.#entries.get(key);
    if (entry !== undefined && (entry.result === undefined || this.#stillValid(entry.result))) {
      return entry.promise;
    }
    const fresh: { promise: Promise<RefreshResult>; result?: RefreshResult } = {
      promise: fn().then(
        (result) => {
          fresh.result = result;
          return result;
        },
        (err: unknown) => {
          // A failure is not kept for the next caller's sake: it ends the session that asked.
          if (this.#entries.get(key) === fresh) this.#entries.delete(key);
          throw err;
        },
      ),
    };
    this.#entries.set(key, fresh);
    fresh.promise.then(
      () => {
        setTimeout(() => {
          if (this.#entries.get(key) === fresh) this.#entries.delete(key);
        }, REUSE_MS).unref();
      },
      () => undefined,
    );
    return fresh.promise;
  }

  /** A result may be handed out again while its access token has some life left (or has no stated expiry). */
  #stillValid(r: RefreshResult): boolean {
    return r.accessTokenExpiresAt === undefined || r.accessTokenExpiresAt > this.#now();
  }
}

/** A StepTimer that only runs the step (no trace). */
export const untimed: StepTimer = (_name, fn) => fn();
