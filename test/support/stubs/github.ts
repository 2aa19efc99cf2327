// A GitHub (Enterprise Server-shaped: the API under /api/v3) stub that follows GitHub's documented shapes:
// - OAuth app web flow: GET /login/oauth/authorize, POST /login/oauth/access_token (client_id and
//   client_secret as parameters; JSON with Accept: application/json; errors as HTTP 200 {"error": …};
//   redirect_uri matched by prefix: same host and port, path at or below the registered callback URL)
//   https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps
//   https://docs.github.com/en/apps/oauth-apps/maintaining-oauth-apps/troubleshooting-oauth-app-access-token-request-errors
// - expiring user tokens with refresh_token (GitHub Apps), grant_type=refresh_token
//   https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/refreshing-user-access-tokens
// - REST: GET /user, /user/emails (needs user:email), /user/orgs (private memberships need read:org),
//   /user/teams (needs read:org), paginated with per_page/page and a Link header; a User-Agent is required
//   https://docs.github.com/en/rest/users/users#get-the-authenticated-user
//   https://docs.github.com/en/rest/users/emails#list-email-addresses-for-the-authenticated-user
//   https://docs.github.com/en/rest/orgs/orgs#list-organizations-for-the-authenticated-user
//   https://docs.github.com/en/rest/teams/teams#list-teams-for-the-authenticated-user
//   https://docs.github.com/en/rest/using-the-rest-api/using-pagination-in-the-rest-api
// - Check a token: POST /applications/{client_id}/token, HTTP Basic with the app's client id and secret,
//   {"access_token": …}; 200 with the token's user, 404 when it is not a live token of this app
//   https://docs.github.com/en/rest/apps/oauth-applications#check-a-token
import type http from 'node:http';
import {
  bearer,
  loginForm,
  pkceMatches,
  readBody,
  readForm,
  redirect,
  sendJson,
  sendPage,
  startStubServer,
  token,
} from './http.ts';

export interface GithubUser {
  login: string;
  password: string;
  id: number;
  name: string | null;
  /** The public profile e-mail; null when the user keeps it private. */
  email: string | null;
  emails: { email: string; primary: boolean; verified: boolean }[];
  /** Organisation logins, with whether the membership is public. */
  orgs: { login: string; public: boolean }[];
  /** [org, team slug] */
  teams: [string, string][];
  company?: string;
}

export interface GithubStubOptions {
  clientId: string;
  clientSecret: string;
  /** The OAuth app's registered callback URL. */
  callbackUrl: string;
  users: GithubUser[];
  /** Issue expiring tokens with refresh tokens, as GitHub Apps do (8 hours). */
  expiringTokens?: boolean;
}

export interface GithubStub {
  readonly url: string;
  /** Scopes granted by the last authorization. */
  lastScopes: string[];
  /** The parameters of the last authorization request. */
  lastAuthorization: URLSearchParams | undefined;
  close(): Promise<void>;
  /** A live token of `login`, issued to this app (as after a sign-in elsewhere, e.g. a CLI's device flow). */
  mintToken(login: string, scopes?: string[]): string;
  /** A live token of `login` issued to ANOTHER app: /user answers for it, the check-token API does not. */
  mintForeignToken(login: string): string;
  /** How many check-token calls were made. */
  readonly checks: number;
}

interface Grant {
  user: GithubUser;
  scopes: string[];
  /** Issued to another OAuth app. */
  foreign?: boolean;
}

