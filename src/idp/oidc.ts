/**
 * The OpenID Connect base, on openid-client (OpenID-certified RP): cached discovery (or endpoints given by
 * hand with skipDiscovery), the authorization request (PKCE S256, state, nonce), the code exchange with
 * full ID token validation, userinfo, refresh and RP-initiated logout. `type: oidc` is this class as is;
 * google, entra, gitlab and keycloak extend it with their differences (src/idp/<type>.ts).
 */
import * as errors from 'jose/errors';
import { compactVerify } from 'jose/jws/compact/verify';
import * as oidc from 'openid-client';
import { discoveryRedirect, discoveryUrlOf, issuerMismatch, sameIssuer } from '../config/idp-urls.ts';
import { isLoopbackHost } from '../config/net.ts';
import type { AuthMethod, ResolvedProvider, ResolvedProviderOf } from '../config/providers.ts';
import { PortcullisError } from '../errors/codes.ts';
import { idTokenProblem } from '../login/id-token.ts';
import { codeChallenge } from '../login/pkce.ts';
import type { StepTimer } from '../login/trace.ts';
import type { Identity } from '../sessions/session.ts';
import { identityFromProfile, type ProfileMapping } from './claims.ts';
import { isRecord } from './http.ts';
import { KeySets } from './jwks.ts';
import {
  type FlowSecrets,
  type IdentityProvider,
  type JwtKeys,
  type OpaqueToken,
  type ProviderOptions,
  RefreshDeduper,
  type RefreshResult,
  type SignInResult,
  type TokenSet,
  untimed,
} from './provider.ts';

export type { ProviderOptions, SignInResult, TokenSet } from './provider.ts';

/**
 * A Configuration's server metadata, read once: openid-client's serverMetadata() hands out a structuredClone
 * of it on every call (four per sign-in here, ~0.1 ms). Read-only here; a Configuration's metadata never
 * changes after it is made.
 */
const metadataCache = new WeakMap<oidc.Configuration, Readonly<oidc.ServerMetadata>>();
function metadataOf(config: oidc.Configuration): Readonly<oidc.ServerMetadata> {
  let m = metadataCache.get(config);
  if (m === undefined) {
    m = config.serverMetadata();
    metadataCache.set(config, m);
  }
  return m;
}

/** After a failed discovery, wait this long before asking the IdP again (errors are not cached longer). */
const DISCOVERY_RETRY_MS = 5_000;

export interface ExplicitEndpoints {
  readonly authorization: string;
  readonly token: string;
  readonly jwks: string;
  readonly userinfo?: string | undefined;
  readonly endSession?: string | undefined;
}

/** Everything the OpenID Connect base needs, whatever the provider type's own settings are called. */
export interface OidcSettings {
  /** The issuer ID tokens must carry (and discovery must announce). */
  readonly issuer: string;
  /** Where the discovery document is; default `<issuer>/.well-known/openid-configuration`. */
  readonly discoveryUrl?: string | undefined;
  /** skipDiscovery: the endpoints as configured. */
  readonly endpoints?: ExplicitEndpoints | undefined;
  readonly clientId: string;
  readonly secret: string | undefined;
  readonly authMethod: AuthMethod;
  readonly scopes: readonly string[];
  readonly audiences: readonly string[];
  readonly idTokenSigningAlgs?: readonly string[] | undefined;
  readonly userinfo: boolean;
  readonly insecureSkipAtHash: boolean;
  readonly insecureAllowHttp: boolean;
  readonly mapping: ProfileMapping;
  readonly allowUnverifiedEmail: boolean;
}

/** What enrich() may read: the validated claims, the merged profile and the access token. */
export interface ProfileContext {
  readonly config: oidc.Configuration;
  readonly claims: Readonly<Record<string, unknown>>;
  readonly profile: Readonly<Record<string, unknown>>;
  readonly accessToken: string | undefined;
}

export const STANDARD_MAPPING: ProfileMapping = {
  sub: ['sub'],
  email: 'email',
  emailVerified: 'email_verified',
  username: 'preferred_username',
  name: 'name',
  groups: 'groups',
};

