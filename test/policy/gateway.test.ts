/**
 * Access rules through the real gateway, signed in at a real oidc-provider IdP: denied sign-ins (403 page,
 * no session), per-route rules on proxied requests and WebSocket upgrades (longest prefix wins), JSON
 * denials for API clients, the audit line, forward-auth (`/oauth2/auth` with X-Forwarded-Uri,
 * X-Original-URI, X-Forwarded-Prefix, and Envoy's `/oauth2/auth/<path>`), and rules changed by a reload.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { before, describe, test } from 'node:test';
import { resolveConfig } from '../../src/config/load.ts';
import { ERRORS } from '../../src/errors/codes.ts';
import type { Browser, BrowserResponse } from '../support/browser.ts';
import { closeAfter } from '../support/cleanup.ts';
import { type GatewayHarness, type PublicAddress, reserveAddress, startHarness } from '../support/gateway.ts';
import { type DevUser, startTestIdp, type TestIdp } from '../support/idp.ts';
import { openWebSocket, type RawResponse, rawRequest } from '../support/raw.ts';
import type { LogLine } from '../support/stack.ts';

const SECRET = randomBytes(16).toString('hex');
const COOKIE_SECRET = randomBytes(32).toString('base64url');

function user(username: string, email: string, groups: string[], claims?: Record<string, unknown>): DevUser {
  return { username, password: username, email, name: username, groups, ...(claims ? { claims } : {}) };
}

const USERS: DevUser[] = [
  user('alice', 'alice@example.com', ['admins', 'engineering'], { hd: 'example.com' }),
  user('bob', 'bob@example.com', ['engineering']),
  user('upper', 'User@EXAMPLE.COM', []),
  user('mallory', 'mallory@evil.com', ['admins']),
  user('attacker', 'attacker@evil.com@example.com', ['admins']),
  user('subby', 'sam@sub.example.com', ['admins']),
];

const ROUTES = [
  { path: '/public/', public: true },
  { path: '/api/', api: true },
  { path: '/admin/', allow: { groups: ['admins'] } },
  { path: '/admin/open/', allow: { groups: ['engineering'] } },
  { path: '/hd/', allow: { requirements: { hd: 'example.com' } } },
  { path: '/ws', allow: { groups: ['admins'] } },
];

let idp: TestIdp;
let h: GatewayHarness;
let address: PublicAddress;

function provider() {
  return {
    id: 'test',
    type: 'oidc',
    issuer: idp.issuer,
    clientId: 'portcullis-rules',
    clientSecret: SECRET,
    scopes: ['openid', 'email', 'profile'],
  };
}

/** The gateway configuration, as the harness builds it, with these rules (for reloads). */
function rawConfig(rules: { allow?: unknown; routes?: unknown }) {
  return {
    publicUrl: address.publicUrl,
    listen: `127.0.0.1:${address.port}`,
    cookie: { secret: COOKIE_SECRET },
    providers: [provider()],
    upstreams: [{ id: 'sample', path: '/', url: h.app.url, timeout: 2 }],
    logging: { level: 'debug' },
    allow: rules.allow,
    routes: rules.routes ?? ROUTES,
  };
}

const parts = closeAfter();

before(async () => {
  address = await reserveAddress();
  idp = parts.add(
    await startTestIdp({
      clients: [
        { client_id: 'portcullis-rules', client_secret: SECRET, redirect_uris: [address.redirectUri] },
      ],
      users: USERS,
      extraClaims: { profile: ['hd'] },
    }),
  );
  h = parts.add(
    await startHarness({
      address,
      providers: [provider()],
      config: { cookie: { secret: COOKIE_SECRET }, allow: { emailDomains: ['example.com'] }, routes: ROUTES },
    }),
  );
});

async function signIn(username: string, rd = '/'): Promise<{ b: Browser; back: BrowserResponse }> {
  const b = h.browser();
  const login = await b.get(`${h.url}/oauth2/start?rd=${encodeURIComponent(rd)}`);
  const back = await b.signInAtDevIdp(login, username, username);
  return { b, back };
}

