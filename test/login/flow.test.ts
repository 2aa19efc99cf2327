import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Stack, startStack } from '../support/stack.ts';

describe('sign in, proxy with identity, sign out (confidential client, client_secret_basic)', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(() => stack.close());

  test('a navigation without a session is sent to the sign-in page with rd', async () => {
    const b = stack.browser();
    const r = await b.get(`${stack.url}/some/page?x=1`, { followRedirects: false });
    assert.equal(r.status, 302);
    assert.equal(r.headers.location, `/oauth2/sign_in?rd=${encodeURIComponent('/some/page?x=1')}`);
    const page = await b.get(`${stack.url}${r.headers.location}`);
    assert.equal(page.status, 200);
    assert.match(page.body, /Sign in with test/);
    assert.match(page.body, /\/oauth2\/start\?provider=test&amp;rd=%2Fsome%2Fpage%3Fx%3D1/);
  });

  test('signs in through the IdP and lands on rd; the upstream sees the identity', async () => {
    const b = stack.browser();
    const login = await b.get(
      `${stack.url}/oauth2/start?provider=test&rd=${encodeURIComponent('/api/whoami?q=1')}`,
    );
    assert.match(login.url, new RegExp(`^${stack.idp.issuer}/`));
    const back = await b.signInAtDevIdp(login, 'alice', 'alice');
    assert.equal(back.status, 200);
    assert.equal(back.url, `${stack.url}/api/whoami?q=1`);
    const echo = JSON.parse(back.body) as { headers: Record<string, string>; path: string };
    assert.equal(echo.headers['x-forwarded-user'], 'alice');
    assert.equal(echo.headers['x-forwarded-email'], 'alice@example.com');
    assert.equal(echo.headers['x-forwarded-preferred-username'], 'alice');
    assert.equal(echo.headers['x-forwarded-groups'], 'admins,engineering');
    assert.equal(echo.headers['x-forwarded-provider'], 'test');
    assert.equal(echo.headers['x-forwarded-proto'], 'http');
    assert.equal(echo.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(echo.headers['authorization'], undefined);
    // The session cookie is HttpOnly, SameSite=Lax, and never forwarded upstream.
    const cookie = b.jar.get('portcullis', stack.url);
    assert.ok(cookie, 'session cookie set');
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, 'Lax');
    assert.ok(!(echo.headers['cookie'] ?? '').includes('portcullis'));

    const info = await b.get(`${stack.url}/oauth2/userinfo`);
    assert.deepEqual(JSON.parse(info.body), {
      user: 'alice',
      email: 'alice@example.com',
      emailVerified: true,
      preferredUsername: 'alice',
      name: 'Alice Admin',
      groups: ['admins', 'engineering'],
      provider: 'test',
    });

    const authr = await b.get(`${stack.url}/oauth2/auth`);
    assert.equal(authr.status, 202);
    assert.equal(authr.headers['x-auth-request-user'], 'alice');
    assert.equal(authr.headers['x-auth-request-email'], 'alice@example.com');
    assert.equal(authr.headers['x-auth-request-groups'], 'admins,engineering');
    assert.equal(authr.headers['x-auth-request-preferred-username'], 'alice');
    assert.equal(authr.headers['x-auth-request-provider'], 'test');

    const success = stack.logs.find((l) => l['event'] === 'sign-in.success');
    assert.equal(success?.['sub'], 'alice');

    const out = await b.signOut(stack.url);
    assert.equal(out.status, 200);
    assert.match(out.body, /signed out/);
    const again = await b.get(`${stack.url}/api/whoami`, { headers: { accept: 'application/json' } });
    assert.equal(again.status, 401);
    assert.equal(JSON.parse(again.body).error, 'PCL_UNAUTHENTICATED');
    const authAfter = await b.get(`${stack.url}/oauth2/auth`);
    assert.equal(authAfter.status, 401);
  });

  test('1,800 garbage cookies: one response expires a bounded number, and other apps’ cookies are left alone', async () => {
    const { randomBytes } = await import('node:crypto');
    const junk = (n: number, name: (i: number) => string) =>
      Array.from({ length: n }, (_, i) => `${name(i)}=x`).join('; ');
    const flowLike = junk(1800, () => `portcullis_f_${randomBytes(12).toString('base64url')}`);
    const start = await fetch(`${stack.url}/oauth2/start?rd=/`, {
      redirect: 'manual',
      headers: { cookie: `${flowLike}; other_app=1` },
    });
    assert.equal(start.status, 302);
    const set = start.headers.getSetCookie();
    assert.ok(set.length <= 21, `${set.length} Set-Cookie headers`);
    assert.ok(set.join('').length < 8_000, `${set.join('').length} bytes of Set-Cookie`);
    assert.equal(set.filter((c) => /Max-Age=0/i.test(c)).length, 20, 'the first 20 stale ones expired');
    assert.ok(!set.some((c) => c.startsWith('other_app=')));
    // Session chunks: only the names the store writes (<name>_0 … _9) are expired on sign-out.
    const chunkLike = junk(1800, (i) => `portcullis_${i}`);
    const out = await fetch(`${stack.url}/oauth2/sign_out`, {
      redirect: 'manual',
      headers: { cookie: chunkLike },
    });
    const cleared = out.headers.getSetCookie().filter((c) => /^portcullis_\d+=/.test(c));
    assert.ok(cleared.length <= 10, `${cleared.length} chunk cookies expired`);
  });

  test('no token, secret or cookie value reaches the log', async () => {
    const b = await stack.signIn('bob', '/api/x');
    const cookie = b.jar.get('portcullis', stack.url);
    assert.ok(cookie);
    const raw = stack.rawLogs();
    assert.ok(!raw.includes(cookie.value.slice(0, 40)), 'cookie value logged');
    assert.ok(!raw.includes(stack.clientSecret), 'client secret logged');
    assert.doesNotMatch(raw, /eyJ[\w-]{10,}\.eyJ/, 'a JWT was logged');
  });

  test('API and XHR requests without a session get 401 JSON; preflights are not redirected', async () => {
    const b = stack.browser();
    for (const headers of [
      { 'x-requested-with': 'XMLHttpRequest' },
      { 'sec-fetch-mode': 'cors' },
      { accept: 'application/json', 'sec-fetch-mode': '' },
    ]) {
      const r = await b.get(`${stack.url}/page`, { followRedirects: false, headers });
      assert.equal(r.status, 401, JSON.stringify(headers));
      const body = JSON.parse(r.body) as { error: string; requestId: string };
      assert.equal(body.error, 'PCL_UNAUTHENTICATED');
      assert.match(body.requestId, /^[0-9a-f-]{36}$/);
    }
    const api = await b.get(`${stack.url}/api/thing`, { followRedirects: false });
    assert.equal(api.status, 401, 'route marked api answers 401 even to navigations');
    const pre = await b.request(`${stack.url}/api/thing`, {
      method: 'OPTIONS',
      followRedirects: false,
      headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST' },
    });
    assert.notEqual(pre.status, 302);
    assert.notEqual(pre.status, 401);
    assert.equal(JSON.parse(pre.body).headers['x-forwarded-user'], undefined);
  });

  test('public routes need no session', async () => {
    const r = await stack
      .browser()
      .get(`${stack.url}/public/info`, { headers: { accept: 'application/json' } });
    assert.equal(r.status, 200);
    assert.equal(JSON.parse(r.body).headers['x-forwarded-user'], undefined);
  });

  test('several tabs can sign in at once', async () => {
    const b = stack.browser();
    const tabs = await Promise.all(
      ['/one', '/two', '/three'].map((p) => b.get(`${stack.url}/oauth2/start?rd=${encodeURIComponent(p)}`)),
    );
    // Finish them in reverse order: each flow has its own state cookie.
    const landed: string[] = [];
    for (const tab of tabs.reverse()) {
      const back = await b.signInAtDevIdp(tab, 'alice', 'alice');
      assert.equal(back.status, 200);
      landed.push(new URL(back.url).pathname);
    }
    assert.deepEqual(landed, ['/three', '/two', '/one']);
  });

  test('pending sign-ins are capped per browser', async () => {
    const b = stack.browser();
    for (let i = 0; i < 8; i++) await b.get(`${stack.url}/oauth2/start?rd=/`, { followRedirects: false });
    const flows = b.jar.all().filter((c) => c.name.startsWith('portcullis_f_'));
    assert.equal(flows.length, 5);
  });
});

