// A Microsoft Entra ID (v2 endpoints) stub that follows Microsoft's documented shapes, on two loopback
// servers standing in for https://login.microsoftonline.com (the provider's `authority`) and
// https://graph.microsoft.com (`graphUrl`):
// - per tenant (a GUID, a verified domain, or organizations / common):
//   GET /{tenant}/v2.0/.well-known/openid-configuration, GET /{tenant}/oauth2/v2.0/authorize,
//   POST /{tenant}/oauth2/v2.0/token, GET /{tenant}/discovery/v2.0/keys, GET /{tenant}/oauth2/v2.0/logout.
//   A tenant's document names its own issuer https://login.microsoftonline.com/{tid}/v2.0 (a tenant given
//   by domain answers with its GUID); organizations and common answer with the issuer template
//   https://login.microsoftonline.com/{tenantid}/v2.0 and every token carries its tenant's own issuer.
//   https://learn.microsoft.com/en-us/entra/identity-platform/v2-protocols-oidc
//   https://learn.microsoft.com/en-us/entra/identity-platform/access-tokens#validate-the-issuer
// - authorization: redirect_uri matched exactly (else the AADSTS50011 page, no redirect), a single-tenant
//   app only for its home tenant (AADSTS50194 on organizations/common, AADSTS50020 for a user of another
//   directory); the callback has code, state and session_state (no RFC 9207 iss unless asked)
//   https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-auth-code-flow
// - token endpoint: client_secret_basic or client_secret_post; ID token, a Microsoft Graph access token
//   (a JWT for aud 00000003-0000-0000-c000-000000000000 whose signature only Graph can check), a refresh
//   token rotated on every use; errors with error_codes, trace_id, correlation_id (AADSTS54005 for a
//   code redeemed twice, AADSTS7000215 for a wrong secret)
// - ID token claims (v2): aud, iss, iat, nbf, exp, aio, name, nonce, oid, preferred_username, rh, sub
//   (pairwise per application), tid, uti, ver; optional claims email (the user's mail attribute, which
//   Entra does not verify), upn, xms_edov (the e-mail's domain is verified by the user's tenant); groups
//   (object ids) with groupMembershipClaims, or, beyond 200 groups, the overage indicator
//   `_claim_names: { groups: "src1" }` with `_claim_sources` and no `groups`
//   https://learn.microsoft.com/en-us/entra/identity-platform/id-token-claims-reference
//   https://learn.microsoft.com/en-us/entra/identity-platform/id-token-claims-reference#groups-overage-claim
//   https://learn.microsoft.com/en-us/entra/identity-platform/optional-claims-reference
// - Microsoft Graph: GET /v1.0/me/transitiveMemberOf (delegated User.Read suffices for /me) answers
//   directory objects (groups, directory roles, administrative units) with @odata.type and id, 100 per
//   page by default and $top up to 999, the next page in @odata.nextLink ($skiptoken)
//   https://learn.microsoft.com/en-us/graph/api/user-list-transitivememberof
//   https://learn.microsoft.com/en-us/graph/paging
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type http from 'node:http';
import {
  basicAuth,
  bearer,
  loginForm,
  pkceMatches,
  readForm,
  redirect,
  sendJson,
  sendPage,
  startStubServer,
} from './http.ts';
import { createSigner, nowSeconds } from './jwt.ts';

/** The Microsoft Graph application id: the audience of Graph access tokens. */
export const GRAPH_APP_ID = '00000003-0000-0000-c000-000000000000';
/** Entra limits the groups claim of a JWT to 200 groups; beyond, the overage indicator is sent. */
const GROUPS_CLAIM_LIMIT = 200;

/** `sub` is pairwise: the same user has another sub in every application. */
export function pairwiseSub(oid: string, clientId: string): string {
  return createHash('sha256').update(`${oid}:${clientId}`).digest('base64url').slice(0, 43);
}

export interface EntraUser {
  /** What the scripted browser types (and the password). */
  login: string;
  /** The user's object id. */
  oid: string;
  /** userPrincipalName: its domain is one the tenant has verified (or <tenant>.onmicrosoft.com). */
  upn: string;
  /** The mail attribute: any address an administrator of the user's tenant typed in. */
  mail?: string;
  name: string;
  /** Group object ids (transitive). */
  groups: string[];
  /** Directory role object ids; Graph lists them with the groups. */
  roles?: string[];
}

export interface EntraTenant {
  id: string;
  /** Verified domains, the first being the initial <name>.onmicrosoft.com. */
  domains: string[];
  users: EntraUser[];
}

