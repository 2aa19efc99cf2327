/**
 * The oidc-provider instance behind /oidc, configured from `issuer` (src/config/issuer.ts). One table of
 * settings, each with the reason it is set; oidc-provider's own defaults (lib/helpers/defaults.js) hold
 * for everything not named here.
 */
import { hkdfSync } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { JWK } from 'jose';
import Provider, {
  type Client,
  errors,
  type Grant,
  interactionPolicy,
  type KoaContextWithOIDC,
  type UnknownObject,
} from 'oidc-provider';
import type { ResolvedIssuer, ResolvedIssuerClient } from '../config/issuer.ts';
import { errorPage } from '../http/pages.ts';
import type { Logger } from '../observability/log.ts';
import type { Storage } from '../storage/storage.ts';
import { type Accounts, accountIdOf } from './accounts.ts';
import { adapterFor } from './adapter.ts';
import { GrantAdmission, type GrantBound } from './admission.ts';
/** The gateway request an oidc-provider request belongs to (set by the mount, read by hooks). */
import type { Binding } from './binding.ts';
import { issuerSignedOutPage, logoutPage } from './pages.ts';

export type { Binding } from './binding.ts';

export interface ProviderOptions {
  readonly issuer: ResolvedIssuer;
  readonly storage: Storage;
  /** Private keys, signing keys first (src/keys/store.ts). */
  readonly jwks: readonly JWK[];
  readonly cookieKeys: readonly Buffer[];
  /** `cookie.name`: the issuer's cookies are named after it. */
  readonly cookieBase: string;
  /** Whether publicUrl is https (cookies then get the __Secure- prefix and the Secure flag). */
  readonly secure: boolean;
  /** Lifetime of the issuer's browser session: the gate session's (`sessions.lifetime`). */
  readonly sessionTtl: number;
  /** publicUrl's path without its trailing slash ('' at the root): the gate's pages live under it. */
  readonly basePath: string;
  readonly accounts: Accounts;
  readonly log: Logger;
  readonly bindingOf: (req: IncomingMessage) => Binding | undefined;
}

export const SCOPES = ['openid', 'profile', 'email', 'groups', 'offline_access'];
/** Which claims each scope releases (docs/issuer.md has the same table for service owners). */
export const CLAIMS: Readonly<Record<string, readonly string[]>> = {
  openid: ['sub'],
  profile: ['name', 'preferred_username'],
  email: ['email', 'email_verified'],
  groups: ['groups'],
};

/** Interactions (sign-in upstream, consent) last as long as a gate sign-in in flight may take. */
const INTERACTION_TTL = 600;
const AUTHORIZATION_CODE_TTL = 60;

/**
 * Keys for oidc-provider's signed cookies (Koa keygrip), one per cookie secret so rotation works the same
 * way: HKDF with its own info string, so they are unrelated to the keys that seal the gate's cookies.
 */
export function issuerCookieKeys(secrets: readonly Buffer[]): string[] {
  return secrets.map((secret) =>
    Buffer.from(hkdfSync('sha256', secret, 'portcullis', 'portcullis oidc-provider cookies v1', 32)).toString(
      'base64url',
    ),
  );
}

export function issuerCookieNames(base: string, secure: boolean) {
  // Path=/oidc rules out __Host- (it needs Path=/); __Secure- still binds the cookie to https.
  const name = `${secure ? '__Secure-' : ''}${base}_oidc`;
  return { session: name, interaction: `${name}_interaction`, resume: `${name}_resume` };
}

function clientMetadata(c: ResolvedIssuerClient): UnknownObject {
  const signsIn = c.redirectUris.length > 0;
  const grantTypes = signsIn ? ['authorization_code', 'refresh_token'] : [];
  if (c.clientCredentials) grantTypes.push('client_credentials');
  const m: UnknownObject = {
    client_id: c.id,
    client_name: c.name,
    token_endpoint_auth_method: c.authMethod,
    redirect_uris: [...c.redirectUris],
    post_logout_redirect_uris: [...c.postLogoutRedirectUris],
    grant_types: grantTypes,
    response_types: signsIn ? ['code'] : [],
    scope: c.scopes.join(' '),
    id_token_signed_response_alg: c.idTokenSigningAlg,
  };
  if (c.secretValue !== undefined) m['client_secret'] = c.secretValue;
  if (c.display?.url !== undefined) m['client_uri'] = c.display.url;
  return m;
}