const sessions = new Map<string, string>();
/** The Cookie header of a signed-in user (signed in once per test file). */
async function cookieOf(username: string): Promise<string> {
  let cookie = sessions.get(username);
  if (cookie === undefined) {
    const { b, back } = await signIn(username);
    assert.equal(back.status, 200, `${username} signs in: ${back.status} ${back.body.slice(0, 300)}`);
    cookie = b.jar.header(h.url);
    assert.match(cookie, /(^|; )portcullis=/);
    sessions.set(username, cookie);
  }
  return cookie;
}

function get(path: string, headers: readonly string[] = [], method = 'GET'): Promise<RawResponse> {
  return rawRequest(h.url, { method, path, headers: ['Host', new URL(h.url).host, ...headers] });
}

function logFor(requestId: string | string[] | undefined): LogLine | undefined {
  return h.logs.find((l) => l['requestId'] === requestId && l['code'] === 'PCL_FORBIDDEN');
}

describe('sign-in: the top-level and provider rules, before any session exists', () => {
  test('a user outside the allowed domain gets the 403 page in words, a request id and no session', async () => {
    const { b, back } = await signIn('mallory', '/admin/x');
    assert.equal(back.status, 403);
    assert.match(back.url, /\/oauth2\/callback\?/);
    assert.equal(back.headers['content-type'], 'text/html; charset=utf-8');
    const id = back.headers['x-request-id'];
    assert.match(String(id), /^[0-9a-f-]{36}$/);
    assert.match(back.body, /<h1>You do not have access<\/h1>/);
    assert.match(
      back.body,
      /Your identity provider confirmed who you are, but the access rules do not let you in/,
    );
    assert.match(back.body, /<li>Accounts with an e-mail address at evil\.com are not allowed here\.<\/li>/);
    assert.match(back.body, /reasons <code>email-domain-not-allowed<\/code>/);
    assert.ok(back.body.includes(`request id <code>${id}</code>`), 'the page shows the request id');
    assert.match(back.body, /href="\/oauth2\/sign_in">Try again</);
    // No session cookie: the only cookie the callback sets is the cleared flow cookie.
    const set = (back.headers['set-cookie'] ?? []).map((c) => c.split('=')[0]);
    assert.ok(set.length > 0 && set.every((n) => n?.startsWith('portcullis_f_')), String(set));
    assert.equal(b.jar.get('portcullis', h.url), undefined);
    const authr = await b.get(`${h.url}/oauth2/auth`);
    assert.equal(authr.status, 401);

    const line = logFor(id);
    assert.ok(line, 'audit line under the request id');
    assert.equal(line['event'], 'sign-in.denied');
    assert.deepEqual(line['reasons'], ['email-domain-not-allowed']);
    assert.equal(line['provider'], 'test');
    assert.equal(line['sub'], 'mallory');
    assert.equal(line['email'], 'mallory@evil.com');
    assert.equal(line['status'], 403);
    assert.equal(line['level'], 40);
    const denied = h.logs.filter((l) => l['event'] === 'sign-in.success' && l['sub'] === 'mallory');
    assert.equal(denied.length, 0);
  });

  test('attacker@evil.com@example.com is not an address: email-invalid', async () => {
    const { back } = await signIn('attacker');
    assert.equal(back.status, 403);
    assert.match(back.body, /<li>Your account’s e-mail address is not a valid address\.<\/li>/);
    assert.deepEqual(logFor(back.headers['x-request-id'])?.['reasons'], ['email-invalid']);
  });

  test('a subdomain does not match an exact domain rule', async () => {
    const { back } = await signIn('subby');
    assert.equal(back.status, 403);
    assert.match(back.body, /at sub\.example\.com are not allowed here/);
  });

  test('an upper-case address in the allowed domain signs in', async () => {
    const { back } = await signIn('upper', '/api/whoami');
    assert.equal(back.status, 200);
    assert.equal(JSON.parse(back.body).headers['x-forwarded-email'], 'User@EXAMPLE.COM');
  });
});