export interface EntraApp {
  clientId: string;
  clientSecret: string;
  /** The tenant the app is registered in. */
  homeTenant: string;
  /** signInAudience AzureADMultipleOrgs: users of any directory may sign in. */
  multiTenant: boolean;
  redirectUris: string[];
  /** groupMembershipClaims set in the manifest: the ID token carries `groups` (or the overage indicator). */
  groupsClaim: boolean;
  /** Optional claims of the ID token. */
  optionalClaims: ('email' | 'upn' | 'xms_edov')[];
}

export interface EntraStubOptions {
  tenants: EntraTenant[];
  app: EntraApp;
  accessTokenTtlSeconds?: number;
  /** Groups beyond which the overage indicator replaces the claim: Entra's 200; tests lower it. */
  groupsClaimLimit?: number;
}

export interface EntraStub {
  /** The authority (login.microsoftonline.com). */
  readonly url: string;
  /** Microsoft Graph. */
  readonly graphUrl: string;
  lastAuthorization: URLSearchParams | undefined;
  lastClientAuth: 'client_secret_basic' | 'client_secret_post' | undefined;
  /** Requests to Graph's transitiveMemberOf, each with its query. */
  readonly graphCalls: URL[];
  /** The largest page Graph answers, whatever $top asks (Graph may return fewer). */
  graphPageSize: number;
  /** Send the RFC 9207 iss parameter (the user's tenant's issuer) with the callback; Entra does not announce it. */
  issParameter: boolean;
  /** Answer Graph calls with this status instead (e.g. 401, 403). */
  graphFailure: number | undefined;
  /** Rewrite @odata.nextLink onto this origin (a misbehaving or hostile Graph). */
  nextLinkOrigin: string | undefined;
  /** Changes the claims of every following ID token before it is signed (with the real key). */
  patchIdToken: ((claims: Record<string, unknown>) => void) | undefined;
  close(): Promise<void>;
}

interface Grant {
  user: EntraUser;
  tenant: EntraTenant;
  scope: string;
}

const MULTI = new Set(['organizations', 'common']);

function aadError(code: number, error: string, message: string) {
  const trace = randomUUID();
  const correlation = randomUUID();
  const timestamp = new Date()
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
  return {
    error,
    error_description: `AADSTS${code}: ${message} Trace ID: ${trace} Correlation ID: ${correlation} Timestamp: ${timestamp}`,
    error_codes: [code],
    timestamp,
    trace_id: trace,
    correlation_id: correlation,
    error_uri: `https://login.microsoftonline.com/error?code=${code}`,
  };
}