export function buildProvider(o: ProviderOptions): Provider {
  const clients = new Map(o.issuer.clients.map((c) => [c.id, c]));
  const ttlOf = (client: Client | undefined) =>
    clients.get(client?.clientId ?? '')?.ttl ?? defaultTtl(o.issuer);
  const longest = Math.max(o.issuer.refreshTokenTtl, ...o.issuer.clients.map((c) => c.ttl.refreshToken));

  const admission = new GrantAdmission(o);

  const policy = interactionPolicy.base();
  // Single sign-on follows the gate: the issuer's own session counts only while the browser's gate session
  // is for the same account and the access rules let that user in. Otherwise the login prompt comes up,
  // and the interaction (src/issuer/interactions.ts) signs in upstream or shows the 403 page.
  policy.get('login')?.checks.push(
    new interactionPolicy.Check(
      'gate_session',
      'the Portcullis session ended or does not allow this user',
      'login_required',
      async (ctx) => {
        const b = o.bindingOf(ctx.req);
        const accountId = ctx.oidc.session?.accountId;
        if (b === undefined || accountId === undefined) return interactionPolicy.Check.REQUEST_PROMPT;
        const session = await b.ctx.sessions.read(b.s.cookies, b.ctx.now());
        if (session === undefined || accountIdOf(session) !== accountId)
          return interactionPolicy.Check.REQUEST_PROMPT;
        return !b.ctx.authz.admits(session);
      },
    ),
  );

  // The issuer identifier's path: `/oidc`, or `<base>/oidc` under a publicUrl path.
  const mount = o.issuer.url.pathname;
  const provider = new Provider(o.issuer.url.href, {
    adapter: adapterFor(o.storage),
    clients: o.issuer.clients.map(clientMetadata),
    clientDefaults: {
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      id_token_signed_response_alg: 'RS256',
      token_endpoint_auth_method: 'client_secret_basic',
    },
    jwks: { keys: o.jwks.map((k) => ({ ...k })) },
    cookies: {
      keys: issuerCookieKeys(o.cookieKeys),
      names: issuerCookieNames(o.cookieBase, o.secure),
      // The session cookie is scoped to the issuer's path, so it never reaches upstreams; interaction
      // cookies are scoped further by oidc-provider itself (Path=/oidc/interaction/<uid>, /oidc/auth/<uid>).
      long: { httpOnly: true, sameSite: 'lax', path: mount },
      short: { httpOnly: true, sameSite: 'lax' },
    },
    scopes: SCOPES,
    claims: Object.fromEntries(Object.entries(CLAIMS).map(([k, v]) => [k, [...v]])),
    // Scope claims go into the ID token too, not only to userinfo: hub-style services read the ID token.
    conformIdTokenClaims: false,
    // Never implicit or hybrid: the code flow only (RFC 9700 §2.1.2).
    responseTypes: ['code'],
    // oidc-provider v9 implements S256 only (plain is refused); PKCE is required of public clients and
    // checked for every client that sends a code_challenge.
    pkce: { required: (_ctx: KoaContextWithOIDC, client: Client) => client.clientAuthMethod === 'none' },
    // A refresh token for every client allowed the grant. Without offline_access it ends with the user's
    // Portcullis session (expiresWithSession, oidc-provider's default); with it, it outlives sign-out.
    issueRefreshToken: async (_ctx: KoaContextWithOIDC, client: Client) =>
      client.grantTypeAllowed('refresh_token'),
    // Every refresh rotates the token; presenting a used one again revokes the whole grant
    // (lib/actions/grants/refresh_token.js, RFC 9700 §4.14.2).
    rotateRefreshToken: true,
    ttl: {
      AccessToken: (_ctx: unknown, _token: unknown, client: Client) => ttlOf(client).accessToken,
      ClientCredentials: (_ctx: unknown, _token: unknown, client: Client) => ttlOf(client).accessToken,
      IdToken: (_ctx: unknown, _token: unknown, client: Client) => ttlOf(client).idToken,
      RefreshToken: (ctx: KoaContextWithOIDC | undefined, _token: unknown, client: Client) => {
        // A public client's rotated token keeps the first one's expiry: no endless life through rotation.
        const rotated = ctx?.oidc?.entities.RotatedRefreshToken;
        if (rotated && client.clientAuthMethod === 'none') return rotated.remainingTTL;
        return ttlOf(client).refreshToken;
      },
      AuthorizationCode: AUTHORIZATION_CODE_TTL,
      Interaction: INTERACTION_TTL,
      Session: o.sessionTtl,
      Grant: longest,
    },
    features: {
      devInteractions: { enabled: false },
      // A confidential client may introspect any token (it may be a resource server checking the tokens
      // of other services); a public client only its own (oidc-provider's default, made explicit). A user's
      // token is active only while the access rules admit the user: the answer is `{"active": false}`
      // otherwise (RFC 7662 §2.2: no reason is given), and the grant is revoked. Client-credentials tokens
      // have no user to decide on.
      introspection: {
        enabled: true,
        allowedPolicy: async (ctx: KoaContextWithOIDC, client: Client, token: GrantBound) => {
          if (client.clientAuthMethod === 'none' && token.clientId !== client.clientId) return false;
          if (token.accountId === undefined) return true;
          const seen = await admission.check(ctx, 'issuer.introspection', token, { caller: client.clientId });
          return seen === 'allowed';
        },
      },
      // A client revokes only its own tokens; another's is left alone with the 200 RFC 7009 §2.2 prescribes.
      revocation: {
        enabled: true,
        allowedPolicy: async (_ctx: unknown, client: Client, token: { clientId?: string }) =>
          token.clientId === client.clientId,
      },
      clientCredentials: { enabled: true },
      userinfo: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: async (ctx: KoaContextWithOIDC, form: string) => {
          const client = ctx.oidc.client;
          html(
            ctx,
            200,
            logoutPage(form, client ? (clients.get(client.clientId)?.name ?? client.clientId) : undefined),
          );
        },
        // After an end-session that ended nothing (no issuer session; see end_session.success below) the
        // gate session is still there: the page says so and offers the gate's sign-out.
        postLogoutSuccessSource: async (ctx: KoaContextWithOIDC) => {
          const b = o.bindingOf(ctx.req);
          let gate = false;
          try {
            gate = b !== undefined && (await b.ctx.sessions.read(b.s.cookies, b.ctx.now())) !== undefined;
          } catch {
            // The session store is down: the plain signed-out page (the gate answers 503 on the next request).
          }
          html(ctx, 200, issuerSignedOutPage(gate, o.basePath));
        },
      },
    },
    interactions: {
      policy,
      url: async (_ctx: KoaContextWithOIDC, interaction: { uid: string }) =>
        `${mount}/interaction/${interaction.uid}`,
    },
    // First-party services (skipConsent) get a grant for what they ask, within their allowed scopes, so
    // the consent prompt never comes up for them (oidc-provider docs, "Skipping consent").
    loadExistingGrant: async (ctx: KoaContextWithOIDC): Promise<Grant | undefined> => {
      const client = ctx.oidc.client;
      const session = ctx.oidc.session;
      if (client === undefined || session === undefined) return undefined;
      const grantId = ctx.oidc.result?.consent?.grantId ?? session.grantIdFor(client.clientId);
      const existing = grantId ? await provider.Grant.find(grantId) : undefined;
      if (!clients.get(client.clientId)?.skipConsent || session.accountId === undefined) return existing;
      const grant =
        existing ?? new provider.Grant({ clientId: client.clientId, accountId: session.accountId });
      grant.addOIDCScope([...ctx.oidc.requestParamOIDCScopes].join(' '));
      grant.addOIDCClaims([...ctx.oidc.requestParamClaims]);
      await grant.save();
      return grant;
    },
    // oidc-provider looks the account up for every issuance from a code or refresh token
    // (lib/helpers/grant_common.js validateAccount, before a refresh token is rotated) and for userinfo
    // (lib/shared/access_token.js loadAccessTokenAccount): there the access rules in force now decide.
    // Without a token it is the authorization endpoint, where the interaction and the gate_session check do.
    findAccount: async (ctx: KoaContextWithOIDC, sub: string, token?: GrantBound) => {
      const found = await o.accounts.load(sub);
      if (token !== undefined) {
        const userinfo = ctx.oidc.route === 'userinfo';
        const seen = await admission.check(
          ctx,
          userinfo ? 'issuer.userinfo' : 'issuer.token',
          { accountId: sub, grantId: token.grantId, clientId: token.clientId },
          { principal: found?.principal },
        );
        if (seen !== 'allowed') throw refusal(userinfo, seen);
      }
      return found?.account;
    },
    // CORS for browser-based (public) clients: their redirect URIs' origins.
    clientBasedCORS: (_ctx: KoaContextWithOIDC, origin: string, client: Client) =>
      client.redirectUris.some((uri) => URL.parse(uri)?.origin === origin),
    renderError: async (ctx: KoaContextWithOIDC, out: { error?: string; error_description?: string }) => {
      const b = o.bindingOf(ctx.req);
      const server = ctx.status >= 500;
      const code = server ? 'PCL_INTERNAL' : 'PCL_ISSUER_REQUEST_INVALID';
      const requestId = b?.s.id ?? 'unknown';
      html(
        ctx,
        ctx.status,
        errorPage({
          status: ctx.status,
          code,
          title: server ? 'Something went wrong' : 'The service’s sign-in request was refused',
          advice: server
            ? 'An unexpected error occurred. Try again; if it keeps happening, tell your administrator the request id.'
            : 'The service that sent you here asked for something Portcullis does not allow; the detail below says what. Tell the service’s owner.',
          requestId,
          detail: server ? undefined : `${out.error ?? 'error'}: ${out.error_description ?? ''}`,
        }),
      );
    },
  });
  // Portcullis's trust boundary has already worked out scheme, host and client address; the mount hands
  // them to oidc-provider as X-Forwarded-* (and nothing a client sent), so Koa may read them.
  provider.proxy = true;
  wireEvents(provider, o);
  return provider;
}