/** The settings shared by every OpenID Connect type, from its resolved configuration. */
export function baseSettings(c: ResolvedProvider): Omit<OidcSettings, 'issuer' | 'mapping'> {
  const o = c as Partial<ResolvedProviderOf<'oidc'>>;
  return {
    clientId: c.clientId,
    secret: c.secret,
    authMethod: c.authMethod,
    scopes: c.scopes,
    audiences: o.audiences ?? [],
    idTokenSigningAlgs: o.idTokenSigningAlgs,
    userinfo: o.userinfo ?? false,
    insecureSkipAtHash: o.insecureSkipAtHash ?? false,
    insecureAllowHttp: o.insecureAllowHttp ?? false,
    allowUnverifiedEmail: c.insecureAllowUnverifiedEmail,
  };
}

function genericSettings(c: ResolvedProvider): OidcSettings {
  if (c.type !== 'oidc') return { ...baseSettings(c), issuer: c.issuer, mapping: STANDARD_MAPPING };
  return {
    ...baseSettings(c),
    issuer: c.issuer,
    endpoints: c.skipDiscovery
      ? {
          authorization: c.authorizationUrl!,
          token: c.tokenUrl!,
          jwks: c.jwksUrl!,
          userinfo: c.userInfoUrl,
          endSession: c.endSessionUrl,
        }
      : undefined,
    mapping: {
      ...STANDARD_MAPPING,
      email: c.emailClaim,
      // email_verified speaks of the `email` claim only (OIDC Core 5.1); an address read from another
      // claim (upn, mail) is as trustworthy as that claim, which the operator chose.
      emailVerified: c.emailClaim === 'email' ? STANDARD_MAPPING.emailVerified : undefined,
      groups: c.groupsClaim,
      username: c.usernameClaim,
    },
  };
}

export class OidcProvider implements IdentityProvider {
  readonly config: ResolvedProvider;
  protected readonly settings: OidcSettings;
  protected readonly opts: ProviderOptions;
  #discovered: Promise<oidc.Configuration> | undefined;
  #failedAt = 0;
  #refreshes: RefreshDeduper | undefined;

  constructor(
    config: ResolvedProvider,
    opts: ProviderOptions,
    settings: OidcSettings = genericSettings(config),
  ) {
    this.config = config;
    this.opts = opts;
    this.settings = settings;
  }

  get id(): string {
    return this.config.id;
  }

  get type(): ResolvedProvider['type'] {
    return this.config.type;
  }

  get displayName(): string {
    return this.config.displayName ?? this.defaultDisplayName();
  }

  get icon(): string | undefined {
    return this.config.icon;
  }

  get issuer(): string {
    return this.config.issuer;
  }

  protected defaultDisplayName(): string {
    return this.config.id;
  }

  ready(): Promise<void> {
    return this.discover().then(() => undefined);
  }

