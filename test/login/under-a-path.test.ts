/**
 * Serving under a path: publicUrl `http://127.0.0.1:PORT/auth/`. Every own endpoint, page link, form action
 * and redirect is under /auth; the upstream table stays absolute, so `/ping`, `/oauth2/…` at the root are the
 * upstream's. A full sign-in with the scripted browser against the real dev IdP.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Stack, startStack } from '../support/stack.ts';

const P = '/auth';

/** The sample app's JSON echo (what the upstream was asked for), or undefined for anything else. */
function echoPath(body: string): string | undefined {
  try {
    return (JSON.parse(body) as { path?: string }).path;
  } catch {
    return undefined;
  }
}

describe('publicUrl with a path: every own endpoint under it, the rest the upstream’s', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ basePath: P });
  });
  after(() => stack.close());

  test('the configuration: the redirect URI is under the path', () => {
    const c = stack.gw.ctx.config;
    assert.equal(c.basePath, P);
    assert.equal(c.redirectUri.href, `${stack.url}${P}/oauth2/callback`);
  });

  test('a navigation without a session goes to the sign-in page under the path', async () => {
    const b = stack.browser();
    const r = await b.get(`${stack.url}/some/page?x=1`, { followRedirects: false });
    assert.equal(r.status, 302);
    assert.equal(r.headers.location, `${P}/oauth2/sign_in?rd=${encodeURIComponent('/some/page?x=1')}`);
    const page = await b.get(`${stack.url}${r.headers.location}`);
    assert.equal(page.status, 200);
    assert.match(page.body, /href="\/auth\/oauth2\/start\?provider=test&amp;rd=%2Fsome%2Fpage%3Fx%3D1"/);
    // Without rd the default landing is the path itself.
    const plain = await b.get(`${stack.url}${P}/oauth2/sign_in`);
    assert.match(plain.body, /href="\/auth\/oauth2\/start\?provider=test&amp;rd=%2Fauth%2F"/);
    // start without a provider and more than none chosen: back to the chooser under the path.
    const start = await b.get(`${stack.url}${P}/oauth2/start?provider=nope`);
    assert.equal(start.status, 400);
    assert.match(start.body, /href="\/auth\/oauth2\/sign_in"/);
  });

  test('signs in through /auth/oauth2/callback, proxies with identity, signs out under the path', async () => {
    const b = stack.browser();
    const chooser = await b.get(
      `${stack.url}${P}/oauth2/sign_in?rd=${encodeURIComponent('/api/whoami?q=1')}`,
    );
    const href = /href="([^"]+)"/.exec(chooser.body)![1]!.replaceAll('&amp;', '&');
    const login = await b.get(new URL(href, stack.url));
    assert.match(login.url, new RegExp(`^${stack.idp.issuer}/`));
    const back = await b.signInAtDevIdp(login, 'alice', 'alice');
    assert.equal(back.status, 200);
    assert.ok(
      back.history.some((u) => u.startsWith(`${stack.url}${P}/oauth2/callback?`)),
      back.history.join(),
    );
    assert.equal(back.url, `${stack.url}/api/whoami?q=1`);
    const echo = JSON.parse(back.body) as { headers: Record<string, string>; path: string };
    assert.equal(echo.path, '/api/whoami?q=1');
    assert.equal(echo.headers['x-forwarded-user'], 'alice');
    // Decision: the session cookie keeps Path=/ (and __Host- on https), so it reaches the app's paths,
    // which are outside /auth.
    const cookie = b.jar.get('portcullis', `${stack.url}/`);
    assert.ok(cookie, 'session cookie sent to the app at /');
    assert.equal(cookie.path, '/');

    const info = await b.get(`${stack.url}${P}/oauth2/userinfo`);
    assert.equal(info.status, 200);
    assert.equal(JSON.parse(info.body).user, 'alice');
    const authr = await b.get(`${stack.url}${P}/oauth2/auth`);
    assert.equal(authr.status, 202);
    assert.equal(authr.headers['x-auth-request-user'], 'alice');
    // Envoy's ext_authz with path_prefix: /auth/oauth2/auth.
    const envoy = await b.get(`${stack.url}${P}/oauth2/auth/api/x`);
    assert.equal(envoy.status, 200);
    // At the root, /oauth2/… is the upstream's: the app answers, not Portcullis.
    const rootInfo = await b.get(`${stack.url}/oauth2/userinfo`, { headers: { accept: 'application/json' } });
    assert.equal(rootInfo.status, 200);
    assert.equal(echoPath(rootInfo.body), '/oauth2/userinfo');

    // Sign-out: the confirmation page's form and links are under the path; it ends on the signed-out page.
    const confirm = await b.get(`${stack.url}${P}/oauth2/sign_out`);
    assert.match(confirm.body, /action="\/auth\/oauth2\/sign_out"/);
    assert.match(confirm.body, /href="\/auth\/">Stay signed in/);
    const out = await b.signOut(`${stack.url}${P}`);
    assert.equal(out.status, 200);
    assert.equal(out.url, `${stack.url}${P}/oauth2/signed_out`);
    assert.match(out.body, /href="\/auth\/">Sign in again/);
    const again = await b.get(`${stack.url}/api/whoami`, { headers: { accept: 'application/json' } });
    assert.equal(again.status, 401);
  });

  test('own endpoints answer under the path and not at the root', async () => {
    for (const p of ['/ping', '/ready']) {
      const own = await fetch(`${stack.url}${P}${p}`);
      assert.equal(own.status, 200, `${P}${p}`);
      assert.equal(echoPath(await own.text()), undefined, `${P}${p} is Portcullis's`);
      // At the root: an upstream path like any other (here: sign in first).
      const root = await stack.browser().get(`${stack.url}${p}`, { followRedirects: false });
      assert.equal(root.status, 302, p);
      assert.equal(root.headers.location, `${P}/oauth2/sign_in?rd=${encodeURIComponent(p)}`);
    }
    for (const p of ['/oauth2/sign_in', '/oauth2/signed_out']) {
      assert.equal((await fetch(`${stack.url}${P}${p}`)).status, 200, `${P}${p}`);
      const root = await stack.browser().get(`${stack.url}${p}`, { followRedirects: false });
      assert.equal(root.status, 302, `${p} at the root is the upstream's, behind sign-in`);
      assert.equal(root.headers.location, `${P}/oauth2/sign_in?rd=${encodeURIComponent(p)}`);
    }
    const auth = await fetch(`${stack.url}${P}/oauth2/auth`, { headers: { accept: 'application/json' } });
    assert.equal(auth.status, 401);
    assert.equal(((await auth.json()) as { error: string }).error, 'PCL_UNAUTHENTICATED');
    // Under the path, /oauth2/… and /oidc/… stay reserved: never proxied.
    for (const p of ['/oauth2/nothing', '/oidc/x']) {
      const r = await fetch(`${stack.url}${P}${p}`, { headers: { accept: 'application/json' } });
      assert.equal(r.status, 404, `${P}${p}`);
      assert.equal(((await r.json()) as { error: string }).error, 'PCL_NOT_FOUND');
    }
    // The rest of the path is the upstream's (absolute upstream table).
    const b = await stack.signIn('alice', '/');
    const rest = await b.get(`${stack.url}${P}/api/x`, { headers: { accept: 'application/json' } });
    assert.equal(echoPath(rest.body), '/auth/api/x');
  });
});