export async function startEntraStub(o: EntraStubOptions): Promise<EntraStub> {
  const signer = await createSigner();
  const codes = new Map<
    string,
    Grant & { redirectUri: string; nonce?: string; challenge?: string; method?: string; expires: number }
  >();
  const accessTokens = new Map<string, Grant>();
  const refreshTokens = new Map<string, Grant>();
  const ttl = o.accessTokenTtlSeconds ?? 3599;
  let base = '';
  let graphBase = '';
  const state: EntraStub = {
    url: '',
    graphUrl: '',
    lastAuthorization: undefined,
    lastClientAuth: undefined,
    graphCalls: [],
    graphPageSize: 999,
    issParameter: false,
    graphFailure: undefined,
    nextLinkOrigin: undefined,
    patchIdToken: undefined,
    close: async () => {},
  };
  const app = o.app;

  /** The tenant a path segment names: its GUID or one of its verified domains. */
  const tenantOf = (segment: string) =>
    o.tenants.find(
      (t) => t.id === segment.toLowerCase() || t.domains.some((d) => d === segment.toLowerCase()),
    );

  function discovery(segment: string) {
    const multi = MULTI.has(segment);
    const tenant = multi ? undefined : tenantOf(segment);
    const issuer = `${base}/${multi ? '{tenantid}' : tenant!.id}/v2.0`;
    const at = `${base}/${multi ? segment : tenant!.id}`;
    return {
      token_endpoint: `${at}/oauth2/v2.0/token`,
      token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
      jwks_uri: `${at}/discovery/v2.0/keys`,
      response_modes_supported: ['query', 'fragment', 'form_post'],
      subject_types_supported: ['pairwise'],
      id_token_signing_alg_values_supported: ['RS256'],
      response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
      scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
      issuer,
      request_uri_parameter_supported: false,
      userinfo_endpoint: `${graphBase}/oidc/userinfo`,
      authorization_endpoint: `${at}/oauth2/v2.0/authorize`,
      device_authorization_endpoint: `${at}/oauth2/v2.0/devicecode`,
      http_logout_supported: true,
      frontchannel_logout_supported: true,
      end_session_endpoint: `${at}/oauth2/v2.0/logout`,
      claims_supported: [
        'sub',
        'iss',
        'cloud_instance_name',
        'cloud_instance_host_name',
        'cloud_graph_host_name',
        'msgraph_host',
        'aud',
        'exp',
        'iat',
        'auth_time',
        'acr',
        'nonce',
        'preferred_username',
        'name',
        'tid',
        'ver',
        'at_hash',
        'c_hash',
        'email',
      ],
      kerberos_endpoint: `${at}/kerberos`,
      tenant_region_scope: 'EU',
      cloud_instance_name: 'microsoftonline.com',
      cloud_graph_host_name: 'graph.windows.net',
      msgraph_host: 'graph.microsoft.com',
      rbac_url: 'https://pas.windows.net',
    };
  }

  const subOf = (oid: string) => pairwiseSub(oid, app.clientId);

  async function idToken(g: Grant, nonce: string | undefined): Promise<string> {
    const { user, tenant } = g;
    const now = nowSeconds();
    const claims: Record<string, unknown> = {
      aud: app.clientId,
      iss: `${base}/${tenant.id}/v2.0`,
      iat: now,
      nbf: now,
      exp: now + 3900,
      aio: randomBytes(24).toString('base64url'),
      name: user.name,
      ...(nonce !== undefined ? { nonce } : {}),
      oid: user.oid,
      preferred_username: user.upn,
      rh: `0.A${randomBytes(16).toString('base64url')}.`,
      sub: subOf(user.oid),
      tid: tenant.id,
      uti: randomBytes(16).toString('base64url'),
      ver: '2.0',
    };
    if (app.optionalClaims.includes('email') && user.mail !== undefined) claims['email'] = user.mail;
    if (app.optionalClaims.includes('upn')) claims['upn'] = user.upn;
    if (app.optionalClaims.includes('xms_edov') && user.mail !== undefined) {
      claims['xms_edov'] = tenant.domains.includes(user.mail.split('@')[1]?.toLowerCase() ?? '');
    }
    if (app.groupsClaim) {
      if (user.groups.length <= (o.groupsClaimLimit ?? GROUPS_CLAIM_LIMIT))
        claims['groups'] = [...user.groups];
      else {
        claims['_claim_names'] = { groups: 'src1' };
        claims['_claim_sources'] = {
          src1: { endpoint: `https://graph.windows.net/${tenant.id}/users/${user.oid}/getMemberObjects` },
        };
      }
    }
    state.patchIdToken?.(claims);
    return signer.sign(claims);
  }

  async function tokenResponse(g: Grant, nonce: string | undefined) {
    const now = nowSeconds();
    // A Graph access token: a v1 JWT with a nonce in its header, which only Graph can verify.
    const accessToken = await signer.sign(
      {
        aud: GRAPH_APP_ID,
        iss: `https://sts.windows.net/${g.tenant.id}/`,
        iat: now,
        nbf: now,
        exp: now + ttl,
        appid: app.clientId,
        oid: g.user.oid,
        scp: 'email openid profile User.Read',
        tid: g.tenant.id,
        upn: g.user.upn,
        ver: '1.0',
      },
      { nonce: randomBytes(16).toString('base64url') },
    );
    accessTokens.set(accessToken, g);
    const refresh = `0.A${randomBytes(64).toString('base64url')}`;
    refreshTokens.set(refresh, g);
    return {
      token_type: 'Bearer',
      scope: 'email openid profile https://graph.microsoft.com/User.Read',
      expires_in: ttl,
      ext_expires_in: ttl,
      access_token: accessToken,
      refresh_token: refresh,
      id_token: await idToken(g, nonce),
    };
  }

  function clientAuthenticated(req: http.IncomingMessage, f: URLSearchParams): boolean {
    const basic = basicAuth(req);
    if (basic !== undefined) {
      state.lastClientAuth = 'client_secret_basic';
      return basic.id === app.clientId && basic.secret === app.clientSecret;
    }
    state.lastClientAuth = 'client_secret_post';
    return f.get('client_id') === app.clientId && f.get('client_secret') === app.clientSecret;
  }

  const errorPage = (res: http.ServerResponse, status: number, code: number, message: string) =>
    sendPage(res, status, 'Sign in to your account', `<p>AADSTS${code}: ${message}</p>`);

  const login = await startStubServer(async (req, res, url) => {
    const m =
      /^\/([^/]+)\/(v2\.0\/\.well-known\/openid-configuration|oauth2\/v2\.0\/(authorize|token|logout)|discovery\/v2\.0\/keys)$/.exec(
        url.pathname,
      );
    if (m === null) return sendPage(res, 404, 'Not found', '<p>Not found</p>');
    const segment = decodeURIComponent(m[1]!);
    const what = m[2]!;
    const multi = MULTI.has(segment.toLowerCase());
    const tenant = multi ? undefined : tenantOf(segment);
    if (!multi && tenant === undefined) {
      return sendJson(
        res,
        400,
        aadError(
          90002,
          'invalid_tenant',
          `Tenant '${segment}' not found. Check to make sure you have the correct tenant ID.`,
        ),
      );
    }
    if (what.endsWith('openid-configuration')) return sendJson(res, 200, discovery(segment.toLowerCase()));
    if (what === 'discovery/v2.0/keys') {
      return sendJson(res, 200, signer.jwks({ issuer: `${base}/${multi ? '{tenantid}' : tenant!.id}/v2.0` }));
    }
    if (what.endsWith('/logout'))
      return sendPage(res, 200, 'Signed out', '<p>You signed out of your account.</p>');
    if (what.endsWith('/authorize') && req.method === 'GET') {
      const p = url.searchParams;
      state.lastAuthorization = p;
      if (
        p.get('client_id') !== app.clientId ||
        (!multi && !app.multiTenant && tenant!.id !== app.homeTenant)
      ) {
        return errorPage(
          res,
          400,
          700016,
          `Application with identifier '${p.get('client_id')}' was not found in the directory '${multi ? segment : tenant!.domains[0]}'.`,
        );
      }
      if (!app.redirectUris.includes(p.get('redirect_uri') ?? '')) {
        return errorPage(
          res,
          400,
          50011,
          `The redirect URI '${p.get('redirect_uri')}' specified in the request does not match the redirect URIs configured for the application '${app.clientId}'.`,
        );
      }
      if (multi && !app.multiTenant) {
        return errorPage(
          res,
          400,
          50194,
          `Application '${app.clientId}' is not configured as a multi-tenant application. Usage of the /common endpoint is not supported for such applications created after '10/15/2018'. Use a tenant-specific endpoint or configure the application to be multi-tenant.`,
        );
      }
      return sendPage(res, 200, 'Sign in to your account', loginForm('Sign in', url.pathname, p));
    }
    if (what.endsWith('/authorize') && req.method === 'POST') {
      const f = await readForm(req);
      const back = new URL(f.get('redirect_uri')!);
      const found = o.tenants
        .flatMap((t) => t.users.map((u) => ({ user: u, tenant: t })))
        .find((x) => x.user.login === f.get('username') && x.user.login === f.get('password'));
      if (found === undefined) {
        const params = new URLSearchParams([...f].filter(([k]) => k !== 'username' && k !== 'password'));
        return sendPage(
          res,
          401,
          'Sign in to your account',
          loginForm('Sign in', url.pathname, params, 'Your account or password is incorrect.'),
        );
      }
      const signInTenant = multi ? found.tenant : tenant!;
      if (signInTenant.id !== found.tenant.id || (!app.multiTenant && found.tenant.id !== app.homeTenant)) {
        return errorPage(
          res,
          400,
          50020,
          `User account '${found.user.upn}' from identity provider does not exist in tenant and cannot access the application '${app.clientId}' in that tenant.`,
        );
      }
      const code = `1.A${randomBytes(48).toString('base64url')}`;
      codes.set(code, {
        ...found,
        scope: f.get('scope') ?? '',
        redirectUri: f.get('redirect_uri')!,
        ...(f.get('nonce') ? { nonce: f.get('nonce')! } : {}),
        ...(f.get('code_challenge')
          ? { challenge: f.get('code_challenge')!, method: f.get('code_challenge_method') ?? 'plain' }
          : {}),
        expires: Date.now() + 600_000,
      });
      back.searchParams.set('code', code);
      if (f.get('state')) back.searchParams.set('state', f.get('state')!);
      back.searchParams.set('session_state', randomUUID());
      if (state.issParameter) back.searchParams.set('iss', `${base}/${found.tenant.id}/v2.0`);
      return redirect(res, back.href);
    }
    if (what.endsWith('/token') && req.method === 'POST') {
      const f = await readForm(req);
      if (!clientAuthenticated(req, f)) {
        return sendJson(res, 401, aadError(7000215, 'invalid_client', 'Invalid client secret provided.'));
      }
      const grant = f.get('grant_type');
      if (grant === 'authorization_code') {
        const code = codes.get(f.get('code') ?? '');
        if (code === undefined || code.expires < Date.now()) {
          return sendJson(
            res,
            400,
            aadError(
              54005,
              'invalid_grant',
              'OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.',
            ),
          );
        }
        codes.delete(f.get('code')!);
        // The code is redeemed at the tenant it was issued for, or at organizations / common.
        if (!multi && tenant!.id !== code.tenant.id) {
          return sendJson(
            res,
            400,
            aadError(50148, 'invalid_grant', 'The code was issued for another tenant.'),
          );
        }
        if (f.get('redirect_uri') !== code.redirectUri) {
          return sendJson(
            res,
            400,
            aadError(
              500112,
              'invalid_grant',
              'The reply address does not match the reply address provided when requesting the authorization code.',
            ),
          );
        }
        if (!pkceMatches(f.get('code_verifier'), code.challenge, code.method)) {
          return sendJson(
            res,
            400,
            aadError(
              501481,
              'invalid_grant',
              'The Code_Verifier does not match the code_challenge supplied in the authorization request.',
            ),
          );
        }
        return sendJson(res, 200, await tokenResponse(code, code.nonce));
      }
      if (grant === 'refresh_token') {
        const g = refreshTokens.get(f.get('refresh_token') ?? '');
        if (g === undefined || (!multi && tenant!.id !== g.tenant.id)) {
          return sendJson(
            res,
            400,
            aadError(70000, 'invalid_grant', 'Provided grant is invalid or malformed.'),
          );
        }
        // Refresh tokens are single use: the answer carries a new one.
        refreshTokens.delete(f.get('refresh_token')!);
        return sendJson(res, 200, await tokenResponse(g, undefined));
      }
      return sendJson(
        res,
        400,
        aadError(70003, 'unsupported_grant_type', 'The app requested an unsupported grant type.'),
      );
    }
    sendPage(res, 405, 'Method not allowed', '<p>Method not allowed</p>');
  });
  base = login.url;

  const graphError = (res: http.ServerResponse, status: number, code: string, message: string) =>
    sendJson(res, status, {
      error: {
        code,
        message,
        innerError: {
          date: new Date().toISOString(),
          'request-id': randomUUID(),
          'client-request-id': randomUUID(),
        },
      },
    });

  const graph = await startStubServer(async (req, res, url) => {
    const g = accessTokens.get(bearer(req, ['bearer']) ?? '');
    if (url.pathname === '/v1.0/me/transitiveMemberOf' && req.method === 'GET') {
      state.graphCalls.push(url);
      if (state.graphFailure !== undefined) {
        return graphError(
          res,
          state.graphFailure,
          'Authorization_RequestDenied',
          'Insufficient privileges to complete the operation.',
        );
      }
      if (g === undefined) {
        return graphError(
          res,
          401,
          'InvalidAuthenticationToken',
          'Access token validation failure. Invalid audience.',
        );
      }
      const objects = [
        ...g.user.groups.map((id) => ({ '@odata.type': '#microsoft.graph.group', id })),
        ...(g.user.roles ?? []).map((id) => ({ '@odata.type': '#microsoft.graph.directoryRole', id })),
      ];
      const top = Math.min(999, Number(url.searchParams.get('$top') ?? 100) || 100, state.graphPageSize);
      const skip = Number(url.searchParams.get('$skiptoken') ?? 0) || 0;
      const page = objects.slice(skip, skip + top);
      const select = url.searchParams.get('$select');
      const body: Record<string, unknown> = {
        '@odata.context': `${graphBase}/v1.0/$metadata#directoryObjects(${select ?? ''})`,
        value: select === 'id' ? page : page.map((x) => ({ ...x, displayName: `group ${x.id.slice(0, 8)}` })),
      };
      if (skip + top < objects.length) {
        const next = new URL(url.href);
        next.searchParams.set('$skiptoken', String(skip + top));
        if (state.nextLinkOrigin !== undefined) {
          const moved = new URL(next.pathname + next.search, state.nextLinkOrigin);
          body['@odata.nextLink'] = moved.href;
        } else body['@odata.nextLink'] = next.href;
      }
      return sendJson(res, 200, body);
    }
    if (url.pathname === '/oidc/userinfo') {
      if (g === undefined)
        return graphError(res, 401, 'InvalidAuthenticationToken', 'Access token is empty.');
      return sendJson(res, 200, { sub: subOf(g.user.oid), name: g.user.name, email: g.user.mail });
    }
    graphError(
      res,
      400,
      'BadRequest',
      `Resource not found for the segment '${url.pathname.split('/').pop()}'.`,
    );
  });
  graphBase = graph.url;

  return Object.assign(state, {
    url: login.url,
    graphUrl: graph.url,
    close: async () => {
      // Both, even when one fails: a listener left open keeps the test file's process alive.
      await Promise.allSettled([login.close(), graph.close()]);
    },
  });
}