  /** Discovery, cached for the process lifetime once it succeeds. */
  discover(): Promise<oidc.Configuration> {
    if (
      this.#discovered === undefined ||
      (this.#failedAt && Date.now() - this.#failedAt > DISCOVERY_RETRY_MS)
    ) {
      this.#failedAt = 0;
      this.#discovered = this.loadConfiguration().catch((err: unknown) => {
        this.#failedAt = Date.now();
        if (err instanceof PortcullisError) throw err;
        throw new PortcullisError(
          'PCL_IDP_UNREACHABLE',
          `discovery of ${this.settings.discoveryUrl ?? this.settings.issuer} failed: ${describe(err)}`,
          { cause: err },
        );
      });
    }
    return this.#discovered;
  }

  protected clientAuth(): oidc.ClientAuth {
    const s = this.settings;
    return s.authMethod === 'client_secret_post'
      ? oidc.ClientSecretPost(s.secret!)
      : s.authMethod === 'client_secret_basic'
        ? oidc.ClientSecretBasic(s.secret!)
        : oidc.None();
  }

  protected clientMetadata(): Partial<oidc.ClientMetadata> {
    const metadata: Partial<oidc.ClientMetadata> = {};
    const algs = this.settings.idTokenSigningAlgs;
    if (algs?.length === 1) metadata.id_token_signed_response_alg = algs[0]!;
    return metadata;
  }

  /** Plain http is allowed to loopback (tests, a local IdP) or with insecureAllowHttp. */
  protected allowsHttp(url: string): boolean {
    const u = new URL(url);
    return u.protocol === 'http:' && (isLoopbackHost(u.hostname) || this.settings.insecureAllowHttp);
  }

  /** The extensions every Configuration of this provider gets. */
  protected execute(): ((config: oidc.Configuration) => void)[] {
    const s = this.settings;
    // No enableNonRepudiationChecks: oauth4webapi refetches the JWKS on an unknown kid only when its copy is
    // a minute old, so a sign-in right after a key rotation failed. verifySignature() checks it instead.
    const execute: ((config: oidc.Configuration) => void)[] = [];
    const urls = [s.issuer, s.discoveryUrl, ...Object.values(s.endpoints ?? {})];
    if (urls.some((u) => u !== undefined && this.allowsHttp(u))) execute.push(oidc.allowInsecureRequests);
    return execute;
  }

  /** A Configuration for known server metadata, set up like a discovered one. */
  protected configurationFor(metadata: oidc.ServerMetadata): oidc.Configuration {
    const config = new oidc.Configuration(
      metadata,
      this.settings.clientId,
      this.clientMetadata(),
      this.clientAuth(),
    );
    for (const e of this.execute()) e(config);
    config.timeout = this.opts.timeoutSeconds;
    if (this.opts.fetch) config[oidc.customFetch] = this.opts.fetch;
    return config;
  }

  protected async loadConfiguration(): Promise<oidc.Configuration> {
    const s = this.settings;
    if (s.endpoints !== undefined) {
      return this.configurationFor({
        issuer: s.issuer,
        authorization_endpoint: s.endpoints.authorization,
        token_endpoint: s.endpoints.token,
        jwks_uri: s.endpoints.jwks,
        // Without discovery nothing advertises the ID token algorithms: the configured list is the one
        // (else oauth4webapi accepts RS256 alone).
        ...(s.idTokenSigningAlgs !== undefined
          ? { id_token_signing_alg_values_supported: [...s.idTokenSigningAlgs] }
          : {}),
        ...(s.endpoints.userinfo !== undefined ? { userinfo_endpoint: s.endpoints.userinfo } : {}),
        ...(s.endpoints.endSession !== undefined ? { end_session_endpoint: s.endpoints.endSession } : {}),
      });
    }
    const options: oidc.DiscoveryRequestOptions = {
      execute: this.execute(),
      timeout: this.opts.timeoutSeconds,
    };
    if (this.opts.fetch) options[oidc.customFetch] = this.opts.fetch;
    // The document's URL is built, and its issuer compared, by the code `portcullis check` uses
    // (src/config/idp-urls.ts). A URL with /.well-known/ makes openid-client skip its own comparison.
    const url = s.discoveryUrl ?? discoveryUrlOf(s.issuer);
    let config: oidc.Configuration;
    try {
      config = await oidc.discovery(
        new URL(url),
        s.clientId,
        this.clientMetadata(),
        this.clientAuth(),
        options,
      );
    } catch (err) {
      const answer = answerOf(err);
      if (answer === undefined) throw err;
      const why =
        answer.status >= 300 && answer.status < 400
          ? discoveryRedirect(url, answer.status, answer.location)
          : `${url} answered HTTP ${answer.status}, not the discovery document`;
      throw new PortcullisError('PCL_IDP_UNREACHABLE', `discovery of ${url} failed: ${why}`, { cause: err });
    }
    const published = config.serverMetadata().issuer;
    if (s.discoveryUrl === undefined && !sameIssuer(s.issuer, published)) {
      throw new PortcullisError(
        'PCL_IDP_UNREACHABLE',
        `discovery of ${url} failed: ${issuerMismatch(s.issuer, published)}`,
      );
    }
    config.timeout = this.opts.timeoutSeconds;
    return config;
  }

  /** Extra authorization request parameters the provider type wants (Google: hd, access_type). */
  protected authorizationParams(): Record<string, string> {
    return {};
  }

  async authorizationUrl(flow: FlowSecrets): Promise<URL> {
    const config = await this.discover();
    return oidc.buildAuthorizationUrl(config, {
      ...this.authorizationParams(),
      redirect_uri: this.opts.redirectUri.href,
      scope: this.settings.scopes.join(' '),
      code_challenge: codeChallenge(flow.codeVerifier),
      code_challenge_method: 'S256',
      state: flow.state,
      nonce: flow.nonce,
    });
  }

  /** The code exchange with every check openid-client makes; Entra overrides it for multi-tenant issuers. */
  protected async exchange(
    config: oidc.Configuration,
    callbackUrl: URL,
    flow: FlowSecrets,
  ): Promise<oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers> {
    try {
      return await oidc.authorizationCodeGrant(config, callbackUrl, {
        pkceCodeVerifier: flow.codeVerifier,
        expectedState: flow.state,
        expectedNonce: flow.nonce,
        idTokenExpected: true,
      });
    } catch (err) {
      throw await tokenError(err);
    }
  }

  /** Exchanges the code from `callbackUrl` and validates everything; throws PortcullisError. */
  async signIn(callbackUrl: URL, flow: FlowSecrets, step: StepTimer = untimed): Promise<SignInResult> {
    const config = await step(
      'discovery',
      () => this.discover(),
      (c) => `issuer ${c.serverMetadata().issuer}`,
    );
    const tokens = await step(
      'code exchange',
      () => this.exchange(config, callbackUrl, flow),
      (t) =>
        `token endpoint answered${t.id_token ? ' with an ID token' : ''}${t.refresh_token ? ' and a refresh token' : ''}`,
    );
    const claims = tokens.claims();
    const idToken = tokens.id_token;
    await step(
      'ID token checks',
      async () => {
        if (claims === undefined || idToken === undefined) {
          throw new PortcullisError('PCL_ID_TOKEN_INVALID', 'token response had no ID token');
        }
        const problem = idTokenProblem(idToken, claims, tokens.access_token, this.idTokenPolicy(config));
        if (problem) throw new PortcullisError('PCL_ID_TOKEN_INVALID', problem);
        await this.verifySignature(config, idToken);
      },
      () => `iss ${String(claims?.iss)}, aud, exp, iat, nonce, algorithm and signature held`,
    );
    const identity = await step(
      this.settings.userinfo ? 'userinfo and profile' : 'profile from the ID token',
      () => this.identityOf(config, claims!, tokens.access_token),
      (i) => `sub ${i.sub}${i.email ? `, ${i.email}` : ''}, ${i.groups.length} group(s)`,
    );
    return { identity, ...this.tokenSet(tokens) };
  }

  #keys: KeySets | undefined;

  /**
   * The ID token's signature, with the IdP's keys (src/idp/jwks.ts: refetched on an unknown kid, at most
   * once per cooldown). openid-client has checked the claims; idTokenProblem() the algorithm.
   */
  protected async verifySignature(config: oidc.Configuration, idToken: string): Promise<void> {
    const jwksUri = metadataOf(config).jwks_uri;
    if (jwksUri === undefined) {
      throw new PortcullisError(
        'PCL_ID_TOKEN_INVALID',
        'the IdP publishes no jwks_uri to verify the ID token',
      );
    }
    this.#keys ??= new KeySets({ timeoutSeconds: this.opts.timeoutSeconds, fetch: this.opts.fetch });
    const advertised = metadataOf(config).id_token_signing_alg_values_supported;
    const algorithms = (this.idTokenPolicy(config).algorithms ?? advertised ?? ['RS256']).filter(
      (a) => a.toLowerCase() !== 'none',
    );
    try {
      await compactVerify(idToken, this.#keys.for(jwksUri), { algorithms });
    } catch (err) {
      const code = err instanceof errors.JOSEError ? err.code : '';
      if (err instanceof errors.JWKSTimeout || /fetch failed|ECONNREFUSED|ENOTFOUND/.test(String(err))) {
        throw new PortcullisError('PCL_IDP_UNREACHABLE', `fetching the IdP's keys: ${describe(err)}`, {
          cause: err,
        });
      }
      throw new PortcullisError('PCL_ID_TOKEN_INVALID', `ID token signature: ${code} ${describe(err)}`, {
        cause: err,
      });
    }
  }

  /**
   * For bearer tokens (src/bearer/): the issuer discovery announced, the key set (the same cache the ID
   * tokens of sign-ins use) and the ID token algorithms. A multi-tenant Entra application's issuer is a
   * `{tenantid}` template that no token carries: its tokens need a `bearer.issuers` entry per tenant.
   */
  async jwtKeys(): Promise<JwtKeys> {
    const config = await this.discover();
    const m = metadataOf(config);
    if (m.jwks_uri === undefined) {
      throw new PortcullisError(
        'PCL_IDP_UNREACHABLE',
        `${this.id} publishes no jwks_uri to verify tokens with`,
      );
    }
    this.#keys ??= new KeySets({ timeoutSeconds: this.opts.timeoutSeconds, fetch: this.opts.fetch });
    const algorithms = (this.idTokenPolicy(config).algorithms ?? ['RS256']).filter(
      (a) => a.toLowerCase() !== 'none',
    );
    return { issuer: m.issuer, keys: this.#keys.for(m.jwks_uri), algorithms };
  }

  /** A verified bearer JWT's claims → identity, as an ID token's at sign-in (no userinfo: no access token). */
  async identityFromClaims(claims: Readonly<Record<string, unknown>>): Promise<Identity> {
    return this.identityOf(await this.discover(), claims, undefined);
  }

  /**
   * `bearer.opaque`: RFC 7662 introspection at the IdP's introspection_endpoint, authenticated as this
   * client (an `active: false` answer, or a token of another issuer, is inactive); or `userinfo`, the
   * profile endpoint (a 401 is inactive). The identity is made from the answer as from an ID token.
   */
  async opaqueToken(token: string): Promise<OpaqueToken | undefined> {
    const mode = this.config.bearer?.opaque;
    if (mode === undefined) return undefined;
    const config = await this.discover();
    if (mode === 'userinfo') {
      let info: Record<string, unknown>;
      try {
        info = await oidc.fetchUserInfo(config, token, oidc.skipSubjectCheck);
      } catch (err) {
        if (classify(err).code === 'PCL_IDP_UNREACHABLE') throw classify(err);
        return undefined;
      }
      return { identity: await this.identityOf(config, info, undefined) };
    }
    let r: oidc.IntrospectionResponse;
    try {
      r = await oidc.tokenIntrospection(config, token);
    } catch (err) {
      const e = classify(err);
      throw new PortcullisError('PCL_IDP_UNREACHABLE', `introspection at ${this.id}: ${e.detail}`, {
        cause: err,
      });
    }
    if (r.active !== true) return undefined;
    if (typeof r.iss === 'string' && r.iss !== config.serverMetadata().issuer) return undefined;
    const aud = r.aud === undefined ? [] : Array.isArray(r.aud) ? r.aud : [r.aud];
    const audiences = [...aud, ...(typeof r.client_id === 'string' ? [r.client_id] : [])].map(String);
    // RFC 7662 names the user `username`; the claim mapping reads preferred_username.
    const claims = { preferred_username: r.username, ...r } as Record<string, unknown>;
    return {
      identity: await this.identityOf(config, claims, undefined),
      exp: typeof r.exp === 'number' ? r.exp : undefined,
      audiences: audiences.length > 0 ? audiences : undefined,
    };
  }

  /** ID token claims (+ userinfo when configured) → identity, then the provider type's enrich(). */
  protected async identityOf(
    config: oidc.Configuration,
    claims: Readonly<Record<string, unknown>>,
    accessToken: string | undefined,
  ): Promise<Identity> {
    let profile: Readonly<Record<string, unknown>> = claims;
    if (this.settings.userinfo && accessToken) {
      try {
        const info = await oidc.fetchUserInfo(config, accessToken, String(claims['sub']));
        profile = { ...claims, ...info };
      } catch (err) {
        throw new PortcullisError('PCL_USERINFO_FAILED', `userinfo failed: ${describe(err)}`, { cause: err });
      }
    }
    const identity = identityFromProfile(profile, this.settings.mapping, {
      keepClaims: this.opts.keepClaims ?? [],
      allowUnverifiedEmail: this.settings.allowUnverifiedEmail,
    });
    if (identity === undefined) throw new PortcullisError('PCL_ID_TOKEN_INVALID', 'the ID token has no sub');
    return this.enrich(identity, { config, claims, profile, accessToken });
  }

  /** The provider type's additions to the identity (roles, groups from an API, tenant, …). */
  protected async enrich(identity: Identity, _ctx: ProfileContext): Promise<Identity> {
    return identity;
  }

  /** The Configuration that validates this session's tokens (Entra: the user's tenant). */
  protected configurationForSession(_identity: Identity): Promise<oidc.Configuration> {
    return this.discover();
  }

  /** Refreshes the tokens; concurrent calls with the same refresh token share one request. */
  refresh(refreshToken: string, identity: Identity): Promise<RefreshResult> {
    this.#refreshes ??= new RefreshDeduper(this.opts.now);
    return this.#refreshes.run(refreshToken, () => this.#refresh(refreshToken, identity));
  }

  async #refresh(refreshToken: string, current: Identity): Promise<RefreshResult> {
    const config = await this.configurationForSession(current);
    let tokens: Awaited<ReturnType<typeof oidc.refreshTokenGrant>>;
    try {
      tokens = await oidc.refreshTokenGrant(config, refreshToken);
    } catch (err) {
      throw await tokenError(err);
    }
    const set = this.tokenSet(tokens);
    const claims = tokens.claims();
    if (claims !== undefined && tokens.id_token !== undefined) {
      // OIDC Core 12.2: a refreshed ID token must be about the same user.
      if (claims.sub !== current.sub) {
        throw new PortcullisError('PCL_ID_TOKEN_INVALID', 'refreshed ID token has another sub');
      }
      const problem = idTokenProblem(
        tokens.id_token,
        claims,
        tokens.access_token,
        this.idTokenPolicy(config),
      );
      if (problem) throw new PortcullisError('PCL_ID_TOKEN_INVALID', problem);
      await this.verifySignature(config, tokens.id_token);
      const identity = await this.identityOf(config, claims, tokens.access_token);
      return { ...set, refreshToken: set.refreshToken ?? refreshToken, identity };
    }
    return { ...set, refreshToken: set.refreshToken ?? refreshToken };
  }

  /** The IdP's end-session URL for RP-initiated logout, if it has one. */
  async endSessionUrl(idToken: string | undefined, postLogoutRedirectUri: string): Promise<URL | undefined> {
    const config = await this.discover();
    if (!config.serverMetadata().end_session_endpoint) return undefined;
    const params: Record<string, string> = { post_logout_redirect_uri: postLogoutRedirectUri };
    if (idToken) params['id_token_hint'] = idToken;
    else params['client_id'] = this.settings.clientId;
    return oidc.buildEndSessionUrl(config, params);
  }

  protected idTokenPolicy(config: oidc.Configuration) {
    const advertised = metadataOf(config).id_token_signing_alg_values_supported;
    return {
      clientId: this.settings.clientId,
      audiences: this.settings.audiences,
      algorithms: this.settings.idTokenSigningAlgs ?? advertised?.filter((a) => a !== 'none'),
      skipAtHash: this.settings.insecureSkipAtHash,
    };
  }

  protected tokenSet(t: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers): TokenSet {
    const expiresIn = t.expiresIn();
    return {
      accessToken: t.access_token,
      accessTokenExpiresAt: expiresIn !== undefined ? this.opts.now() + expiresIn : undefined,
      refreshToken: t.refresh_token,
      idToken: t.id_token,
    };
  }
}