/**
 * The OAuth error for a user the rules refuse (`denied`) or an account without a principal (`unknown`).
 * Token endpoint: `invalid_grant`, the grant is no longer valid (RFC 6749 §5.2). Userinfo, a protected
 * resource, may only answer with an RFC 6750 §3.1 code: `access_denied` is an authorization-endpoint error
 * (RFC 6749 §4.1.2.1), not one of them. A refused user gets 403 `insufficient_scope` ("the request requires
 * higher privileges than provided by the access token"): the token is genuine but no longer enough, and no
 * `scope` attribute is sent since no scope would help. An account without a principal gets 401
 * `invalid_token`: its grant was revoked, so the token is, in the RFC's words, revoked.
 */
function refusal(userinfo: boolean, seen: 'denied' | 'unknown'): Error {
  if (!userinfo)
    return new errors.InvalidGrant(
      seen === 'denied' ? 'the access rules no longer admit the user' : 'the account has no stored principal',
    );
  return seen === 'denied'
    ? new errors.InsufficientScope('the access rules no longer admit the user', undefined)
    : new errors.InvalidToken('the user has to sign in again');
}

function defaultTtl(issuer: ResolvedIssuer) {
  return {
    accessToken: issuer.accessTokenTtl,
    idToken: issuer.idTokenTtl,
    refreshToken: issuer.refreshTokenTtl,
  };
}

