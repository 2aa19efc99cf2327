/**
 * The issuer's two ways out, against cross-site request forgery:
 * - /oidc/sign_out, the stop the gate's sign-out makes, ends the issuer session (and revokes the services'
 *   session-bound tokens) only for the browser that gate sign-out answered;
 * - /oidc/session/end (RP-initiated logout, oidc-provider) ends nothing without the user's confirmation
 *   posted from Portcullis's own page.
 * Every refusal here has its control case (the real flow still ends the sessions).
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

let stack: IssuerStack;
before(async () => {
  stack = await startIssuerStack();
});
after(() => stack.close());

/** A browser signed in to the gate and, through the issuer, to a service; with that service's tokens. */
async function signedInToService(username = 'alice') {
  const rp = await rpFor(stack, 'rp-basic');
  const b = new Browser();
  const { url, checks } = await authorizationUrl(rp);
  const tokens = await redeem(rp, await authorize(b, url, { username }), checks);
  assert.ok(tokens.refresh_token);
  const alive = async () => ({
    gate:
      (await b.get(`${stack.url}/oauth2/userinfo`, { headers: { accept: 'application/json' } })).status ===
      200,
    access: (await oc.tokenIntrospection(rp.config, tokens.access_token)).active,
    refresh: (await oc.tokenIntrospection(rp.config, tokens.refresh_token!)).active,
  });
  return { b, rp, tokens, alive };
}

const ALL_ALIVE = { gate: true, access: true, refresh: true };

describe('/oidc/sign_out ends the issuer session only for the browser that signed out of the gate', () => {
  test('a navigation from another site ends nothing and lands on the confirmation page', async () => {
    const v = await signedInToService();
    const r = await v.b.get(`${stack.url}/oidc/sign_out`, {
      followRedirects: false,
      headers: { 'sec-fetch-site': 'cross-site' },
    });
    assert.deepEqual(await v.alive(), ALL_ALIVE);
    assert.equal(r.status, 302);
    assert.equal(r.headers.location, '/oauth2/sign_out');
    assert.ok(
      stack.logs.some((l) => l['event'] === 'issuer.sign-out-refused' && l['why'] === 'no valid next'),
    );
  });

  test('a `next` made by someone else’s sign-out ends nothing in the victim’s browser', async () => {
    const v = await signedInToService();
    // The attacker signs out of their own session and keeps the stop instead of following it.
    const attacker = new Browser();
    const out = await attacker.signOut(stack.url, { followRedirects: false });
    assert.equal(out.status, 303);
    assert.match(out.headers.location ?? '', /^\/oidc\/sign_out\?next=/);
    const r = await v.b.get(`${stack.url}${out.headers.location}`, {
      headers: { 'sec-fetch-site': 'cross-site' },
    });
    assert.deepEqual(await v.alive(), ALL_ALIVE);
    assert.equal(new URL(r.url).pathname, '/oauth2/sign_out', 'the confirmation page, not signed out');
    assert.ok(
      stack.logs.some(
        (l) => l['event'] === 'issuer.sign-out-refused' && l['why'] === 'not bound to this browser',
      ),
    );
  });

  test('control: the gate’s sign-out ends gate, issuer session and session-bound tokens in one go', async () => {
    const v = await signedInToService();
    const out = await v.b.signOut(stack.url);
    assert.ok(out.history.some((u) => u.includes('/oidc/sign_out?next=')));
    assert.equal(new URL(out.url).pathname, '/oauth2/signed_out');
    assert.deepEqual(await v.alive(), { gate: false, access: false, refresh: false });
    assert.equal(v.b.jar.get('portcullis_oidc_signout'), undefined, 'the binding cookie is gone');
  });
});

test('the services page offers sign-out as the POST form, not a link', async () => {
  const v = await signedInToService();
  const page = await v.b.get(`${stack.url}/oauth2/services`);
  assert.match(page.body, /<form id="sign-out" method="post" action="\/oauth2\/sign_out">/);
  assert.doesNotMatch(page.body, /href="\/oauth2\/sign_out/);
});

describe('/oidc/session/end (RP-initiated logout) needs the user’s same-origin confirmation', () => {
  test('a cross-site GET shows the confirmation page and ends nothing', async () => {
    const v = await signedInToService();
    const page = await v.b.get(`${stack.issuer}/session/end`, {
      headers: { 'sec-fetch-site': 'cross-site' },
    });
    assert.equal(page.status, 200);
    assert.match(page.body, /Sign out\?/);
    assert.deepEqual(await v.alive(), ALL_ALIVE);
  });

  test('the confirmation posted from another site is refused with 403 PCL_CROSS_SITE', async () => {
    const v = await signedInToService();
    const page = await v.b.get(`${stack.issuer}/session/end`);
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(page.body)?.[1];
    assert.ok(xsrf);
    for (const headers of [{ 'sec-fetch-site': 'cross-site' }, { origin: 'https://evil.example' }, {}]) {
      const r = await v.b.post(
        `${stack.issuer}/session/end/confirm`,
        { xsrf, logout: 'yes' },
        { headers, followRedirects: false },
      );
      assert.equal(r.status, 403, JSON.stringify(headers));
      assert.match(r.body, /PCL_CROSS_SITE/);
    }
    assert.deepEqual(await v.alive(), ALL_ALIVE);
    // Control: the page's own button (a same-origin POST) ends everything.
    const out = await v.b.submitForm(page.body, page.url, { formId: 'op.logoutForm' });
    assert.equal(out.status, 200);
    assert.deepEqual(await v.alive(), { gate: false, access: false, refresh: false });
  });

  test('without an issuer session, the auto-submitted logout keeps the gate session', async () => {
    // Signed in to the gate only: oidc-provider then posts its logout form by script, asking nobody.
    const b = new Browser();
    const login = await b.get(`${stack.url}/oauth2/start?rd=/`);
    await b.signInAtDevIdp(login, 'bob', 'bob');
    const gateAlive = async () =>
      (await b.get(`${stack.url}/oauth2/userinfo`, { headers: { accept: 'application/json' } })).status ===
      200;
    assert.ok(await gateAlive());
    const auto = await b.get(`${stack.issuer}/session/end`, { headers: { 'sec-fetch-site': 'cross-site' } });
    assert.match(auto.body, /<form[^>]*action="[^"]*\/oidc\/session\/end\/confirm"/);
    // The browser runs the page's script: a same-origin POST.
    const done = await b.submitForm(auto.body, auto.url);
    assert.equal(done.status, 200);
    assert.ok(await gateAlive(), 'the gate session is kept');
    assert.match(done.body, /You are still signed in to Portcullis/);
    assert.match(done.body, /<form id="sign-out" method="post" action="\/oauth2\/sign_out">/);
    assert.ok(stack.logs.some((l) => l['event'] === 'issuer.sign-out-unconfirmed'));
  });
});
