/**
 * The plain OAuth2 base, for providers without ID tokens: the authorization code flow with PKCE S256 and
 * state against endpoints given by the provider type (openid-client drives it, as for OpenID Connect),
 * then the user's profile read from an API with the access token. github and jupyterhub extend it;
 * `type: oauth2` (bring your own) is this base plus `userInfoMapping`, below.
 */
import * as oidc from 'openid-client';
import { isLoopbackHost } from '../config/net.ts';
import type { AuthMethod, ResolvedProvider, ResolvedProviderOf } from '../config/providers.ts';
import { PortcullisError } from '../errors/codes.ts';
import { codeChallenge } from '../login/pkce.ts';
import type { StepTimer } from '../login/trace.ts';
import type { Identity } from '../sessions/session.ts';
import { identityFromProfile, type ProfileMapping } from './claims.ts';
import { type ApiRequest, type ApiResponse, callApi, fetchOf, isRecord } from './http.ts';
import { tokenError } from './oidc.ts';
import {
  type FlowSecrets,
  type IdentityProvider,
  type OpaqueToken,
  type ProviderOptions,
  RefreshDeduper,
  type RefreshResult,
  type SignInResult,
  type TokenSet,
  untimed,
} from './provider.ts';

export interface OAuth2Settings {
  readonly issuer: string;
  readonly authorizationUrl: string;
  readonly tokenUrl: string;
  readonly clientId: string;
  readonly secret: string | undefined;
  readonly authMethod: AuthMethod;
  readonly scopes: readonly string[];
  readonly insecureAllowHttp: boolean;
  readonly allowUnverifiedEmail: boolean;
}

export function oauth2BaseSettings(
  c: ResolvedProvider,
): Omit<OAuth2Settings, 'authorizationUrl' | 'tokenUrl'> {
  return {
    issuer: c.issuer,
    clientId: c.clientId,
    secret: c.secret,
    authMethod: c.authMethod,
    scopes: c.scopes,
    insecureAllowHttp: (c as { insecureAllowHttp?: boolean }).insecureAllowHttp ?? false,
    allowUnverifiedEmail: c.insecureAllowUnverifiedEmail,
  };
}

export abstract class OAuth2Provider implements IdentityProvider {
  readonly config: ResolvedProvider;
  protected readonly settings: OAuth2Settings;
  protected readonly opts: ProviderOptions;
  readonly #configuration: oidc.Configuration;
  #refreshes: RefreshDeduper | undefined;

  constructor(config: ResolvedProvider, opts: ProviderOptions, settings: OAuth2Settings) {
    this.config = config;
    this.opts = opts;
    this.settings = settings;
    const s = settings;
    const auth =
      s.authMethod === 'client_secret_post'
        ? oidc.ClientSecretPost(s.secret!)
        : s.authMethod === 'client_secret_basic'
          ? oidc.ClientSecretBasic(s.secret!)
          : oidc.None();
    // No discovery: the endpoints are known. `issuer` identifies the server for the RFC 9207 `iss`
    // response parameter, checked when a server sends one.
    const c = new oidc.Configuration(
      { issuer: s.issuer, authorization_endpoint: s.authorizationUrl, token_endpoint: s.tokenUrl },
      s.clientId,
      {},
      auth,
    );
    if ([s.authorizationUrl, s.tokenUrl].some((u) => this.allowsHttp(u))) oidc.allowInsecureRequests(c);
    c.timeout = opts.timeoutSeconds;
    c[oidc.customFetch] = withoutIdToken(this.tokenFetch(opts.fetch));
    this.#configuration = c;
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

  protected allowsHttp(url: string): boolean {
    const u = new URL(url);
    return u.protocol === 'http:' && (isLoopbackHost(u.hostname) || this.settings.insecureAllowHttp);
  }

  /** The fetch used for the token endpoint; a provider type may adapt non-standard answers here. */
  protected tokenFetch(f: oidc.CustomFetch | undefined): oidc.CustomFetch | undefined {
    return f;
  }

  /** Nothing to discover: always ready. */
  ready(): Promise<void> {
    return Promise.resolve();
  }

  protected authorizationParams(): Record<string, string> {
    return {};
  }

  async authorizationUrl(flow: FlowSecrets): Promise<URL> {
    const params: Record<string, string> = {
      ...this.authorizationParams(),
      redirect_uri: this.opts.redirectUri.href,
      code_challenge: codeChallenge(flow.codeVerifier),
      code_challenge_method: 'S256',
      state: flow.state,
    };
    if (this.settings.scopes.length > 0) params['scope'] = this.settings.scopes.join(' ');
    return oidc.buildAuthorizationUrl(this.#configuration, params);
  }

  async signIn(callbackUrl: URL, flow: FlowSecrets, step: StepTimer = untimed): Promise<SignInResult> {
    const tokens = await step(
      'code exchange',
      async () => {
        try {
          return await oidc.authorizationCodeGrant(this.#configuration, callbackUrl, {
            pkceCodeVerifier: flow.codeVerifier,
            expectedState: flow.state,
          });
        } catch (err) {
          throw await tokenError(err);
        }
      },
      (t) => `token endpoint answered${t.refresh_token ? ' with a refresh token' : ''}`,
    );
    const identity = await step(
      this.type === 'github' ? 'user, e-mail, org and team lookups' : 'userinfo lookups',
      () => this.fetchIdentity(tokens.access_token),
      (i) => `sub ${i.sub}${i.email ? `, ${i.email}` : ''}${i.orgs ? `, ${i.orgs.length} org(s)` : ''}`,
    );
    return { identity, ...this.#tokenSet(tokens) };
  }

  refresh(refreshToken: string, identity: Identity): Promise<RefreshResult> {
    this.#refreshes ??= new RefreshDeduper(this.opts.now);
    return this.#refreshes.run(refreshToken, async () => {
      let tokens: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers;
      try {
        tokens = await oidc.refreshTokenGrant(this.#configuration, refreshToken);
      } catch (err) {
        throw await tokenError(err);
      }
      const next = await this.fetchIdentity(tokens.access_token);
      if (next.sub !== identity.sub) {
        throw new PortcullisError('PCL_USERINFO_FAILED', 'the refreshed token belongs to another user');
      }
      const set = this.#tokenSet(tokens);
      return { ...set, refreshToken: set.refreshToken ?? refreshToken, identity: next };
    });
  }

  /** The user behind an access token, from the provider's API. */
  protected abstract fetchIdentity(accessToken: string): Promise<Identity>;

  /**
   * `bearer.opaque: userinfo`: the token is active when the profile API answers for it. That proves it is
   * a live token of some user at this server, not that it was issued for this API (docs/api-access.md).
   * The API refusing it (401, 403) means inactive; a server that cannot be reached throws.
   */
  async opaqueToken(token: string): Promise<OpaqueToken | undefined> {
    if (this.config.bearer?.opaque !== 'userinfo') return undefined;
    try {
      return { identity: await this.fetchIdentity(token) };
    } catch (err) {
      if (err instanceof PortcullisError && err.code === 'PCL_USERINFO_FAILED') return undefined;
      throw err;
    }
  }

  protected api(r: ApiRequest): Promise<ApiResponse> {
    return callApi(this.opts.fetch, this.opts.timeoutSeconds, r);
  }

  protected identityFrom(
    profile: Readonly<Record<string, unknown>>,
    mapping: ProfileMapping,
    what: string,
  ): Identity {
    const identity = identityFromProfile(profile, mapping, {
      keepClaims: this.opts.keepClaims ?? [],
      allowUnverifiedEmail: this.settings.allowUnverifiedEmail,
    });
    if (identity === undefined) {
      throw new PortcullisError(
        'PCL_USERINFO_FAILED',
        `${what}: the profile has no user id (${mapping.sub.join(' or ')})`,
      );
    }
    return identity;
  }

  #tokenSet(t: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers): TokenSet {
    const expiresIn = t.expiresIn();
    return {
      accessToken: t.access_token,
      accessTokenExpiresAt: expiresIn !== undefined ? this.opts.now() + expiresIn : undefined,
      refreshToken: t.refresh_token,
      // Plain OAuth2: an ID token, if a server sends one anyway, is not what the session is built on.
      idToken: undefined,
    };
  }
}