/** The status (and Location) of a discovery answer that was not 200: a redirect is not followed. */
function answerOf(err: unknown): { status: number; location: string | null } | undefined {
  const response = (err as { cause?: unknown }).cause;
  if (!(response instanceof Response) || response.status === 200) return undefined;
  return { status: response.status, location: response.headers.get('location') };
}

export function describe(err: unknown): string {
  if (err instanceof oidc.ResponseBodyError) {
    return `${err.error}${err.error_description ? ` (${err.error_description})` : ''}, HTTP ${err.status}`;
  }
  if (err instanceof PortcullisError) return err.detail;
  if (err instanceof Error) {
    const cause = err.cause instanceof Error ? `: ${err.cause.message}` : '';
    return `${err.message}${cause}`;
  }
  return String(err);
}

export function classify(err: unknown): PortcullisError {
  if (err instanceof PortcullisError) return err;
  if (err instanceof oidc.ResponseBodyError || err instanceof oidc.AuthorizationResponseError) {
    return new PortcullisError('PCL_CODE_EXCHANGE_FAILED', describe(err), { cause: err });
  }
  const code = (err as { code?: string }).code ?? '';
  // RFC 9207: the callback's `iss` is missing or names another issuer than the flow's provider (mix-up,
  // RFC 9700 §4.4). Checked before the code is redeemed, so nothing was spent at any IdP.
  if (
    /response parameter "iss" \(issuer\) missing|unexpected "iss" \(issuer\) response parameter/.test(
      describe(err),
    )
  ) {
    return new PortcullisError('PCL_ISSUER_MISMATCH', describe(err), { cause: err });
  }
  // oauth4webapi reports JWT problems (signature, claims, alg) with these codes, or as a generic
  // OAUTH_INVALID_RESPONSE whose message names the JWT part that failed.
  if (/JWT|JWS|SIGNATURE|ALG|CLAIM|TIMESTAMP/.test(code) || /\bJWT\b|ID Token/.test(describe(err))) {
    return new PortcullisError('PCL_ID_TOKEN_INVALID', `${code}: ${describe(err)}`, { cause: err });
  }
  if (/TIMEOUT|ECONNREFUSED|ENOTFOUND|fetch failed|aborted/i.test(`${code} ${describe(err)}`)) {
    return new PortcullisError('PCL_IDP_UNREACHABLE', describe(err), { cause: err });
  }
  return new PortcullisError('PCL_CODE_EXCHANGE_FAILED', `${code ? `${code}: ` : ''}${describe(err)}`, {
    cause: err,
  });
}

/**
 * A token endpoint failure as a coded error. RFC 6749 §5.2 has a server answer a failed HTTP Basic client
 * authentication with 401 and WWW-Authenticate; openid-client then reports the challenge, and the body —
 * which names the OAuth error (`invalid_client`) — is read here so the log says what went wrong.
 */
export async function tokenError(err: unknown): Promise<PortcullisError> {
  if (!(err instanceof oidc.WWWAuthenticateChallengeError)) return classify(err);
  const challenges = err.cause
    .map((c) =>
      [c.scheme, ...Object.entries(c.parameters).map(([k, v]) => `${k}="${v.slice(0, 100)}"`)].join(' '),
    )
    .join(', ');
  let body: unknown;
  try {
    body = await err.response.json();
  } catch {
    body = undefined;
  }
  const oauthError =
    isRecord(body) && typeof body['error'] === 'string'
      ? `${body['error'].slice(0, 100)}${typeof body['error_description'] === 'string' ? ` (${body['error_description'].slice(0, 300)})` : ''}, `
      : '';
  return new PortcullisError(
    'PCL_CODE_EXCHANGE_FAILED',
    `${oauthError}HTTP ${err.status}, WWW-Authenticate: ${challenges}`,
    { cause: err },
  );
}
