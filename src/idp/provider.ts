/**
 * What an upstream identity provider is to the rest of Portcullis. Two bases implement it — OpenID Connect
 * (src/idp/oidc.ts) and plain OAuth2 with a profile endpoint (src/idp/oauth2.ts) — and each provider type
 * is one small module declaring its differences from its base, registered by `type` (src/idp/registry.ts).
 */
import type { JWTVerifyGetKey } from 'jose';
import type { CustomFetch } from 'openid-client';
import type { ResolvedProvider } from '../config/providers.ts';
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
  /** Completes the callback `callbackUrl` of `flow`; throws PortcullisError. */
  signIn(callbackUrl: URL, flow: FlowSecrets): Promise<SignInResult>;
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

/** Shares one in-flight refresh per refresh token and keeps the settled result briefly for racing requests. */
export class RefreshDeduper {
  readonly #inFlight = new Map<string, Promise<RefreshResult>>();

  run(refreshToken: string, fn: () => Promise<RefreshResult>): Promise<RefreshResult> {
    let p = this.#inFlight.get(refreshToken);
    if (p === undefined) {
      p = fn().finally(() => {
        setTimeout(() => this.#inFlight.delete(refreshToken), 10_000).unref();
      });
      this.#inFlight.set(refreshToken, p);
    }
    return p;
  }
}