describe('route rules on proxied requests: longest prefix wins, decided per request', () => {
  // user | path | status | reasons (403 only)
  const rows: [string, string, number, string[]?][] = [
    ['bob', '/', 200],
    ['bob', '/api/x', 200],
    ['bob', '/admin/x', 403, ['group-missing']],
    ['bob', '/admin', 403, ['group-missing']],
    ['bob', '/admin/', 403, ['group-missing']],
    ['bob', '/admin/open/x', 200],
    ['bob', '/admin/open', 200],
    ['bob', '/administrator', 200],
    ['bob', '/%61dmin/x', 403, ['group-missing']],
    // Dot segments, and `//` that one server merges and another keeps in front of a route: refused, never guessed.
    ['bob', '/public/../admin/x', 400, ['PCL_AMBIGUOUS_PATH']],
    ['bob', '//admin//x', 400, ['PCL_AMBIGUOUS_PATH']],
    ['bob', '/admin//x', 403, ['group-missing']],
    ['bob', '/admin;x/y', 400, ['PCL_AMBIGUOUS_PATH']],
    ['bob', '/admin./y', 400, ['PCL_AMBIGUOUS_PATH']],
    ['bob', '/admin%2Fy', 400, ['PCL_AMBIGUOUS_PATH']],
    ['bob', '/admin/x?from=/admin/open/', 403, ['group-missing']],
    ['bob', '/hd/x', 403, ['requirement-failed:hd']],
    ['alice', '/admin/x', 200],
    ['alice', '/admin/open/x', 200],
    ['alice', '/hd/x', 200],
  ];
  for (const [who, path, status, reasons] of rows) {
    test(`${who} ${path} → ${status}${reasons ? ` ${reasons.join(',')}` : ''}`, async () => {
      const r = await get(path, ['Cookie', await cookieOf(who), 'Accept', 'text/html']);
      assert.equal(r.status, status, r.text.slice(0, 300));
      if (status === 200) {
        assert.match(r.text, new RegExp(`X-Forwarded-User[\\s\\S]*${who}`, 'i'), 'reached the upstream');
        return;
      }
      assert.equal(r.headers['content-type'], 'text/html; charset=utf-8');
      if (status === 400) {
        assert.ok(r.text.includes(`Error ${reasons![0]} · HTTP 400`), r.text.slice(0, 300));
        return;
      }
      for (const reason of reasons!) assert.ok(r.text.includes(`<code>${reason}</code>`), reason);
      const line = logFor(r.headers['x-request-id']);
      assert.deepEqual(line?.['reasons'], reasons);
      assert.equal(line?.['event'], 'access.denied');
    });
  }

  test('the 403 page for a route says which groups are missing', async () => {
    const r = await get('/admin/x', ['Cookie', await cookieOf('bob'), 'Accept', 'text/html']);
    assert.match(r.text, /<li>You need to be in one of these groups: admins\.<\/li>/);
    assert.doesNotMatch(r.text, /Try again/);
    const hd = await get('/hd/', ['Cookie', await cookieOf('bob'), 'Accept', 'text/html']);
    assert.match(hd.text, /<li>Your account’s “hd” does not have a value allowed here\.<\/li>/);
  });

  test('an API client gets JSON with the reason codes, the words and the request id', async () => {
    const r = await get('/admin/x', ['Cookie', await cookieOf('bob'), 'Accept', 'application/json']);
    assert.equal(r.status, 403);
    assert.equal(r.headers['content-type'], 'application/json');
    const id = r.headers['x-request-id'];
    assert.deepEqual(JSON.parse(r.text), {
      error: 'PCL_FORBIDDEN',
      message: 'You do not have access',
      detail: ERRORS.PCL_FORBIDDEN.advice,
      reasons: ['group-missing'],
      explanations: ['You need to be in one of these groups: admins.'],
      requestId: id,
    });
    const line = logFor(id);
    assert.ok(line);
    assert.equal(line['path'], '/admin/x');
    assert.equal(line['sub'], 'bob');
    assert.equal(line['email'], 'bob@example.com');
    assert.equal(line['provider'], 'test');
    assert.equal(line['surface'], 'request');
    assert.equal(line['code'], 'PCL_FORBIDDEN');
    // Routes with api: true answer JSON whatever Accept says.
    const api = await get('/api/x', ['Cookie', await cookieOf('bob'), 'Accept', 'text/html']);
    assert.equal(api.status, 200);
  });

  test('WebSocket upgrades follow the route rules: 403 JSON with reasons, 101 when allowed, 401 without a session', async () => {
    const denied = await openWebSocket(h.url, '/ws', ['Cookie', await cookieOf('bob')]);
    assert.equal(denied.upgraded, false);
    if (denied.upgraded) return;
    assert.equal(denied.status, 403);
    const body = JSON.parse(denied.body);
    assert.deepEqual(
      { ...body, requestId: undefined },
      {
        error: 'PCL_FORBIDDEN',
        message: 'You do not have access',
        detail: ERRORS.PCL_FORBIDDEN.advice,
        reasons: ['group-missing'],
        explanations: ['You need to be in one of these groups: admins.'],
        requestId: undefined,
      },
    );
    const line = h.logs.find((l) => l['requestId'] === body.requestId && l['event'] === 'access.denied');
    assert.deepEqual(line?.['reasons'], ['group-missing']);
    assert.equal(line?.['path'], '/ws');
    assert.equal(line?.['email'], 'bob@example.com');

    const allowed = await openWebSocket(h.url, '/ws', ['Cookie', await cookieOf('alice')]);
    assert.ok(allowed.upgraded, allowed.upgraded ? '' : `${allowed.status} ${allowed.body}`);
    if (allowed.upgraded) {
      allowed.ws.send('hello');
      assert.equal(await allowed.ws.next(), 'hello');
      allowed.ws.close();
    }
    const anonymous = await openWebSocket(h.url, '/ws');
    assert.equal(anonymous.upgraded, false);
    if (!anonymous.upgraded) assert.equal(anonymous.status, 401);
  });
});

