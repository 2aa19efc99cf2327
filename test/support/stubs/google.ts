// A Google stub that follows Google's documented OpenID Connect shapes, on one loopback server whose URL
// stands in for the issuer https://accounts.google.com (the provider's `issuer` test-double override):
// - discovery at /.well-known/openid-configuration, with Google's endpoint paths (on Google they live on
//   accounts.google.com, oauth2.googleapis.com, openidconnect.googleapis.com and www.googleapis.com),
//   RS256 only, RFC 9207 `iss` in the authorization response
//   https://developers.google.com/identity/openid-connect/reference#discovery-document
// - GET /o/oauth2/v2/auth: client_id, redirect_uri matched exactly (else the "Error 400:
//   redirect_uri_mismatch" page, no redirect), scope with openid, PKCE (plain or S256), state, nonce, the
//   `hd` hint (narrows the account chooser to that Workspace domain, and proves nothing: the request is the
//   browser's to edit), access_type=offline and prompt=consent. The callback carries code, state, iss,
//   scope, authuser, prompt and, for Workspace accounts, hd.
//   https://developers.google.com/identity/openid-connect/openid-connect#authenticationuriparameters
// - POST /token (client_secret_post or client_secret_basic): ID token, access token (`ya29.…`, 3599 s),
//   and a refresh token only with access_type=offline, and then only on the user's first consent to the
//   client unless prompt=consent asks again; errors {"error", "error_description"}; grant_type
//   refresh_token answers a new access token and ID token and no new refresh token
//   https://developers.google.com/identity/protocols/oauth2/web-server#offline
//   https://developers.google.com/identity/protocols/oauth2/web-server#exchange-authorization-code
// - ID token claims: iss, azp, aud, sub, email, email_verified (a boolean), at_hash, nonce, name,
//   given_name, family_name, picture, iat, exp, and `hd` only for accounts of a Workspace or Cloud
//   organization ("The absence of this claim indicates that the account does not belong to a Google
//   hosted domain")
//   https://developers.google.com/identity/openid-connect/openid-connect#an-id-tokens-payload
// - GET /v1/userinfo (Bearer), GET /oauth2/v3/certs (JWKS)
//   https://developers.google.com/identity/openid-connect/reference#userinfo
import { randomBytes } from 'node:crypto';
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
import { atHash, createSigner, nowSeconds } from './jwt.ts';

export interface GoogleUser {
  /** What the scripted browser types on the account chooser (and the password). */
  login: string;
  /** Google's numeric account id, the `sub`. */
  sub: string;
  email: string;
  emailVerified?: boolean;
  name: string;
  givenName?: string;
  familyName?: string;
  /** The Workspace (hosted) domain; absent for consumer accounts, gmail.com or not. */
  hd?: string;
}

export interface GoogleStubOptions {
  clientId: string;
  clientSecret: string;
  /** The OAuth client's authorized redirect URIs. */
  redirectUris: string[];
  users: GoogleUser[];
  accessTokenTtlSeconds?: number;
}

export interface GoogleStub {
  readonly url: string;
  /** The parameters of the last authorization request. */
  lastAuthorization: URLSearchParams | undefined;
  /** How the client authenticated at the last token request. */
  lastClientAuth: 'client_secret_basic' | 'client_secret_post' | undefined;
  /** Token requests by grant type. */
  readonly grants: { authorization_code: number; refresh_token: number };
  close(): Promise<void>;
}

interface Code {
  user: GoogleUser;
  redirectUri: string;
  scope: string;
  nonce: string | undefined;
  challenge?: string;
  method?: string;
  offline: boolean;
  /** Whether this authorization showed the consent screen (first time, or prompt=consent). */
  consented: boolean;
  expires: number;
}

/** Google's granted-scope spelling: the profile and email scopes as URLs. */
function grantedScope(requested: string): string {
  const out: string[] = [];
  for (const s of requested.split(' ').filter(Boolean)) {
    if (s === 'email') out.push('https://www.googleapis.com/auth/userinfo.email');
    else if (s === 'profile') out.push('https://www.googleapis.com/auth/userinfo.profile');
    else out.push(s);
  }
  return out.join(' ');
}

