// The issuer in a real browser: headless Debian Chromium signs in to a sample service (an openid-client
// relying party, test/support/service.ts) through Portcullis's issuer — the gate's upstream login at the dev
// IdP, then Portcullis's consent page — and lands on the service signed in. Screenshots go to
// test/e2e/artifacts/ (git-ignored).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import type { BrowserContext, Page } from 'playwright-core';
import { ARTIFACTS, type ChromiumSession, openChromium, SKIP } from '../support/chromium.ts';
import { type IssuerStack, startIssuerStack } from '../support/issuer.ts';
import { type SampleService, startSampleService } from '../support/service.ts';

let stack: IssuerStack | undefined;
let service: SampleService | undefined;
let chrome: ChromiumSession | undefined;
let context: BrowserContext | undefined;
let page: Page;

before(async () => {
  if (SKIP) return;
  service = await startSampleService();
  const secret = randomBytes(32).toString('base64url');
  const svc = service;
  stack = await startIssuerStack({
    config: (base) => {
      const issuer = base['issuer'] as { clients: Record<string, unknown>[] };
      issuer.clients.push({
        id: 'sample-service',
        secret,
        redirectUris: [svc.redirectUri],
        display: {
          name: 'Sample Service',
          url: `${svc.url}/`,
          description: 'A service that trusts Portcullis',
        },
      });
      return base;
    },
  });
  service.connect(stack.issuer, 'sample-service', secret);
  chrome = await openChromium();
  ({ context, page } = chrome);
});

after(async () => {
  await chrome?.close();
  await stack?.close();
  await service?.close();
});

function row(heading: string) {
  return page.locator('tr', { has: page.locator('th', { hasText: heading }) }).locator('td');
}

test('signs in to a sample service through the issuer, with the consent page, in Chromium', {
  skip: SKIP,
}, async () => {
  assert.ok(stack && service && context);
  const gateway = new URL(stack.url).origin;

  // 1. The service offers to sign in with Portcullis; the link goes to /oidc/auth, then the gate's
  //    upstream sign-in: the dev IdP's login form.
  await page.goto(`${service.url}/`);
  await page.getByRole('link', { name: 'Sign in with Portcullis' }).click();
  await page.waitForURL((u) => u.origin === stack?.idp.issuer && u.pathname.startsWith('/interaction/'));
  await page.getByLabel('Username').fill('alice');
  await page.getByLabel('Password').fill('alice');

  // 2. Back at Portcullis: the consent page, with the service's name and the scopes in words.
  await Promise.all([
    page.waitForURL((u) => u.origin === gateway && u.pathname.startsWith('/oidc/interaction/')),
    page.getByRole('button', { name: 'Sign in', exact: true }).click(),
  ]);
  await page.getByRole('heading', { name: 'Allow Sample Service to use your account?' }).waitFor();
  const text = (await page.locator('main').textContent()) ?? '';
  assert.match(text, /Signed in as Alice Admin \(alice@example\.com\)/);
  assert.match(text, /A service that trusts Portcullis/);
  for (const words of [
    'Know that it is you',
    'See your name and username',
    'See your email address',
    'See the groups you belong to',
  ]) {
    assert.ok(text.includes(words), words);
  }
  await page.screenshot({ path: `${ARTIFACTS}issuer-consent.png`, fullPage: true });

  // 3. Allow: the browser returns to the service (a cross-origin redirect after the form, which the page's
  //    form-action allows), and the service shows who signed in.
  await Promise.all([
    page.waitForURL(`${service.url}/`),
    page.getByRole('button', { name: 'Allow' }).click(),
  ]);
  await page.getByRole('heading', { name: 'Hello, Alice Admin' }).waitFor();
  assert.equal(await row('preferred_username').textContent(), 'alice');
  assert.equal(await row('email').textContent(), 'alice@example.com');
  assert.equal(await row('groups').textContent(), 'admins,engineering');
  assert.match((await row('sub').textContent()) ?? '', /^[A-Za-z0-9_-]{43}$/);
  await page.screenshot({ path: `${ARTIFACTS}issuer-service-signed-in.png`, fullPage: true });

  // 4. The issuer's cookies are HttpOnly and scoped to /oidc; nothing of Portcullis is readable by scripts.
  // (cookies(url) would list only cookies whose path covers that URL's path: ask for all of them.)
  const cookies = await context.cookies();
  const issuerCookies = cookies.filter((c) => c.name.startsWith('portcullis_oidc'));
  assert.ok(issuerCookies.some((c) => c.name === 'portcullis_oidc' && c.path === '/oidc'));
  for (const c of issuerCookies) {
    assert.equal(c.httpOnly, true, c.name);
    assert.ok(c.path.startsWith('/oidc'), `${c.name} at ${c.path}`);
  }

  // 5. Signing in again is one click: the gate session and the remembered consent carry it through.
  const again = await context.newPage();
  await again.goto(`${service.url}/login`);
  await again.waitForURL(`${service.url}/`);
  await again.getByRole('heading', { name: 'Hello, Alice Admin' }).waitFor();
  await again.close();
});