test('every denial — page, WebSocket upgrade, forward-auth — counts in portcullis_denials_total{reason}', async () => {
  const count = async (reason: string) => {
    const text = await (await fetch(`${h.gw.metricsUrl}/metrics`)).text();
    const m = new RegExp(`^portcullis_denials_total\\{reason="${reason}"\\} (\\d+)$`, 'm').exec(text);
    return m ? Number(m[1]) : 0;
  };
  const bob = await cookieOf('bob');
  const before = await count('group-missing');
  assert.equal((await get('/admin/x', ['Cookie', bob, 'Accept', 'text/html'])).status, 403);
  const ws = await openWebSocket(h.url, '/admin/ws', ['Cookie', bob]);
  assert.equal(ws.upgraded, false);
  if (ws.upgraded) return;
  assert.equal(ws.status, 403);
  const auth = await get('/oauth2/auth', ['Cookie', bob, 'X-Forwarded-Uri', '/admin/x']);
  assert.equal(auth.status, 403);
  assert.equal(await count('group-missing'), before + 3);
});

describe('forward-auth: /oauth2/auth decides for the paths the request names', () => {
  // user | method and path | extra headers | status | reasons
  const rows: [string, string, string[], number, string[]?][] = [
    // Routes have rules here: a forward-auth request that names no path is refused, never decided without them.
    ['bob', 'GET /oauth2/auth', [], 400, ['PCL_FORWARD_AUTH_NO_PATH']],
    ['bob', 'GET /oauth2/auth', ['X-Forwarded-Uri', '/admin/x'], 403, ['group-missing']],
    ['bob', 'GET /oauth2/auth', ['X-Forwarded-Uri', '/admin/open/x?y=1'], 202],
    ['bob', 'GET /oauth2/auth', ['X-Forwarded-Uri', '/somewhere/else'], 202],
    ['bob', 'GET /oauth2/auth', ['X-Original-URI', '/admin/x'], 403, ['group-missing']],
    ['bob', 'GET /oauth2/auth', ['x-original-uri', '/admin/open/'], 202],
    ['bob', 'GET /oauth2/auth', ['X-Forwarded-Uri', '/%61dmin/x'], 403, ['group-missing']],
    ['bob', 'GET /oauth2/auth', ['X-Forwarded-Uri', '/public/../admin/x'], 400, ['PCL_AMBIGUOUS_PATH']],
    ['bob', 'GET /oauth2/auth', ['X-Original-URI', '/admin/x#/../../x'], 400, ['PCL_AMBIGUOUS_PATH']],
    ['bob', 'GET /oauth2/auth', ['X-Original-URI', '/admin/x#/../../public/'], 400, ['PCL_AMBIGUOUS_PATH']],
    // Read every way servers read it: the strictest route decides.
    ['bob', 'GET /oauth2/auth', ['X-Original-URI', '/admin;x/y'], 403, ['group-missing']],
    // ingress-nginx names the original request as a whole URL.
    [
      'bob',
      'GET /oauth2/auth',
      ['X-Original-URL', 'https://app.example.com/admin/x?y=1'],
      403,
      ['group-missing'],
    ],
    ['bob', 'GET /oauth2/auth', ['X-Original-URL', 'https://app.example.com/admin/open/x'], 202],
    ['bob', 'GET /oauth2/auth', ['X-Original-URL', 'https://app.example.com'], 202],
    [
      'bob',
      'GET /oauth2/auth',
      ['X-Original-URL', 'https://a.example/public/../admin/x'],
      400,
      ['PCL_AMBIGUOUS_PATH'],
    ],
    [
      'bob',
      'GET /oauth2/auth',
      ['X-Original-URL', 'https://a.example/admin/x#/../../x'],
      400,
      ['PCL_AMBIGUOUS_PATH'],
    ],
    ['bob', 'GET /oauth2/auth', ['X-Original-URL', '/admin/x'], 400, ['PCL_BAD_REQUEST']],
    [
      'bob',
      'GET /oauth2/auth',
      ['X-Original-URL', 'https://a.example/admin/open/x', 'X-Forwarded-Uri', '/admin/x'],
      403,
      ['group-missing'],
    ],
    ['bob', 'GET /oauth2/auth', ['X-Original-URI', '//admin/y'], 403, ['group-missing']],
    ['bob', 'GET /oauth2/auth', ['X-Original-URI', '/admin%2fy'], 403, ['group-missing']],
    ['bob', 'GET /oauth2/auth', ['X-Forwarded-Uri', '/hd/'], 403, ['requirement-failed:hd']],
    // Every path named must be allowed: a client adding one can only be refused more.
    [
      'bob',
      'GET /oauth2/auth',
      ['X-Forwarded-Uri', '/admin/open/x', 'X-Original-URI', '/admin/x'],
      403,
      ['group-missing'],
    ],
    [
      'bob',
      'GET /oauth2/auth',
      ['X-Forwarded-Uri', '/admin/x', 'X-Original-URI', '/admin/open/x'],
      403,
      ['group-missing'],
    ],
    // Traefik's stripPrefix keeps what it removed in X-Forwarded-Prefix: both readings must pass.
    [
      'bob',
      'GET /oauth2/auth',
      ['X-Forwarded-Prefix', '/admin', 'X-Forwarded-Uri', '/x'],
      403,
      ['group-missing'],
    ],
    [
      'bob',
      'GET /oauth2/auth',
      ['X-Forwarded-Prefix', '/admin/', 'X-Forwarded-Uri', '/x'],
      403,
      ['group-missing'],
    ],
    ['bob', 'GET /oauth2/auth', ['X-Forwarded-Prefix', '/admin/open', 'X-Forwarded-Uri', '/x'], 202],
    ['bob', 'GET /oauth2/auth', ['X-Forwarded-Prefix', '/admin'], 400, ['PCL_FORWARD_AUTH_NO_PATH']],
    // Unreadable or ambiguous: refused rather than guessed.
    ['bob', 'GET /oauth2/auth', ['X-Forwarded-Uri', '/admin/open/x', 'X-Forwarded-Uri', '/admin/x'], 400],
    ['bob', 'GET /oauth2/auth', ['X-Forwarded-Uri', '/admin/..%2Fopen/x'], 400, ['PCL_AMBIGUOUS_PATH']],
    ['bob', 'GET /oauth2/auth', ['X-Forwarded-Uri', '/%E0%A4%A'], 400],
    ['bob', 'GET /oauth2/auth', ['X-Forwarded-Uri', 'admin/x'], 400],
    ['bob', 'GET /oauth2/auth', ['X-Forwarded-Uri', 'https://app.example.com/admin/x'], 400],
    ['bob', 'GET /oauth2/auth', ['X-Forwarded-Prefix', 'admin', 'X-Forwarded-Uri', '/x'], 400],
    ['bob', 'GET /oauth2/auth', ['X-Forwarded-Prefix', '/a?b', 'X-Forwarded-Uri', '/x'], 400],
    [
      'bob',
      'GET /oauth2/auth',
      ['X-Forwarded-Prefix', '/a', 'X-Forwarded-Prefix', '/b', 'X-Forwarded-Uri', '/x'],
      400,
    ],
    // Envoy ext_authz with path_prefix: /oauth2/auth — the original method and path follow the prefix, 200 allows.
    ['bob', 'GET /oauth2/auth/admin/x', [], 403, ['group-missing']],
    ['bob', 'GET /oauth2/auth/admin/open/x?y=1', [], 200],
    ['bob', 'DELETE /oauth2/auth/api/items/7', [], 200],
    ['bob', 'POST /oauth2/auth/admin/x', [], 403, ['group-missing']],
    ['bob', 'GET /oauth2/auth/', [], 200],
    ['bob', 'GET /oauth2/auth/%61dmin/x', [], 403, ['group-missing']],
    ['bob', 'GET /oauth2/auth/admin/open/x', ['X-Forwarded-Uri', '/admin/x'], 403, ['group-missing']],
    ['bob', 'GET /oauth2/auth/a/../../auth/admin/x', [], 400, ['PCL_AMBIGUOUS_PATH']],
    ['bob', 'GET /oauth2/auth/../admin/x', [], 400, ['PCL_AMBIGUOUS_PATH']],
    ['bob', 'GET /oauth2/auth/x/../../admin/x', [], 400, ['PCL_AMBIGUOUS_PATH']],
    ['bob', 'GET /oauth2/auth/%2e%2e/admin/x', [], 400, ['PCL_AMBIGUOUS_PATH']],
    ['alice', 'GET /oauth2/auth', ['X-Forwarded-Uri', '/admin/x'], 202],
    ['alice', 'GET /oauth2/auth/admin/x', [], 200],
    ['alice', 'GET /oauth2/auth/hd/', [], 200],
    // Without a session: 401, whatever path is named.
    ['', 'GET /oauth2/auth', ['X-Forwarded-Uri', '/admin/x'], 401],
    ['', 'GET /oauth2/auth', ['X-Forwarded-Uri', '/public/x'], 401],
    ['', 'GET /oauth2/auth/admin/x', [], 401],
  ];
  for (const [who, request, headers, status, reasons] of rows) {
    const label = `${who || 'anonymous'} ${request} ${headers.join(' ')} → ${status}`;
    test(label, async () => {
      const [method, path] = request.split(' ') as [string, string];
      const cookie = who ? ['Cookie', await cookieOf(who)] : [];
      const r = await get(path, [...cookie, ...headers, 'Accept', 'application/json'], method);
      assert.equal(r.status, status, r.text.slice(0, 300));
      if (status === 200 || status === 202) {
        assert.equal(r.headers['x-auth-request-user'], who);
        assert.equal(r.headers['x-auth-request-email'], `${who}@example.com`);
        assert.equal(r.text, '', 'answered by Portcullis, not the upstream');
        return;
      }
      assert.equal(r.headers['content-type'], 'application/json');
      const body = JSON.parse(r.text);
      assert.equal(body.requestId, r.headers['x-request-id']);
      if (status === 401) assert.equal(body.error, 'PCL_UNAUTHENTICATED');
      if (status === 400) assert.equal(body.error, reasons?.[0] ?? 'PCL_BAD_REQUEST');
      if (status === 403) {
        assert.equal(body.error, 'PCL_FORBIDDEN');
        assert.deepEqual(body.reasons, reasons);
        assert.deepEqual(logFor(r.headers['x-request-id'])?.['reasons'], reasons);
      }
    });
  }

  test('a browser navigation passed on by the proxy gets the explained page; 401 and 400 stay JSON', async () => {
    const nav = ['Accept', 'text/html,application/xhtml+xml', 'Sec-Fetch-Mode', 'navigate'];
    const bob = ['Cookie', await cookieOf('bob')];
    const denied = await get('/oauth2/auth', [...bob, 'X-Forwarded-Uri', '/admin/x', ...nav]);
    assert.equal(denied.status, 403);
    assert.equal(denied.headers['content-type'], 'text/html; charset=utf-8');
    assert.match(denied.text, /<li>You need to be in one of these groups: admins\.<\/li>/);
    assert.ok(denied.text.includes(`request id <code>${denied.headers['x-request-id']}</code>`));
    const envoy = await get('/oauth2/auth/admin/x', [...bob, ...nav]);
    assert.equal(envoy.status, 403);
    assert.match(envoy.text, /<code>group-missing<\/code>/);
    const anonymous = await get('/oauth2/auth', nav);
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.headers['content-type'], 'application/json');
    const bad = await get('/oauth2/auth', [...bob, 'X-Forwarded-Uri', 'admin', ...nav]);
    assert.equal(bad.status, 400);
    assert.equal(bad.headers['content-type'], 'application/json');
  });

  test('the audit line of a forward-auth denial names the paths decided for', async () => {
    const r = await get('/oauth2/auth', [
      'Cookie',
      await cookieOf('bob'),
      'X-Forwarded-Prefix',
      '/admin',
      'X-Forwarded-Uri',
      '/x?q=1',
    ]);
    assert.equal(r.status, 403);
    const line = logFor(r.headers['x-request-id']);
    assert.deepEqual(line?.['forwardedPaths'], ['/x', '/admin/x']);
    assert.equal(line?.['path'], '/oauth2/auth');
    assert.equal(line?.['event'], 'access.denied');
  });
});

