/**
 * Sign-out and cross-site request forgery: GET /oauth2/sign_out only asks (a confirmation page), and the
 * POST that signs out is accepted from Portcullis's own origin only — Sec-Fetch-Site `same-origin`, or,
 * without Fetch Metadata, an Origin equal to publicUrl's. Each refusal keeps the session; each control
 * case (the same request from the right origin) ends it, so every check here can fail.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser } from '../support/browser.ts';
import { type Stack, startStack } from '../support/stack.ts';

let stack: Stack;
before(async () => {
  stack = await startStack();
});
after(() => stack.close());

async function signedIn(b: Browser): Promise<boolean> {
  return (
    (await b.get(`${stack.url}/oauth2/userinfo`, { headers: { accept: 'application/json' } })).status === 200
  );
}

/** A POST to /oauth2/sign_out as a page somewhere would send it (no redirects followed). */
function post(b: Browser, headers: Record<string, string>, form: Record<string, string> = {}, query = '') {
  return b.post(`${stack.url}/oauth2/sign_out${query}`, form, { headers, followRedirects: false });
}

describe('GET /oauth2/sign_out asks and never signs out', () => {
  test('a navigation (any site, or a typed URL) shows the confirmation page; the session stays', async () => {
    const b = await stack.signIn('alice');
    for (const site of ['cross-site', 'same-site', 'none', 'same-origin']) {
      const page = await b.get(`${stack.url}/oauth2/sign_out?rd=/bye`, {
        followRedirects: false,
        headers: { 'sec-fetch-site': site },
      });
      assert.equal(page.status, 200, site);
      assert.equal(page.headers['set-cookie'], undefined, `${site}: no cookie touched`);
      assert.match(page.body, /<h1>Sign out\?<\/h1>/);
      assert.match(
        page.body,
        /<form id="sign-out" method="post" action="\/oauth2\/sign_out"><input type="hidden" name="rd" value="http:\/\/127\.0\.0\.1:\d+\/bye">/,
      );
      assert.equal(page.headers['cache-control'], 'no-store');
      assert.match(page.headers['content-type'] ?? '', /^text\/html/);
      assert.match(String(page.headers['content-security-policy']), /default-src 'none'.*form-action 'self'/);
      assert.equal(page.headers['x-frame-options'], 'DENY');
    }
    assert.ok(await signedIn(b), 'still signed in after every GET');
    assert.ok(!stack.logs.some((l) => l['event'] === 'sign-out' && l['sub'] === 'alice'));
  });

  test('rd is checked as before: a foreign target becomes /, and no rd means the signed-out page', async () => {
    const b = stack.browser();
    const foreign = await b.get(`${stack.url}/oauth2/sign_out?rd=${encodeURIComponent('//evil.example/x')}`);
    assert.match(foreign.body, new RegExp(`name="rd" value="${stack.url}/"`));
    assert.doesNotMatch(foreign.body, /evil/);
    const none = await b.get(`${stack.url}/oauth2/sign_out`);
    assert.doesNotMatch(none.body, /name="rd"/);
  });

  test('HEAD answers with the page headers and no body', async () => {
    const b = stack.browser();
    const head = await b.request(`${stack.url}/oauth2/sign_out`, { method: 'HEAD', followRedirects: false });
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
    assert.equal(head.headers['cache-control'], 'no-store');
    assert.match(String(head.headers['content-security-policy']), /frame-ancestors 'none'/);
  });
});

describe('POST /oauth2/sign_out from another origin is refused', () => {
  for (const [name, headers] of [
    ['Sec-Fetch-Site: cross-site', { 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' }],
    [
      'Sec-Fetch-Site: same-site (another port)',
      { 'sec-fetch-site': 'same-site', origin: 'http://127.0.0.1:1' },
    ],
    ['Sec-Fetch-Site: none', { 'sec-fetch-site': 'none' }],
    // Fetch Metadata decides when present, whatever Origin says.
    ['Sec-Fetch-Site: cross-site with our Origin', { 'sec-fetch-site': 'cross-site', origin: '__SELF__' }],
    ['no Sec-Fetch-Site, a foreign Origin', { origin: 'https://evil.example' }],
    ['no Sec-Fetch-Site, Origin: null', { origin: 'null' }],
    ['neither header', {}],
  ] as const) {
    test(`${name}: 403 PCL_CROSS_SITE, the session stays`, async () => {
      const b = await stack.signIn('bob');
      const h: Record<string, string> = Object.fromEntries(
        Object.entries(headers).map(([k, v]) => [k, v === '__SELF__' ? stack.url : v]),
      );
      const r = await post(b, h, { rd: '/bye' });
      assert.equal(r.status, 403);
      assert.match(r.body, /PCL_CROSS_SITE/);
      assert.match(r.body, /This request came from another site/);
      assert.match(r.body, /href="\/oauth2\/sign_out"/, 'a way to the confirmation page');
      assert.equal(r.headers['set-cookie'], undefined, 'no cookie cleared');
      assert.ok(await signedIn(b), 'still signed in');
    });
  }

  test('API clients get the refusal as JSON', async () => {
    const b = await stack.signIn('bob');
    const r = await post(b, { accept: 'application/json' });
    assert.equal(r.status, 403);
    assert.equal(JSON.parse(r.body).error, 'PCL_CROSS_SITE');
    assert.ok(stack.logs.some((l) => l['code'] === 'PCL_CROSS_SITE' && /neither/.test(String(l['detail']))));
  });
});

describe('POST /oauth2/sign_out from its own origin signs out', () => {
  test('Sec-Fetch-Site: same-origin: 303 to the signed-out page, the session is over', async () => {
    const b = await stack.signIn('alice');
    const r = await post(b, { 'sec-fetch-site': 'same-origin' });
    assert.equal(r.status, 303);
    assert.equal(r.headers.location, `${stack.url}/oauth2/signed_out`);
    assert.ok(r.headers['set-cookie']?.some((c) => /^portcullis=;.*Max-Age=0/.test(c)));
    assert.equal(await signedIn(b), false);
  });

  test('without Fetch Metadata, Origin equal to publicUrl is enough', async () => {
    const b = await stack.signIn('alice');
    const r = await post(b, { origin: stack.url }, { rd: '/bye' });
    assert.equal(r.status, 303);
    assert.equal(r.headers.location, `${stack.url}/bye`);
    assert.equal(await signedIn(b), false);
  });

  test('rd from the form or the query, checked as before (a foreign one becomes /)', async () => {
    const fromQuery = await stack.signIn('alice');
    const q = await post(fromQuery, { 'sec-fetch-site': 'same-origin' }, {}, '?rd=/from-query');
    assert.equal(q.headers.location, `${stack.url}/from-query`);
    const foreign = await stack.signIn('alice');
    const f = await post(foreign, { 'sec-fetch-site': 'same-origin' }, { rd: 'https://evil.example/' });
    assert.equal(f.status, 303);
    assert.equal(f.headers.location, `${stack.url}/`);
  });

  test('the confirmation page’s button signs out (the whole user path)', async () => {
    const b = await stack.signIn('alice');
    const out = await b.signOut(stack.url, { rd: '/bye' });
    // /bye needs a session: landing there sends the signed-out browser on to the sign-in page.
    assert.ok(out.history.includes(`${stack.url}/bye`), out.history.join(' -> '));
    assert.equal(await signedIn(b), false);
  });
});