function html(ctx: KoaContextWithOIDC, status: number, body: string): void {
  ctx.status = status;
  ctx.type = 'html';
  ctx.set('Cache-Control', 'no-store');
  ctx.set('X-Content-Type-Options', 'nosniff');
  ctx.set('X-Frame-Options', 'DENY');
  // No form-action: the logout form's answer redirects to the service (another origin), which Chromium
  // checks against form-action too.
  ctx.set('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'");
  ctx.body = body;
}

/** Audit and error logging; never a token, code or secret (oidc-provider's errors carry none). */
function wireEvents(provider: Provider, o: ProviderOptions): void {
  const requestId = (ctx: KoaContextWithOIDC) => o.bindingOf(ctx.req)?.s.id;
  provider.on('server_error', (ctx: KoaContextWithOIDC, err: Error) => {
    o.log.error(
      { requestId: requestId(ctx), event: 'issuer.server-error', err: err.stack ?? String(err) },
      'issuer error',
    );
  });
  // Koa's own error event (e.g. a client hanging up mid-response); registering it also keeps Koa from
  // printing to stderr.
  provider.on('error', (err: Error) => {
    o.log.warn({ event: 'issuer.koa-error', err: err.message }, 'issuer request failed');
  });
  for (const event of [
    'authorization.error',
    'grant.error',
    'userinfo.error',
    'introspection.error',
    'revocation.error',
    'end_session.error',
    'jwks.error',
    'discovery.error',
  ]) {
    provider.on(
      event,
      (
        ctx: KoaContextWithOIDC,
        err: Error & { error?: string; error_description?: string; error_detail?: string },
      ) => {
        o.log.warn(
          {
            requestId: requestId(ctx),
            event: 'issuer.refused',
            route: event.replace('.error', ''),
            client: ctx.oidc?.client?.clientId,
            error: err.error ?? err.name,
            description: err.error_description ?? err.message,
            // oidc-provider's private detail (e.g. "refresh token already used"): for operators, never sent out.
            detail: err.error_detail,
          },
          'issuer refused a request',
        );
      },
    );
  }
  provider.on('authorization.success', (ctx: KoaContextWithOIDC) => {
    o.log.info(
      {
        requestId: requestId(ctx),
        event: 'issuer.authorized',
        client: ctx.oidc.client?.clientId,
        sub: ctx.oidc.session?.accountId,
      },
      'code issued to a service',
    );
  });
  provider.on('grant.success', (ctx: KoaContextWithOIDC) => {
    o.log.info(
      {
        requestId: requestId(ctx),
        event: 'issuer.token',
        client: ctx.oidc.client?.clientId,
        grantType: ctx.oidc.params?.['grant_type'],
      },
      'tokens issued to a service',
    );
  });
  provider.on('grant.revoked', (ctx: KoaContextWithOIDC) => {
    o.log.info(
      { requestId: requestId(ctx), event: 'issuer.grant-revoked', client: ctx.oidc?.client?.clientId },
      'grant revoked',
    );
  });
  // RP-initiated logout ends the gate session too. The same logout form also serves oidc-provider's
  // account switch (lib/actions/authorization/resume.js, which returns to /oidc/auth/<uid>): that one must
  // not sign the user out of the gate they just signed in to.
  provider.on('end_session.success', (ctx: KoaContextWithOIDC) => {
    const b = o.bindingOf(ctx.req);
    const back = ctx.oidc.session?.state?.postLogoutRedirectUri;
    if (back !== undefined && URL.parse(back)?.pathname.startsWith(`${o.issuer.url.pathname}/auth/`)) return;
    if (b === undefined) return;
    // Only a logout the user confirmed ends the gate session. oidc-provider asks (logoutSource, the button
    // on logoutPage) only when its session has an account (lib/actions/end_session.js, renderLogout);
    // without one it auto-submits its own form, so any site's link to /oidc/session/end would otherwise
    // sign the browser out of the gate with no question asked. Such a session has no grants to revoke.
    if (ctx.oidc.session?.accountId === undefined) {
      o.log.info(
        { requestId: b.s.id, event: 'issuer.sign-out-unconfirmed', client: ctx.oidc.client?.clientId },
        'end-session without an issuer session: the gate session is kept',
      );
      return;
    }
    // The cookies go now; a server-side session is deleted alongside (the event handler cannot wait).
    const clear = b.ctx.sessions.expireCookies(b.s.cookies);
    if (clear.length > 0) ctx.append('Set-Cookie', clear);
    const revoked = b.ctx.sessions.clear(b.s.cookies);
    if (revoked instanceof Promise)
      revoked.catch((err: unknown) =>
        o.log.warn(
          { requestId: b.s.id, event: 'issuer.sign-out', err: String(err) },
          'the server-side session could not be deleted; it ends at its lifetime',
        ),
      );
    o.log.info(
      { requestId: b.s.id, event: 'issuer.sign-out', client: ctx.oidc.client?.clientId },
      'signed out through a service (RP-initiated logout)',
    );
  });
}