export async function startGithubStub(o: GithubStubOptions): Promise<GithubStub> {
  const codes = new Map<
    string,
    Grant & { redirectUri: string; challenge?: string; method?: string; expires: number }
  >();
  const tokens = new Map<string, Grant>();
  const refreshTokens = new Map<string, Grant>();
  let base = '';
  let checks = 0;
  const grantOf = (login: string, scopes: string[], foreign: boolean): Grant => {
    const user = o.users.find((u) => u.login === login);
    if (user === undefined) throw new Error(`no user ${login}`);
    return { user, scopes, foreign };
  };
  const state: GithubStub = {
    url: '',
    lastScopes: [],
    lastAuthorization: undefined,
    close: async () => {},
    mintToken: (login, scopes = ['read:user', 'user:email']) =>
      issue(grantOf(login, scopes, false))['access_token'] as string,
    mintForeignToken: (login) => issue(grantOf(login, ['read:user'], true))['access_token'] as string,
    get checks() {
      return checks;
    },
  };

  const registered = new URL(o.callbackUrl);
  // GitHub: "the host and port must exactly match the callback URL; the path must reference a subdirectory".
  const redirectAllowed = (uri: string | null): boolean => {
    if (uri === null) return true;
    if (!URL.canParse(uri)) return false;
    const u = new URL(uri);
    return (
      u.origin === registered.origin &&
      (u.pathname === registered.pathname ||
        u.pathname.startsWith(`${registered.pathname.replace(/\/$/, '')}/`))
    );
  };

  function issue(grant: Grant): Record<string, unknown> {
    const access = token(o.expiringTokens ? 'ghu_' : 'gho_');
    tokens.set(access, grant);
    const body: Record<string, unknown> = {
      access_token: access,
      token_type: 'bearer',
      scope: grant.scopes.join(','),
    };
    if (o.expiringTokens) {
      const refresh = token('ghr_');
      refreshTokens.set(refresh, grant);
      Object.assign(body, { expires_in: 28800, refresh_token: refresh, refresh_token_expires_in: 15897600 });
    }
    return body;
  }

  function tokenAnswer(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    body: Record<string, unknown>,
  ): void {
    if ((req.headers.accept ?? '').includes('json')) sendJson(res, 200, body);
    else {
      res.writeHead(200, { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' });
      res.end(
        new URLSearchParams(
          Object.entries(body).map(([k, v]): [string, string] => [k, String(v)]),
        ).toString(),
      );
    }
  }

  const apiError = (res: http.ServerResponse, status: number, message: string) =>
    sendJson(res, status, { message, documentation_url: 'https://docs.github.com/rest' });

  function paginate<T>(res: http.ServerResponse, url: URL, items: T[]): void {
    const perPage = Math.min(100, Number(url.searchParams.get('per_page') ?? 30) || 30);
    const page = Math.max(1, Number(url.searchParams.get('page') ?? 1) || 1);
    const last = Math.max(1, Math.ceil(items.length / perPage));
    const link = (p: number, rel: string) => {
      const u = new URL(url.href);
      u.searchParams.set('per_page', String(perPage));
      u.searchParams.set('page', String(p));
      return `<${u.href}>; rel="${rel}"`;
    };
    const links: string[] = [];
    if (page < last) links.push(link(page + 1, 'next'), link(last, 'last'));
    if (page > 1) links.push(link(1, 'first'), link(page - 1, 'prev'));
    sendJson(
      res,
      200,
      items.slice((page - 1) * perPage, page * perPage),
      links.length ? { link: links.join(', ') } : {},
    );
  }

  const server = await startStubServer(async (req, res, url) => {
    const path = url.pathname;
    if (path === '/login/oauth/authorize' && req.method === 'GET') {
      const p = url.searchParams;
      state.lastAuthorization = p;
      if (p.get('client_id') !== o.clientId) return sendPage(res, 404, 'Not found', '<p>Unknown client</p>');
      if (!redirectAllowed(p.get('redirect_uri'))) {
        // GitHub sends the user to the registered callback with error=redirect_uri_mismatch.
        const back = new URL(o.callbackUrl);
        back.searchParams.set('error', 'redirect_uri_mismatch');
        back.searchParams.set('state', p.get('state') ?? '');
        return redirect(res, back.href);
      }
      return sendPage(
        res,
        200,
        'Sign in to GitHub',
        loginForm('Sign in to GitHub (stub)', '/login/oauth/authorize', p),
      );
    }
    if (path === '/login/oauth/authorize' && req.method === 'POST') {
      const f = await readForm(req);
      const target = new URL(f.get('redirect_uri') ?? o.callbackUrl);
      if (f.get('abort')) {
        target.searchParams.set('error', 'access_denied');
        target.searchParams.set('error_description', 'The user has denied your application access.');
        target.searchParams.set('state', f.get('state') ?? '');
        return redirect(res, target.href);
      }
      const user = o.users.find((u) => u.login === f.get('username') && u.password === f.get('password'));
      if (user === undefined) {
        const params = new URLSearchParams([...f].filter(([k]) => k !== 'username' && k !== 'password'));
        return sendPage(
          res,
          401,
          'Sign in',
          loginForm(
            'Sign in to GitHub (stub)',
            '/login/oauth/authorize',
            params,
            'Incorrect username or password.',
          ),
        );
      }
      const scopes = (f.get('scope') ?? '').split(/[ ,]+/).filter(Boolean);
      state.lastScopes = scopes;
      const code = token('');
      codes.set(code, {
        user,
        scopes,
        redirectUri: f.get('redirect_uri') ?? o.callbackUrl,
        ...(f.get('code_challenge')
          ? { challenge: f.get('code_challenge')!, method: f.get('code_challenge_method') ?? 'plain' }
          : {}),
        expires: Date.now() + 600_000,
      });
      target.searchParams.set('code', code);
      if (f.get('state')) target.searchParams.set('state', f.get('state')!);
      return redirect(res, target.href);
    }
    if (path === '/login/oauth/access_token' && req.method === 'POST') {
      const f = await readForm(req);
      const error = (e: string, d: string) =>
        tokenAnswer(req, res, {
          error: e,
          error_description: d,
          error_uri:
            'https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors',
        });
      if (f.get('client_id') !== o.clientId || f.get('client_secret') !== o.clientSecret) {
        return error(
          'incorrect_client_credentials',
          'The client_id and/or client_secret passed are incorrect.',
        );
      }
      if (f.get('grant_type') === 'refresh_token') {
        const grant = refreshTokens.get(f.get('refresh_token') ?? '');
        if (grant === undefined)
          return error('bad_refresh_token', 'The refresh token passed is incorrect or expired.');
        refreshTokens.delete(f.get('refresh_token')!);
        return tokenAnswer(req, res, issue(grant));
      }
      const code = codes.get(f.get('code') ?? '');
      codes.delete(f.get('code') ?? '');
      if (code === undefined || code.expires < Date.now()) {
        return error('bad_verification_code', 'The code passed is incorrect or expired.');
      }
      if (f.get('redirect_uri') !== null && f.get('redirect_uri') !== code.redirectUri) {
        return error(
          'redirect_uri_mismatch',
          'The redirect_uri MUST match the registered callback URL for this application.',
        );
      }
      if (!pkceMatches(f.get('code_verifier'), code.challenge, code.method)) {
        return error('bad_verification_code', 'The code_verifier does not match the code_challenge.');
      }
      return tokenAnswer(req, res, issue({ user: code.user, scopes: code.scopes }));
    }
    const check = /^\/api\/v3\/applications\/([^/]+)\/token$/.exec(path);
    if (check !== null && req.method === 'POST') {
      checks++;
      const basic = bearer(req, ['basic']);
      const [id, secret] = Buffer.from(basic ?? '', 'base64')
        .toString()
        .split(':');
      if (id !== o.clientId || secret !== o.clientSecret || decodeURIComponent(check[1]!) !== o.clientId) {
        return apiError(res, 404, 'Not Found');
      }
      const body = JSON.parse((await readBody(req)) || '{}') as { access_token?: string };
      const grant = tokens.get(body.access_token ?? '');
      if (grant === undefined || grant.foreign) return apiError(res, 404, 'Not Found');
      return sendJson(res, 200, {
        id: 1,
        token: body.access_token,
        scopes: grant.scopes,
        expires_at: null,
        user: { login: grant.user.login, id: grant.user.id },
      });
    }
    if (path.startsWith('/api/v3/')) {
      if (!req.headers['user-agent'])
        return apiError(
          res,
          403,
          'Request forbidden by administrative rules. Please make sure your request has a User-Agent header',
        );
      const grant = tokens.get(bearer(req, ['bearer', 'token']) ?? '');
      if (grant === undefined) return apiError(res, 401, 'Bad credentials');
      const u = grant.user;
      const has = (s: string) => grant.scopes.includes(s);
      switch (path.slice('/api/v3'.length)) {
        case '/user':
          return sendJson(res, 200, {
            login: u.login,
            id: u.id,
            node_id: `U_${u.id}`,
            type: 'User',
            name: u.name,
            email: u.email,
            company: u.company ?? null,
            html_url: `${base}/${u.login}`,
          });
        case '/user/emails':
          if (!has('user:email') && !has('user')) return apiError(res, 404, 'Not Found');
          return paginate(
            res,
            url,
            u.emails.map((e) => ({ ...e, visibility: e.email === u.email ? 'public' : 'private' })),
          );
        case '/user/orgs':
          return paginate(
            res,
            url,
            u.orgs
              .filter((org) => org.public || has('read:org'))
              .map((org, i) => ({ login: org.login, id: 1000 + i })),
          );
        case '/user/teams':
          if (!has('read:org') && !has('repo') && !has('user'))
            return apiError(res, 403, 'Resource not accessible by integration');
          return paginate(
            res,
            url,
            u.teams.map(([org, slug], i) => ({
              id: 2000 + i,
              slug,
              name: slug,
              organization: { login: org },
            })),
          );
        default:
          return apiError(res, 404, 'Not Found');
      }
    }
    sendPage(res, 404, 'Not found', '<p>Not found</p>');
  });
  base = server.url;
  return Object.assign(state, { url: server.url, close: () => server.close() });
}
