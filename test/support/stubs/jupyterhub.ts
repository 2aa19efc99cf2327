// A JupyterHub stub following the hub's documented OAuth provider and REST API:
// - GET /hub/api/oauth2/authorize (the hub's login, then a redirect with code and state),
// - POST /hub/api/oauth2/token with client_id and client_secret in the form body,
// - GET /hub/api/user with `Authorization: token <access token>`: the user model (name, admin, groups, …).
// https://jupyterhub.readthedocs.io/en/stable/explanation/oauth.html
// https://jupyterhub.readthedocs.io/en/stable/reference/rest-api.html
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

export interface HubUser {
  name: string;
  password: string;
  admin: boolean;
  groups: string[];
}

export interface JupyterhubStubOptions {
  clientId: string;
  clientSecret: string;
  redirectUri: string;
  users: HubUser[];
}

export interface JupyterhubStub {
  readonly url: string;
  /** How /hub/api/user was last called: the Authorization scheme seen. */
  lastAuthScheme: string | undefined;
  close(): Promise<void>;
}

export async function startJupyterhubStub(o: JupyterhubStubOptions): Promise<JupyterhubStub> {
  const codes = new Map<
    string,
    { user: HubUser; challenge?: string; method?: string; redirectUri: string }
  >();
  const tokens = new Map<string, HubUser>();
  const state: JupyterhubStub = { url: '', lastAuthScheme: undefined, close: async () => {} };
  const oauthError = (
    res: Parameters<typeof sendJson>[0],
    status: number,
    error: string,
    description: string,
  ) => sendJson(res, status, { error, error_description: description });

  const server = await startStubServer(async (req, res, url) => {
    const path = url.pathname;
    if (path === '/hub/api/oauth2/authorize' && req.method === 'GET') {
      const p = url.searchParams;
      if (p.get('client_id') !== o.clientId) return sendPage(res, 400, 'Error', '<p>invalid_client</p>');
      if (p.get('redirect_uri') !== o.redirectUri)
        return sendPage(res, 400, 'Error', '<p>Mismatching redirect URI.</p>');
      return sendPage(
        res,
        200,
        'JupyterHub',
        loginForm('Sign in to JupyterHub (stub)', '/hub/api/oauth2/authorize', p),
      );
    }
    if (path === '/hub/api/oauth2/authorize' && req.method === 'POST') {
      const f = await readForm(req);
      const target = new URL(o.redirectUri);
      if (f.get('state')) target.searchParams.set('state', f.get('state')!);
      if (f.get('abort')) {
        target.searchParams.set('error', 'access_denied');
        return redirect(res, target.href);
      }
      const user = o.users.find((u) => u.name === f.get('username') && u.password === f.get('password'));
      if (user === undefined) {
        const params = new URLSearchParams([...f].filter(([k]) => k !== 'username' && k !== 'password'));
        return sendPage(
          res,
          403,
          'JupyterHub',
          loginForm(
            'Sign in to JupyterHub (stub)',
            '/hub/api/oauth2/authorize',
            params,
            'Invalid username or password',
          ),
        );
      }
      const code = token('');
      codes.set(code, {
        user,
        redirectUri: f.get('redirect_uri') ?? '',
        ...(f.get('code_challenge')
          ? { challenge: f.get('code_challenge')!, method: f.get('code_challenge_method') ?? 'plain' }
          : {}),
      });
      target.searchParams.set('code', code);
      return redirect(res, target.href);
    }
    if (path === '/hub/api/oauth2/token' && req.method === 'POST') {
      const f = await readForm(req);
      // The hub reads the client's credentials from the form body (client_secret_post).
      if (f.get('client_id') !== o.clientId || f.get('client_secret') !== o.clientSecret) {
        return oauthError(
          res,
          401,
          'invalid_client',
          basicAuth(req) ? 'credentials must be in the request body' : 'invalid client',
        );
      }
      if (f.get('grant_type') !== 'authorization_code')
        return oauthError(res, 400, 'unsupported_grant_type', 'authorization_code only');
      const code = codes.get(f.get('code') ?? '');
      codes.delete(f.get('code') ?? '');
      if (code === undefined) return oauthError(res, 400, 'invalid_grant', 'invalid code');
      if (f.get('redirect_uri') !== code.redirectUri)
        return oauthError(res, 400, 'invalid_grant', 'Mismatching redirect URI.');
      if (!pkceMatches(f.get('code_verifier'), code.challenge, code.method))
        return oauthError(res, 400, 'invalid_grant', 'bad code_verifier');
      const access = token('');
      tokens.set(access, code.user);
      return sendJson(res, 200, {
        access_token: access,
        token_type: 'Bearer',
        expires_in: 3600,
        scope: 'identify',
      });
    }
    if (path === '/hub/api/user' && req.method === 'GET') {
      state.lastAuthScheme = req.headers.authorization?.split(' ')[0];
      const user = tokens.get(bearer(req, ['token']) ?? '');
      if (user === undefined)
        return sendJson(res, 403, { status: 403, message: 'Missing or invalid credentials.' });
      return sendJson(res, 200, {
        kind: 'user',
        name: user.name,
        admin: user.admin,
        groups: user.groups,
        server: null,
        pending: null,
        roles: ['user'],
        scopes: ['read:users:groups!user', 'read:users:name!user'],
        last_activity: new Date().toISOString(),
      });
    }
    sendPage(res, 404, 'Not found', '<p>Not found</p>');
  });
  return Object.assign(state, { url: server.url, close: () => server.close() });
}