/**
 * The token endpoint's fetch with any `id_token` removed from successful JSON answers. A plain OAuth2
 * provider builds the session on the profile, never on an ID token: an OpenID-Connect-capable server asked
 * for `openid` sends one anyway, and openid-client would check its claims (iss against our notion of the
 * issuer, aud, exp) without a key to verify its signature — failing sign-ins over a token that is not used.
 */
function withoutIdToken(f: oidc.CustomFetch | undefined): oidc.CustomFetch {
  return async (url, init) => {
    const res = await fetchOf(f)(url, init);
    if (res.status !== 200 || !(res.headers.get('content-type') ?? '').includes('json')) return res;
    let body: unknown;
    try {
      body = await res.clone().json();
    } catch {
      body = undefined;
    }
    if (!isRecord(body) || body['id_token'] === undefined) return res;
    await res.body?.cancel();
    const { id_token: _ignored, ...rest } = body;
    const headers = new Headers(res.headers);
    headers.delete('content-length');
    return new Response(JSON.stringify(rest), { status: res.status, headers });
  };
}

/** `type: oauth2`: any OAuth2 server, the profile read from userInfoUrl and mapped field by field. */
export class MappedOAuth2Provider extends OAuth2Provider {
  readonly #userInfoUrl: string;
  readonly #mapping: ProfileMapping;

  constructor(config: ResolvedProviderOf<'oauth2'>, opts: ProviderOptions) {
    super(config, opts, {
      ...oauth2BaseSettings(config),
      authorizationUrl: config.authorizationUrl,
      tokenUrl: config.tokenUrl,
    });
    this.#userInfoUrl = config.userInfoUrl;
    const m = config.userInfoMapping;
    this.#mapping = {
      // Spinnaker-style mappings name no id: after sub and id, the username, then the e-mail address
      // (values an IdP may give to another person later: `portcullis check` warns, docs/providers/oauth2.md).
      sub:
        m.id !== undefined
          ? [m.id]
          : ['sub', 'id', ...(m.username !== undefined ? [m.username] : []), m.email],
      email: m.email,
      name: m.name,
      firstName: m.firstName,
      lastName: m.lastName,
      username: m.username,
      groups: m.groups ?? m.roles,
    };
  }

  protected async fetchIdentity(accessToken: string): Promise<Identity> {
    const r = await this.api({ url: this.#userInfoUrl, accessToken, label: 'user info' });
    if (!isRecord(r.body)) throw new PortcullisError('PCL_USERINFO_FAILED', 'user info: not a JSON object');
    return this.identityFrom(r.body, this.#mapping, 'user info');
  }
}