for (const authMethod of ['client_secret_post', 'none'] as const) {
  describe(`sign in with ${authMethod === 'none' ? 'a PKCE public client' : authMethod}`, () => {
    let stack: Stack;
    before(async () => {
      stack = await startStack({ authMethod });
    });
    after(() => stack.close());

    test('signs in and proxies with identity', async () => {
      const b = await stack.signIn('bob', '/api/me');
      const r = await b.get(`${stack.url}/api/me`);
      assert.equal(JSON.parse(r.body).headers['x-forwarded-user'], 'bob');
    });
  });
}

describe('refresh and RP-initiated logout', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({
      accessTokenTtlSeconds: 60,
      provider: { logoutAtIdp: true },
      config: (c) => ({
        ...c,
        upstreams: [
          {
            path: '/',
            url: (c['upstreams'] as { url: string }[])[0]!.url,
            passAuthorization: 'access_token',
          },
        ],
      }),
    });
  });
  after(() => stack.close());

  test('an expired access token is refreshed during a proxied request', async () => {
    const b = await stack.signIn('alice', '/api/a');
    const first = JSON.parse((await b.get(`${stack.url}/api/a`)).body).headers.authorization as string;
    assert.match(first, /^Bearer /);
    stack.advance(120);
    const r = await b.get(`${stack.url}/api/a`);
    assert.equal(r.status, 200);
    const second = JSON.parse(r.body).headers.authorization as string;
    assert.match(second, /^Bearer /);
    assert.notEqual(second, first, 'a new access token was used');
    assert.ok(
      r.headers['set-cookie']?.some((c) => c.startsWith('portcullis')),
      'refreshed session stored',
    );
    assert.ok(stack.logs.some((l) => l['event'] === 'session.refresh'));
    // The refreshed session works without another refresh.
    const third = JSON.parse((await b.get(`${stack.url}/api/a`)).body).headers.authorization as string;
    assert.equal(third, second);
  });

  test('a failed refresh ends the session', async () => {
    const b = await stack.signIn('bob', '/api/b');
    const cookie = b.jar.get('portcullis', stack.url);
    assert.ok(cookie);
    const session = await stack.gw.ctx.sessions.read(
      new Map([['portcullis', cookie.value]]),
      Math.floor(Date.now() / 1000),
    );
    assert.ok(session?.refreshToken);
    // Redeem the refresh token behind the gateway's back: with rotation, the IdP now treats the
    // gateway's copy as reused and revokes the grant.
    const used = await fetch(`${stack.idp.issuer}/token`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`portcullis-test:${stack.clientSecret}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: session.refreshToken }),
    });
    assert.equal(used.status, 200);
    stack.advance(120);
    const r = await b.get(`${stack.url}/api/b`, {
      headers: { accept: 'application/json' },
      followRedirects: false,
    });
    assert.equal(r.status, 401);
    assert.ok(
      r.headers['set-cookie']?.some((c) => /^portcullis=;/.test(c)),
      'session cookie cleared',
    );
    assert.ok(stack.logs.some((l) => l['event'] === 'session.refresh-failed'));
  });

  test('sign-out ends the IdP session too (id_token_hint)', async () => {
    const b = await stack.signIn('alice', '/x');
    const out = await b.signOut(stack.url, { followRedirects: false });
    assert.equal(out.status, 303);
    const loc = new URL(out.headers.location!);
    assert.equal(loc.origin, stack.idp.issuer);
    assert.ok(loc.searchParams.get('id_token_hint'));
    assert.equal(loc.searchParams.get('post_logout_redirect_uri'), `${stack.url}/oauth2/signed_out`);
    const confirm = await b.get(loc);
    const done = await b.submitForm(confirm.body, confirm.url);
    assert.equal(done.url, `${stack.url}/oauth2/signed_out`);
    // The IdP no longer has a session: signing in asks for the password again.
    const again = await b.get(`${stack.url}/oauth2/start?rd=/`);
    assert.match(again.body, /id="login"/);
  });
});
