// A plain OAuth2 authorization server (no OpenID Connect: no discovery, no ID tokens unless asked) with a
// profile API whose fields are nested, the shape `type: oauth2` with a userInfoMapping is for. It follows
// the specifications rather than one vendor:
// - RFC 6749 §4.1 authorization code grant: GET /oauth/authorize (login form, then a redirect with code
//   and state), POST /oauth/token; errors as in §4.1.2.1 and §5.2; refresh tokens (§6), rotated;
//   https://www.rfc-editor.org/rfc/rfc6749
// - client authentication (RFC 6749 §2.3.1): each client accepts exactly one method — HTTP Basic with the
//   form-urlencoded id and secret (client_secret_basic), the secret in the form body (client_secret_post),
//   or none (a public client) — and the stub records which one arrived; more than one is refused (§2.3);
// - PKCE (RFC 7636): S256 checked when the authorization request had a challenge, required for public
//   clients and for clients with `requirePkce`;
// - RFC 9207: the `iss` response parameter, when `issParameter` is set;
// - an OpenID-Connect-capable server used as plain OAuth2: with `idTokens`, a token request whose grant
//   has the openid scope also gets an (RS256-signed) id_token whose issuer is the server's OpenID issuer,
//   <url>/oidc (a path, as most have) — not what a plain OAuth2 client knows the server by;
// - the profile at GET /api/v1/me with `Authorization: Bearer <access token>` (RFC 6750 §2.1), answered
//   with whatever JSON document each user has; `userInfoFailure` makes it fail on demand.
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
  token,
} from './http.ts';
import { createSigner, nowSeconds } from './jwt.ts';

export type ClientAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'none';

export interface OAuth2StubClient {
  clientId: string;
  /** Absent for a public client (authMethod none). */
  clientSecret?: string;
  authMethod: ClientAuthMethod;
  redirectUris: string[];
  /** Refuse authorization requests without an S256 code_challenge (always on for public clients). */
  requirePkce?: boolean;
}

export interface OAuth2StubUser {
  login: string;
  password: string;
  /** The document GET /api/v1/me answers for this user's tokens. */
  profile: Record<string, unknown>;
}

export interface OAuth2StubOptions {
  clients: OAuth2StubClient[];
  users: OAuth2StubUser[];
  /** Issue refresh tokens (rotated on each use). */
  refreshTokens?: boolean;
  /** expires_in of access tokens, seconds; absent: the token response has no expires_in. */
  expiresIn?: number;
  /** Send the RFC 9207 `iss` parameter with this value on every authorization response. */
  issParameter?: string;
  /** Add an id_token to token responses when the scope has openid (OIDC Core 3.1.3.3). */
  idTokens?: boolean;
}

/** One request to the token endpoint, as the stub saw it. */
export interface TokenRequest {
  grantType: string | null;
  clientId: string | undefined;
  /** The client authentication method that arrived. */
  auth: ClientAuthMethod | 'several';
  /** Whether the client secret appeared in the form body. */
  secretInBody: boolean;
  /** Whether a code_verifier was sent and matched the challenge. */
  pkce: 'matched' | 'absent' | 'mismatch' | 'not-applicable';
  outcome: 'ok' | string;
}

export interface OAuth2Stub {
  readonly url: string;
  readonly authorizeUrl: string;
  readonly tokenUrl: string;
  readonly userInfoUrl: string;
  /** Query parameters of every authorization request, in order. */
  readonly authorizations: URLSearchParams[];
  readonly tokenRequests: TokenRequest[];
  /** Calls to the profile API, with the Authorization scheme seen. */
  readonly userInfoCalls: { scheme: string | undefined; status: number }[];
  /** Make the profile API answer this status (a JSON error, or a non-JSON body with 'html'). */
  userInfoFailure: { status: number; body?: 'json' | 'html' } | undefined;
  close(): Promise<void>;
}

interface Grant {
  user: OAuth2StubUser;
  clientId: string;
  scope: string;
}