describe('publicUrl with a path: X-Auth-Request-Redirect naming an own page under the path is ignored', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ basePath: P });
  });
  after(() => stack.close());

  test('nginx sets the header on its /auth/oauth2/ location: /auth/oauth2/… is not a target, /reports is', async () => {
    const b = stack.browser();
    const own = await b.get(`${stack.url}${P}/oauth2/sign_in`, {
      headers: { 'x-auth-request-redirect': `${P}/oauth2/start` },
    });
    assert.match(own.body, /rd=%2Fauth%2F"/);
    const app = await b.get(`${stack.url}${P}/oauth2/sign_in`, {
      headers: { 'x-auth-request-redirect': '/reports?a=1&b=2' },
    });
    assert.match(app.body, /rd=%2Freports%3Fa%3D1%26b%3D2"/);
  });
});

describe('publicUrl with a path: a refused sign-in offers to try again under the path', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({
      basePath: P,
      config: (c) => ({ ...c, allow: { emails: ['alice@example.com'] } }),
    });
  });
  after(() => stack.close());

  test('the 403 page links to /auth/oauth2/sign_in', async () => {
    const b = stack.browser();
    const login = await b.get(`${stack.url}${P}/oauth2/start?rd=%2F`);
    const back = await b.signInAtDevIdp(login, 'bob', 'bob');
    assert.equal(back.status, 403);
    assert.match(back.body, /href="\/auth\/oauth2\/sign_in">Try again/);
  });
});
