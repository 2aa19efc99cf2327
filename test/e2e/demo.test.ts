// The browser end-to-end test: headless Debian Chromium (playwright-core, no downloaded browsers) signs in
// through `portcullis demo` — sign-in page, dev IdP login form, back to the sample app — sees its identity,
// then signs out (through the IdP's auto-submitting logout confirmation). Screenshots of the pages land in
// test/e2e/artifacts/ (git-ignored) for a human to look at.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { BrowserContext, Page } from 'playwright-core';
import { type RunningDemo, startDemo } from '../../src/demo/run.ts';
import { createLogger } from '../../src/observability/log.ts';
import { ARTIFACTS, type ChromiumSession, openChromium, SKIP } from '../support/chromium.ts';

let demo: RunningDemo | undefined;
let chrome: ChromiumSession | undefined;
let context: BrowserContext | undefined;
let page: Page;

before(async () => {
  if (SKIP) return;
  demo = await startDemo({ host: '127.0.0.1', port: 0, idpPort: 0, appPort: 0 }, createLogger('silent'));
  chrome = await openChromium();
  ({ context, page } = chrome);
});

after(async () => {
  await chrome?.close();
  await demo?.close();
});

/** Every element of a row of the sample app's identity table, by its heading. */
function identityRow(heading: string) {
  return page.locator('tr', { has: page.locator('th', { hasText: heading }) }).locator('td');
}

test('signs in through the demo in Chromium and sees the identity on the sample app', {
  skip: SKIP,
}, async () => {
  assert.ok(demo);
  assert.ok(context);
  const origin = new URL(demo.url).origin;
  const original = `${origin}/reports/weekly?team=core&x=%C3%A9`;

  // 1. An unauthenticated visit is sent to Portcullis's sign-in page.
  const first = await page.goto(original);
  assert.equal(first?.status(), 200);
  assert.equal(new URL(page.url()).pathname, '/oauth2/sign_in');
  assert.equal(await page.title(), 'Sign in');
  const signInButton = page.getByRole('link', { name: 'Sign in with the demo IdP' });
  await signInButton.waitFor();
  await page.screenshot({ path: `${ARTIFACTS}sign-in.png`, fullPage: true });

  // 2. The button leads to the dev IdP's login form, on the IdP's origin and labelled as a demo.
  await signInButton.click();
  await page.waitForURL((u) => u.origin === demo?.issuer && u.pathname.startsWith('/interaction/'));
  await page.getByText('Demo identity provider — development only').waitFor();
  await page.getByRole('heading', { name: 'Portcullis demo IdP' }).waitFor();
  await page.screenshot({ path: `${ARTIFACTS}idp-login.png`, fullPage: true });

  // 3. Sign in as alice; the redirects end on the sample app at the URL first asked for.
  await page.getByLabel('Username').fill('alice');
  await page.getByLabel('Password').fill('alice');
  await Promise.all([
    page.waitForURL(original),
    page.getByRole('button', { name: 'Sign in', exact: true }).click(),
  ]);
  assert.equal(page.url(), original);
  assert.equal(await page.title(), 'Sample app behind Portcullis');
  assert.equal(await identityRow('X-Forwarded-User').textContent(), 'alice');
  assert.equal(await identityRow('X-Forwarded-Provider').textContent(), 'demo');
  assert.equal(await identityRow('X-Forwarded-Email').textContent(), 'alice@example.com');
  assert.equal(await identityRow('X-Forwarded-Preferred-Username').textContent(), 'alice');
  assert.equal(await identityRow('X-Forwarded-Groups').textContent(), 'admins,engineering');
  assert.equal(await identityRow('Request').textContent(), 'GET /reports/weekly?team=core&x=%C3%A9');
  await page.screenshot({ path: `${ARTIFACTS}signed-in-app.png`, fullPage: true });

  // 4. The session cookie is HttpOnly, host-only and SameSite; the flow cookie is gone.
  const cookies = await context.cookies(origin);
  const session = cookies.filter((c) => /^portcullis(_\d+)?$/.test(c.name));
  assert.ok(session.length > 0, `no session cookie among ${cookies.map((c) => c.name).join(', ')}`);
  for (const c of session) {
    assert.equal(c.httpOnly, true, `${c.name} must be HttpOnly`);
    assert.equal(c.domain, '127.0.0.1', `${c.name} must be host-only`);
    assert.equal(c.path, '/');
    assert.notEqual(c.sameSite, 'None');
  }
  assert.deepEqual(
    cookies.filter((c) => c.name.includes('_f_')).map((c) => c.name),
    [],
    'the login flow cookie is cleared after the callback',
  );
  const readable = await page.evaluate<string>('document.cookie');
  assert.doesNotMatch(readable, /portcullis/, 'scripts cannot read the session cookie');

  // The IdP's own cookies (its session) stay with the IdP: the upstream never receives them.
  const idpCookies = (await context.cookies(demo.issuer)).map((c) => c.name);
  assert.ok(idpCookies.length > 0, 'the IdP keeps a session of its own');
  const echoed = await page.evaluate<{ headers: Record<string, string> }>(
    "fetch('/echo-cookies', { headers: { accept: 'application/json' } }).then((r) => r.json())",
  );
  const forwarded = (echoed.headers['cookie'] ?? '').split(/;\s*/).map((c) => c.split('=')[0]);
  assert.deepEqual(
    forwarded.filter((name) => idpCookies.includes(name ?? '')),
    [],
    `the upstream got the IdP's cookies: ${echoed.headers['cookie']}`,
  );

  // 5. A second visit is let straight through.
  await page.goto(`${origin}/again`);
  assert.equal(await identityRow('X-Forwarded-User').textContent(), 'alice');

  // 6. Sign out with the app's button (a same-origin POST): the IdP's logout confirmation auto-submits and
  //    comes back to /oauth2/signed_out.
  await Promise.all([
    page.waitForURL(`${origin}/oauth2/signed_out`),
    page.getByRole('button', { name: 'Sign out' }).click(),
  ]);
  await page.getByRole('heading', { name: 'You are signed out' }).waitFor();
  await page.screenshot({ path: `${ARTIFACTS}signed-out.png`, fullPage: true });
  const left = (await context.cookies(origin)).filter((c) => /^portcullis(_\d+)?$/.test(c.name));
  assert.deepEqual(left, [], 'the session cookie is cleared');

  // 7. The next visit needs a sign-in again, and the IdP session is over too: its login form comes back.
  await page.goto(`${origin}/after-sign-out`);
  assert.equal(new URL(page.url()).pathname, '/oauth2/sign_in');
  await page.getByRole('link', { name: 'Sign in with the demo IdP' }).click();
  await page.waitForURL((u) => u.origin === demo?.issuer && u.pathname.startsWith('/interaction/'));
  await page.getByLabel('Username').waitFor();
});

test('error pages render in Chromium', { skip: SKIP }, async () => {
  assert.ok(demo);
  const res = await page.goto(`${demo.url}/oauth2/callback?state=bogus&code=x`);
  assert.equal(res?.status(), 400);
  await page.getByRole('heading').first().waitFor();
  const text = (await page.locator('main').textContent()) ?? '';
  assert.match(text, /Error PCL_[A-Z_]+ · HTTP 400 · request id/);
  await page.getByRole('link', { name: 'Try again' }).waitFor();
  await page.screenshot({ path: `${ARTIFACTS}error.png`, fullPage: true });
});
