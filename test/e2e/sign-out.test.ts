// Logout CSRF in a real browser: headless Debian Chromium, signed in to a gateway with the issuer mounted,
// visits pages of another origin (a second loopback server: same host, another port — so the SameSite=Lax
// session cookie IS sent along, and only Portcullis's own check stands in the way). Those pages navigate
// the browser to /oauth2/sign_out, auto-submit a form POST to it, and navigate to the issuer's
// /oidc/sign_out and /oidc/session/end: the session survives all of them. Then a click on the confirmation
// page's button (same origin) signs out. Screenshots land in test/e2e/artifacts/ (git-ignored).
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import type { Page } from 'playwright-core';
import { ARTIFACTS, type ChromiumSession, openChromium, SKIP } from '../support/chromium.ts';
import { type IssuerStack, startIssuerStack } from '../support/issuer.ts';

let stack: IssuerStack | undefined;
let evil: http.Server | undefined;
let evilUrl = '';
let chrome: ChromiumSession | undefined;
let page: Page;

/** The other origin's pages, each aimed at the gateway `gate`. */
function evilPage(gate: string, path: string): string {
  const script = (js: string) => `<!doctype html><title>elsewhere</title><script>${js}</script>`;
  switch (path) {
    case '/nav':
      return script(`location.href = ${JSON.stringify(`${gate}/oauth2/sign_out?rd=/`)};`);
    case '/post':
      return `<!doctype html><title>elsewhere</title><form method="post" action="${gate}/oauth2/sign_out"><input type="hidden" name="rd" value="/"></form><script>document.forms[0].submit();</script>`;
    case '/issuer-sign-out':
      return script(`location.href = ${JSON.stringify(`${gate}/oidc/sign_out`)};`);
    case '/end-session':
      return script(`location.href = ${JSON.stringify(`${gate}/oidc/session/end`)};`);
    default:
      return 'nothing here';
  }
}

before(async () => {
  if (SKIP) return;
  stack = await startIssuerStack();
  const gate = stack.url;
  evil = http.createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(evilPage(gate, req.url ?? '/'));
  });
  await new Promise<void>((resolve) => evil!.listen(0, '127.0.0.1', resolve));
  evilUrl = `http://127.0.0.1:${(evil.address() as AddressInfo).port}`;
  chrome = await openChromium();
  ({ page } = chrome);
});

after(async () => {
  await chrome?.close();
  await new Promise((resolve) => (evil ? evil.close(resolve) : resolve(undefined)));
  await stack?.close();
});

/** Whether the browser still has its gate session (a real navigation, with the browser's own cookies). */
async function signedIn(gate: string): Promise<boolean> {
  const r = await page.goto(`${gate}/oauth2/userinfo`);
  return r?.status() === 200;
}

test('pages on another origin cannot sign the browser out; the confirmation button can', {
  skip: SKIP,
}, async () => {
  assert.ok(stack);
  const gate = stack.url;
  const issuer = stack.idp.issuer;

  // Sign in at the gate (the dev IdP's form).
  await page.goto(`${gate}/oauth2/start?rd=/`);
  await page.waitForURL((u) => u.origin === issuer && u.pathname.startsWith('/interaction/'));
  await page.getByLabel('Username').fill('alice');
  await page.getByLabel('Password').fill('alice');
  await Promise.all([
    page.waitForURL(`${gate}/`),
    page.getByRole('button', { name: 'Sign in', exact: true }).click(),
  ]);
  assert.ok(await signedIn(gate), 'signed in');

  // 1. A cross-origin navigation to /oauth2/sign_out shows the confirmation page only.
  await page.goto(`${evilUrl}/nav`);
  await page.waitForURL((u) => u.origin === gate);
  const landed = new URL(page.url()).pathname;
  await page.screenshot({ path: `${ARTIFACTS}sign-out-confirm.png`, fullPage: true });
  assert.ok(await signedIn(gate), 'still signed in after a cross-origin navigation');
  assert.equal(landed, '/oauth2/sign_out', 'the confirmation page');

  // 2. A cross-origin form, auto-submitted: the POST is refused (403 PCL_CROSS_SITE).
  const refused = page.waitForResponse((r) => r.url() === `${gate}/oauth2/sign_out`);
  await page.goto(`${evilUrl}/post`);
  assert.equal((await refused).status(), 403);
  await page.getByRole('heading', { name: 'This request came from another site' }).waitFor();
  await page.screenshot({ path: `${ARTIFACTS}sign-out-cross-site.png`, fullPage: true });
  assert.ok(await signedIn(gate), 'still signed in after a cross-origin POST');

  // 3. The issuer's stop on the gate's way out, reached from elsewhere: nothing ends, the confirmation shows.
  await page.goto(`${evilUrl}/issuer-sign-out`);
  await page.waitForURL((u) => u.origin === gate);
  await page.getByRole('heading', { name: 'Sign out?' }).waitFor();
  assert.equal(new URL(page.url()).pathname, '/oauth2/sign_out');
  assert.ok(await signedIn(gate), 'still signed in after /oidc/sign_out from elsewhere');

  // 4. The issuer's end-session from elsewhere (no issuer session here: oidc-provider auto-submits its
  //    form): the service-side logout completes, the gate session stays and the page says so.
  await page.goto(`${evilUrl}/end-session`);
  await page.waitForURL(`${gate}/oidc/session/end/success`);
  const said = (await page.locator('main').textContent()) ?? '';
  assert.ok(await signedIn(gate), 'still signed in after /oidc/session/end from elsewhere');
  assert.match(said, /You are still signed in to Portcullis\./);

  // 5. Same origin: the confirmation page's button signs out.
  await page.goto(`${gate}/oauth2/sign_out`);
  await Promise.all([
    page.waitForURL(`${gate}/oauth2/signed_out`),
    page.getByRole('button', { name: 'Sign out' }).click(),
  ]);
  await page.getByRole('heading', { name: 'You are signed out' }).waitFor();
  assert.equal(await signedIn(gate), false, 'signed out by the button');
});