export async function startGoogleStub(o: GoogleStubOptions): Promise<GoogleStub> {
  const signer = await createSigner();
  const codes = new Map<string, Code>();
  const accessTokens = new Map<string, { user: GoogleUser; scope: string }>();
  const refreshTokens = new Map<string, { user: GoogleUser; scope: string }>();
  /** Users who have consented to the client already (Google then gives no new refresh token by default). */
  const consented = new Set<string>();
  const ttl = o.accessTokenTtlSeconds ?? 3599;
  let issuer = '';
  const state: GoogleStub = {
    url: '',
    lastAuthorization: undefined,
    lastClientAuth: undefined,
    grants: { authorization_code: 0, refresh_token: 0 },
    close: async () => {},
  };

  const oauthError = (res: http.ServerResponse, status: number, error: string, description: string) =>
    sendJson(res, status, { error, error_description: description });

  function idTokenClaims(user: GoogleUser, scope: string, accessToken: string, nonce: string | undefined) {
    const scopes = scope.split(' ');
    const now = nowSeconds();
    return {
      iss: issuer,
      azp: o.clientId,
      aud: o.clientId,
      sub: user.sub,
      ...(user.hd !== undefined ? { hd: user.hd } : {}),
      ...(scopes.includes('email') ? { email: user.email, email_verified: user.emailVerified ?? true } : {}),
      at_hash: atHash(accessToken),
      ...(nonce !== undefined ? { nonce } : {}),
      ...(scopes.includes('profile')
        ? {
            name: user.name,
            picture: `${issuer}/photo/${user.sub}.png`,
            given_name: user.givenName ?? user.name.split(' ')[0],
            family_name: user.familyName ?? user.name.split(' ').slice(1).join(' '),
          }
        : {}),
      iat: now,
      exp: now + 3600,
    };
  }

  async function tokens(user: GoogleUser, scope: string, nonce: string | undefined) {
    const accessToken = `ya29.${randomBytes(48).toString('base64url')}`;
    accessTokens.set(accessToken, { user, scope });
    return {
      access_token: accessToken,
      expires_in: ttl,
      scope: grantedScope(scope),
      token_type: 'Bearer',
      id_token: await signer.sign(idTokenClaims(user, scope, accessToken, nonce)),
    };
  }

  /** client_secret_basic or client_secret_post, as Google's token endpoint accepts both. */
  function clientAuthenticated(req: http.IncomingMessage, f: URLSearchParams): boolean {
    const basic = basicAuth(req);
    if (basic !== undefined) {
      state.lastClientAuth = 'client_secret_basic';
      return basic.id === o.clientId && basic.secret === o.clientSecret;
    }
    state.lastClientAuth = 'client_secret_post';
    return f.get('client_id') === o.clientId && f.get('client_secret') === o.clientSecret;
  }

  const server = await startStubServer(async (req, res, url) => {
    const path = url.pathname;
    if (path === '/.well-known/openid-configuration' && req.method === 'GET') {
      return sendJson(res, 200, {
        issuer,
        authorization_endpoint: `${issuer}/o/oauth2/v2/auth`,
        device_authorization_endpoint: `${issuer}/device/code`,
        token_endpoint: `${issuer}/token`,
        userinfo_endpoint: `${issuer}/v1/userinfo`,
        revocation_endpoint: `${issuer}/revoke`,
        jwks_uri: `${issuer}/oauth2/v3/certs`,
        response_types_supported: [
          'code',
          'token',
          'id_token',
          'code token',
          'code id_token',
          'token id_token',
          'code token id_token',
          'none',
        ],
        response_modes_supported: ['query', 'fragment', 'form_post'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
        scopes_supported: ['openid', 'email', 'profile'],
        token_endpoint_auth_methods_supported: ['client_secret_post', 'client_secret_basic'],
        claims_supported: [
          'aud',
          'email',
          'email_verified',
          'exp',
          'family_name',
          'given_name',
          'iat',
          'iss',
          'name',
          'picture',
          'sub',
        ],
        code_challenge_methods_supported: ['plain', 'S256'],
        grant_types_supported: [
          'authorization_code',
          'refresh_token',
          'urn:ietf:params:oauth:grant-type:device_code',
          'urn:ietf:params:oauth:grant-type:jwt-bearer',
        ],
        authorization_response_iss_parameter_supported: true,
      });
    }
    if (path === '/oauth2/v3/certs' && req.method === 'GET') {
      return sendJson(res, 200, signer.jwks(), { 'cache-control': 'public, max-age=20000' });
    }
    if (path === '/o/oauth2/v2/auth' && req.method === 'GET') {
      const p = url.searchParams;
      state.lastAuthorization = p;
      if (p.get('client_id') !== o.clientId) {
        return sendPage(res, 401, 'Error 401: invalid_client', '<p>The OAuth client was not found.</p>');
      }
      if (!o.redirectUris.includes(p.get('redirect_uri') ?? '')) {
        return sendPage(
          res,
          400,
          'Error 400: redirect_uri_mismatch',
          '<p>You can’t sign in to this app because it doesn’t comply with Google’s OAuth 2.0 policy.</p>',
        );
      }
      if (p.get('response_type') !== 'code' || !(p.get('scope') ?? '').split(' ').includes('openid')) {
        const back = new URL(p.get('redirect_uri')!);
        back.searchParams.set('error', 'invalid_request');
        back.searchParams.set('state', p.get('state') ?? '');
        return redirect(res, back.href);
      }
      return sendPage(res, 200, 'Sign in - Google Accounts', loginForm('Choose an account', url.pathname, p));
    }
    if (path === '/o/oauth2/v2/auth' && req.method === 'POST') {
      const f = await readForm(req);
      const back = new URL(f.get('redirect_uri') ?? o.redirectUris[0]!);
      back.searchParams.set('state', f.get('state') ?? '');
      back.searchParams.set('iss', issuer);
      if (f.get('abort')) {
        back.searchParams.set('error', 'access_denied');
        return redirect(res, back.href);
      }
      const hint = f.get('hd');
      const user = o.users.find((u) => u.login === f.get('username') && u.login === f.get('password'));
      // The hd hint narrows the chooser to that domain's accounts (hd=* to any Workspace account).
      const offered =
        user !== undefined &&
        (hint === null || (hint === '*' ? user.hd !== undefined : user.hd === hint.toLowerCase()));
      if (!offered) {
        const params = new URLSearchParams([...f].filter(([k]) => k !== 'username' && k !== 'password'));
        return sendPage(
          res,
          401,
          'Sign in - Google Accounts',
          loginForm('Choose an account', '/o/oauth2/v2/auth', params, 'Couldn’t find your Google Account'),
        );
      }
      const key = `${o.clientId}:${user.sub}`;
      const firstConsent = !consented.has(key);
      const promptConsent = (f.get('prompt') ?? '').split(' ').includes('consent');
      consented.add(key);
      const scope = f.get('scope') ?? 'openid';
      const code = `4/0${randomBytes(32).toString('base64url')}`;
      codes.set(code, {
        user,
        redirectUri: f.get('redirect_uri')!,
        scope,
        nonce: f.get('nonce') ?? undefined,
        ...(f.get('code_challenge')
          ? { challenge: f.get('code_challenge')!, method: f.get('code_challenge_method') ?? 'plain' }
          : {}),
        offline: f.get('access_type') === 'offline',
        consented: firstConsent || promptConsent,
        expires: Date.now() + 600_000,
      });
      back.searchParams.set('code', code);
      back.searchParams.set('scope', grantedScope(scope));
      back.searchParams.set('authuser', '0');
      if (user.hd !== undefined) back.searchParams.set('hd', user.hd);
      back.searchParams.set('prompt', firstConsent || promptConsent ? 'consent' : 'none');
      return redirect(res, back.href);
    }
    if (path === '/token' && req.method === 'POST') {
      const f = await readForm(req);
      if (!clientAuthenticated(req, f)) return oauthError(res, 401, 'invalid_client', 'Unauthorized');
      const grant = f.get('grant_type');
      if (grant === 'authorization_code') {
        state.grants.authorization_code++;
        const code = codes.get(f.get('code') ?? '');
        codes.delete(f.get('code') ?? '');
        if (code === undefined || code.expires < Date.now()) {
          return oauthError(res, 400, 'invalid_grant', 'Bad Request');
        }
        if (f.get('redirect_uri') !== code.redirectUri) {
          return oauthError(res, 400, 'redirect_uri_mismatch', 'Bad Request');
        }
        if (code.challenge !== undefined && code.method === 'plain') {
          if (f.get('code_verifier') !== code.challenge)
            return oauthError(res, 400, 'invalid_grant', 'Bad Request');
        } else if (!pkceMatches(f.get('code_verifier'), code.challenge, code.method)) {
          return oauthError(res, 400, 'invalid_grant', 'Bad Request');
        }
        const body: Record<string, unknown> = await tokens(code.user, code.scope, code.nonce);
        if (code.offline && code.consented) {
          const refresh = `1//0${randomBytes(48).toString('base64url')}`;
          refreshTokens.set(refresh, { user: code.user, scope: code.scope });
          body['refresh_token'] = refresh;
        }
        return sendJson(res, 200, body, {
          'cache-control': 'no-cache, no-store, max-age=0, must-revalidate',
        });
      }
      if (grant === 'refresh_token') {
        state.grants.refresh_token++;
        const r = refreshTokens.get(f.get('refresh_token') ?? '');
        if (r === undefined)
          return oauthError(res, 400, 'invalid_grant', 'Token has been expired or revoked.');
        // No rotation: Google keeps the refresh token and answers without one. The new ID token has no nonce.
        return sendJson(res, 200, await tokens(r.user, r.scope, undefined));
      }
      return oauthError(res, 400, 'unsupported_grant_type', `Invalid grant_type: ${grant ?? ''}`);
    }
    if (path === '/v1/userinfo' && req.method === 'GET') {
      const t = accessTokens.get(bearer(req, ['bearer']) ?? '');
      if (t === undefined) {
        res.setHeader(
          'www-authenticate',
          'Bearer realm="https://accounts.google.com/", error="invalid_token"',
        );
        return sendJson(res, 401, {
          error: {
            code: 401,
            message: 'Request had invalid authentication credentials.',
            status: 'UNAUTHENTICATED',
          },
        });
      }
      const c = idTokenClaims(t.user, t.scope, '', undefined);
      const { iss: _iss, azp: _azp, aud: _aud, at_hash: _h, iat: _iat, exp: _exp, ...profile } = c;
      return sendJson(res, 200, profile);
    }
    sendPage(res, 404, 'Error 404 (Not Found)', '<p>The requested URL was not found on this server.</p>');
  });
  issuer = server.url;
  return Object.assign(state, { url: server.url, close: () => server.close() });
}