export async function startOAuth2Stub(o: OAuth2StubOptions): Promise<OAuth2Stub> {
  const codes = new Map<
    string,
    Grant & { redirectUri: string; challenge?: string; method?: string; expires: number }
  >();
  const accessTokens = new Map<string, Grant & { expires: number | undefined }>();
  const refreshTokens = new Map<string, Grant>();
  const stub: OAuth2Stub = {
    url: '',
    authorizeUrl: '',
    tokenUrl: '',
    userInfoUrl: '',
    authorizations: [],
    tokenRequests: [],
    userInfoCalls: [],
    userInfoFailure: undefined,
    close: async () => {},
  };
  const clientOf = (id: string | null) => o.clients.find((c) => c.clientId === id);

  function tokenError(res: http.ServerResponse, status: number, error: string, description: string) {
    const headers: Record<string, string> = { 'cache-control': 'no-store' };
    // RFC 6749 §5.2: a 401 for a failed HTTP Basic authentication carries WWW-Authenticate.
    if (status === 401) headers['www-authenticate'] = 'Basic realm="oauth2-stub"';
    sendJson(res, status, { error, error_description: description }, headers);
  }

  const signer = o.idTokens ? await createSigner() : undefined;
  let base = '';

  async function issue(grant: Grant): Promise<Record<string, unknown>> {
    const access = token('at_');
    accessTokens.set(access, {
      ...grant,
      expires: o.expiresIn === undefined ? undefined : Date.now() + o.expiresIn * 1000,
    });
    const body: Record<string, unknown> = { access_token: access, token_type: 'Bearer', scope: grant.scope };
    if (o.expiresIn !== undefined) body['expires_in'] = o.expiresIn;
    if (o.refreshTokens) {
      const refresh = token('rt_');
      refreshTokens.set(refresh, grant);
      body['refresh_token'] = refresh;
    }
    if (signer !== undefined && grant.scope.split(' ').includes('openid')) {
      const sub = (grant.user.profile['sub'] as string | undefined) ?? grant.user.login;
      const iat = nowSeconds();
      body['id_token'] = await signer.sign({
        sub,
        iss: `${base}/oidc`,
        aud: grant.clientId,
        iat,
        exp: iat + 300,
      });
    }
    return body;
  }

  /** RFC 6749 §2.3.1: which method the client used, and whether its credentials are right. */
  function authenticate(
    req: http.IncomingMessage,
    f: URLSearchParams,
  ): { auth: ClientAuthMethod | 'several'; client: OAuth2StubClient | undefined; ok: boolean } {
    const basic = basicAuth(req);
    const bodySecret = f.get('client_secret');
    if (basic !== undefined && bodySecret !== null) return { auth: 'several', client: undefined, ok: false };
    if (basic !== undefined) {
      const client = clientOf(basic.id);
      const ok =
        client?.authMethod === 'client_secret_basic' &&
        client.clientSecret === basic.secret &&
        (f.get('client_id') === null || f.get('client_id') === basic.id);
      return { auth: 'client_secret_basic', client, ok };
    }
    const client = clientOf(f.get('client_id'));
    if (bodySecret !== null) {
      return {
        auth: 'client_secret_post',
        client,
        ok: client?.authMethod === 'client_secret_post' && client.clientSecret === bodySecret,
      };
    }
    return { auth: 'none', client, ok: client?.authMethod === 'none' };
  }

  const server = await startStubServer(async (req, res, url) => {
    const path = url.pathname;
    if (path === '/oauth/authorize' && req.method === 'GET') {
      const p = url.searchParams;
      stub.authorizations.push(new URLSearchParams(p));
      const client = clientOf(p.get('client_id'));
      // §4.1.2.1: an unknown client or a redirect URI that does not match is told to the user, not redirected.
      if (client === undefined) return sendPage(res, 400, 'Error', '<p>invalid_client: unknown client</p>');
      if (!client.redirectUris.includes(p.get('redirect_uri') ?? ''))
        return sendPage(res, 400, 'Error', '<p>invalid_request: redirect_uri is not registered</p>');
      const back = new URL(p.get('redirect_uri')!);
      const fail = (error: string, description: string) => {
        back.searchParams.set('error', error);
        back.searchParams.set('error_description', description);
        if (p.get('state')) back.searchParams.set('state', p.get('state')!);
        redirect(res, back.href);
      };
      if (p.get('response_type') !== 'code') return fail('unsupported_response_type', 'code only');
      const pkce = p.get('code_challenge');
      if ((client.requirePkce || client.authMethod === 'none') && pkce === null)
        return fail('invalid_request', 'code_challenge required');
      if (pkce !== null && p.get('code_challenge_method') !== 'S256')
        return fail('invalid_request', 'code_challenge_method must be S256');
      return sendPage(res, 200, 'Sign in', loginForm('Sign in to the OAuth2 stub', '/oauth/authorize', p));
    }
    if (path === '/oauth/authorize' && req.method === 'POST') {
      const f = await readForm(req);
      const client = clientOf(f.get('client_id'));
      const redirectUri = f.get('redirect_uri') ?? '';
      if (client === undefined || !client.redirectUris.includes(redirectUri))
        return sendPage(res, 400, 'Error', '<p>invalid_request</p>');
      const target = new URL(redirectUri);
      if (f.get('state')) target.searchParams.set('state', f.get('state')!);
      if (o.issParameter !== undefined) target.searchParams.set('iss', o.issParameter);
      if (f.get('abort')) {
        target.searchParams.set('error', 'access_denied');
        target.searchParams.set('error_description', 'The resource owner denied the request.');
        return redirect(res, target.href);
      }
      const user = o.users.find((u) => u.login === f.get('username') && u.password === f.get('password'));
      if (user === undefined) {
        const params = new URLSearchParams([...f].filter(([k]) => k !== 'username' && k !== 'password'));
        return sendPage(
          res,
          401,
          'Sign in',
          loginForm('Sign in to the OAuth2 stub', '/oauth/authorize', params, 'Wrong username or password'),
        );
      }
      const code = token('code_');
      codes.set(code, {
        user,
        clientId: client.clientId,
        scope: f.get('scope') ?? '',
        redirectUri,
        ...(f.get('code_challenge')
          ? { challenge: f.get('code_challenge')!, method: f.get('code_challenge_method') ?? 'plain' }
          : {}),
        expires: Date.now() + 60_000,
      });
      target.searchParams.set('code', code);
      return redirect(res, target.href);
    }
    if (path === '/oauth/token' && req.method === 'POST') {
      const f = await readForm(req);
      const { auth, client, ok } = authenticate(req, f);
      const seen: TokenRequest = {
        grantType: f.get('grant_type'),
        clientId: client?.clientId,
        auth,
        secretInBody: f.get('client_secret') !== null,
        pkce: 'not-applicable',
        outcome: 'ok',
      };
      stub.tokenRequests.push(seen);
      const refuse = (status: number, error: string, description: string) => {
        seen.outcome = error;
        tokenError(res, status, error, description);
      };
      if (auth === 'several')
        return refuse(400, 'invalid_request', 'more than one client authentication method');
      if (!ok || client === undefined) {
        const expected = client ? ` (this client uses ${client.authMethod})` : '';
        return refuse(401, 'invalid_client', `client authentication failed${expected}`);
      }
      if (f.get('grant_type') === 'refresh_token') {
        const grant = refreshTokens.get(f.get('refresh_token') ?? '');
        refreshTokens.delete(f.get('refresh_token') ?? '');
        if (grant === undefined || grant.clientId !== client.clientId)
          return refuse(400, 'invalid_grant', 'unknown refresh token');
        return sendJson(res, 200, await issue(grant), { 'cache-control': 'no-store' });
      }
      if (f.get('grant_type') !== 'authorization_code')
        return refuse(400, 'unsupported_grant_type', 'authorization_code or refresh_token');
      const code = codes.get(f.get('code') ?? '');
      codes.delete(f.get('code') ?? '');
      if (code === undefined || code.expires < Date.now() || code.clientId !== client.clientId)
        return refuse(400, 'invalid_grant', 'invalid authorization code');
      if (f.get('redirect_uri') !== code.redirectUri)
        return refuse(400, 'invalid_grant', 'redirect_uri does not match the authorization request');
      if (code.challenge !== undefined) {
        const verifier = f.get('code_verifier');
        seen.pkce =
          verifier === null
            ? 'absent'
            : pkceMatches(verifier, code.challenge, code.method)
              ? 'matched'
              : 'mismatch';
        if (seen.pkce !== 'matched') return refuse(400, 'invalid_grant', 'code_verifier does not match');
      }
      return sendJson(res, 200, await issue(code), { 'cache-control': 'no-store' });
    }
    if (path === '/api/v1/me' && req.method === 'GET') {
      const scheme = req.headers.authorization?.split(' ')[0];
      const answer = (status: number, send: () => void) => {
        stub.userInfoCalls.push({ scheme, status });
        send();
      };
      const grant = accessTokens.get(bearer(req, ['bearer']) ?? '');
      if (grant === undefined || (grant.expires !== undefined && grant.expires < Date.now())) {
        return answer(401, () => {
          res.writeHead(401, { 'www-authenticate': 'Bearer error="invalid_token"' });
          res.end();
        });
      }
      const failure = stub.userInfoFailure;
      if (failure !== undefined) {
        return answer(failure.status, () => {
          if (failure.body === 'html') {
            res.writeHead(failure.status, { 'content-type': 'text/html' });
            res.end('<html><body>Service unavailable</body></html>');
          } else sendJson(res, failure.status, { message: 'profile service failed' });
        });
      }
      return answer(200, () => sendJson(res, 200, grant.user.profile));
    }
    sendPage(res, 404, 'Not found', '<p>Not found</p>');
  });
  base = server.url;
  return Object.assign(stub, {
    url: server.url,
    authorizeUrl: `${server.url}/oauth/authorize`,
    tokenUrl: `${server.url}/oauth/token`,
    userInfoUrl: `${server.url}/api/v1/me`,
    close: () => server.close(),
  });
}