describe('a configuration reload changes the rules for existing sessions', () => {
  test('route and top-level rules apply from the next request on, without signing in again', async () => {
    const bob = await cookieOf('bob');
    assert.equal((await get('/admin/x', ['Cookie', bob])).status, 403);
    h.gw.reload(
      resolveConfig(
        rawConfig({
          allow: { emailDomains: ['example.com'] },
          routes: [{ path: '/admin/', allow: { groups: ['engineering'] } }],
        }),
      ),
    );
    assert.equal((await get('/admin/x', ['Cookie', bob])).status, 200);
    assert.equal((await get('/oauth2/auth', ['Cookie', bob, 'X-Forwarded-Uri', '/admin/x'])).status, 202);

    h.gw.reload(resolveConfig(rawConfig({ allow: { emailDomains: ['example.org'] } })));
    const r = await get('/', ['Cookie', bob, 'Accept', 'application/json']);
    assert.equal(r.status, 403);
    assert.deepEqual(JSON.parse(r.text).reasons, ['email-domain-not-allowed']);
    assert.equal((await get('/oauth2/auth', ['Cookie', bob, 'X-Forwarded-Uri', '/'])).status, 403);

    // Back to the file's rules, for any test that runs after this one.
    h.gw.reload(resolveConfig(rawConfig({ allow: { emailDomains: ['example.com'] } })));
    assert.equal((await get('/admin/x', ['Cookie', bob])).status, 403);
  });
});
