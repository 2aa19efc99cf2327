/**
 * The issuer when Portcullis is served under a path (publicUrl `http://127.0.0.1:PORT/auth/`): identifier
 * `<origin>/auth/oidc`, every endpoint, interaction page and cookie path under it, with openid-client as the
 * relying party and the gate's own sign-in (under /auth/oauth2) on the way.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as oc from 'openid-client';
import {
  authorizationUrl,
  authorize,
  Browser,
  type IssuerStack,
  redeem,
  rpFor,
  startIssuerStack,
} from '../support/issuer.ts';

const P = '/auth';
let stack: IssuerStack;
before(async () => {
  stack = await startIssuerStack({ basePath: P });
});
after(() => stack.close());

describe('the issuer under /auth/oidc', () => {
  test('discovery names <origin>/auth/oidc and endpoints under it; /oidc at the root is the upstream’s', async () => {
    assert.equal(stack.issuer, `${stack.url}${P}/oidc`);
    const r = await fetch(`${stack.issuer}/.well-known/openid-configuration`);
    assert.equal(r.status, 200);
    const d = (await r.json()) as Record<string, string>;
    assert.equal(d['issuer'], stack.issuer);
    for (const key of ['authorization_endpoint', 'token_endpoint', 'userinfo_endpoint', 'jwks_uri']) {
      assert.ok(d[key]?.startsWith(`${stack.issuer}/`), `${key}: ${d[key]}`);
    }
    assert.equal(d['end_session_endpoint'], `${stack.issuer}/session/end`);
    // At the root, /oidc/… is an upstream path like any other: behind sign-in, not the issuer.
    const root = await fetch(`${stack.url}/oidc/.well-known/openid-configuration`, {
      headers: { accept: 'application/json' },
    });
    assert.equal(root.status, 401);
    assert.equal(((await root.json()) as { error: string }).error, 'PCL_UNAUTHENTICATED');
  });

  test('a relying party signs in through the gate under /auth and gets tokens of <origin>/auth/oidc', async () => {
    const rp = await rpFor(stack, 'rp-basic');
    const b = new Browser();
    const { url, checks } = await authorizationUrl(rp);
    assert.equal(url.origin + url.pathname, `${stack.issuer}/auth`);
    const landed = await authorize(b, url, { username: 'alice' });
    assert.ok(landed.url.startsWith(`${stack.sink.url}/basic/callback?`), landed.url);
    assert.ok(landed.history.some((u) => u.startsWith(`${stack.url}${P}/oidc/interaction/`)));
    assert.ok(landed.history.some((u) => u.startsWith(`${stack.url}${P}/oauth2/callback?`)));
    const tokens = await redeem(rp, landed, checks);
    const claims = tokens.claims();
    assert.equal(claims?.iss, stack.issuer);
    const info = await oc.fetchUserInfo(rp.config, tokens.access_token, claims!.sub);
    assert.equal(info['preferred_username'], 'alice');
    // The issuer's cookies are scoped to the mount, the gate's session cookie stays at Path=/.
    const issuerCookies = b.jar.all().filter((c) => c.path.startsWith(`${P}/oidc`));
    assert.ok(issuerCookies.length > 0, 'issuer session cookie under /auth/oidc');
    // (The dev IdP on another port shares the jar: cookies do not tell ports apart.)
    assert.ok(!b.jar.all().some((c) => c.path.startsWith('/oidc')), 'no issuer cookie at the root /oidc');
    assert.equal(b.jar.get('portcullis', `${stack.url}/`)?.path, '/');

    // The gate's sign-out passes through <base>/oidc/sign_out and ends the issuer session too.
    const out = await b.signOut(`${stack.url}${P}`);
    assert.equal(out.status, 200);
    assert.ok(out.history.some((u) => u.startsWith(`${stack.url}${P}/oidc/sign_out?next=`)));
    assert.equal(out.url, `${stack.url}${P}/oauth2/signed_out`);
    assert.equal((await oc.tokenIntrospection(rp.config, tokens.access_token)).active, false);
  });

  test('the consent page posts under /auth/oidc/interaction', async () => {
    const rp = await rpFor(stack, 'rp-consent');
    const b = new Browser();
    const { url, checks } = await authorizationUrl(rp);
    const page = await authorize(b, url, { username: 'alice' });
    assert.match(
      page.body,
      new RegExp(`<form[^>]*id="consent"[^>]*action="${P}/oidc/interaction/[\\w-]+/confirm"`),
    );
    assert.match(
      page.body,
      new RegExp(`<form[^>]*id="deny"[^>]*action="${P}/oidc/interaction/[\\w-]+/abort"`),
    );
    const landed = await b.submitForm(page.body, page.url, { formId: 'consent' });
    assert.ok(landed.url.startsWith(`${stack.sink.url}/consent/callback?`), landed.url);
    await redeem(rp, landed, checks);
  });

  test('the services page lives at /auth/oauth2/services, its links under the path', async () => {
    const b = new Browser();
    const first = await b.get(`${stack.url}${P}/oauth2/services`, { followRedirects: false });
    assert.equal(first.status, 302);
    assert.equal(
      first.headers.location,
      `${P}/oauth2/sign_in?rd=${encodeURIComponent(`${P}/oauth2/services`)}`,
    );
    const chooser = await b.get(`${stack.url}${first.headers.location}`);
    const href = /href="([^"]+)"/.exec(chooser.body)![1]!.replaceAll('&amp;', '&');
    assert.ok(href.startsWith(`${P}/oauth2/start?`), href);
    const login = await b.get(new URL(href, stack.url));
    const page = await b.signInAtDevIdp(login, 'alice', 'alice');
    assert.equal(page.url, `${stack.url}${P}/oauth2/services`);
    assert.match(page.body, /Notebook Hub/);
    assert.match(page.body, /<form id="sign-out" method="post" action="\/auth\/oauth2\/sign_out">/);
  });

  test('RP-initiated logout without an issuer session offers the gate’s sign-out under the path', async () => {
    const b = new Browser();
    const login = await b.get(`${stack.url}${P}/oauth2/start?rd=${P}/`);
    await b.signInAtDevIdp(login, 'bob', 'bob');
    const auto = await b.get(`${stack.issuer}/session/end`);
    assert.match(auto.body, /<form[^>]*action="[^"]*\/auth\/oidc\/session\/end\/confirm"/);
    const done = await b.submitForm(auto.body, auto.url);
    assert.equal(done.status, 200);
    assert.match(done.body, /<form id="sign-out" method="post" action="\/auth\/oauth2\/sign_out">/);
  });
});
