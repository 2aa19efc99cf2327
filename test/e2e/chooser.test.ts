// The provider chooser in a real browser: headless Debian Chromium (playwright-core, no downloaded
// browsers) in front of a gateway with two providers — a real OpenID provider (oidc-provider, the dev IdP)
// and the GitHub stub. The user picks GitHub by clicking its button on the sign-in page, signs in there and
// lands on the page first asked for; after signing out, picks the other provider the same way. The icon
// on a button must load under the page's Content-Security-Policy. Screenshots land in test/e2e/artifacts/.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Page } from 'playwright-core';
import { ARTIFACTS, type ChromiumSession, openChromium, SKIP } from '../support/chromium.ts';
import { type GatewayHarness, reserveAddress, startHarness } from '../support/gateway.ts';
import { startTestIdp, type TestIdp } from '../support/idp.ts';
import { type GithubStub, startGithubStub } from '../support/stubs/github.ts';

const SECRET = 'chooser-client-secret-0123456789';
// A 1×1 PNG: an icon that loads only if the sign-in page's CSP lets data: images in.
const ICON =
  'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';

let idp: TestIdp | undefined;
let github: GithubStub | undefined;
let h: GatewayHarness | undefined;
let chrome: ChromiumSession | undefined;
let page: Page;
const violations: string[] = [];

before(async () => {
  if (SKIP) return;
  const address = await reserveAddress();
  const [corp, gh] = await Promise.all([
    startTestIdp({
      clients: [{ client_id: 'portcullis', client_secret: SECRET, redirect_uris: [address.redirectUri] }],
    }).then((x) => (idp = x)),
    startGithubStub({
      clientId: 'Iv1.chooser',
      clientSecret: SECRET,
      callbackUrl: address.redirectUri,
      users: [
        {
          login: 'octocat',
          password: 'octocat',
          id: 583231,
          name: 'The Octocat',
          email: null,
          emails: [{ email: 'octocat@example.com', primary: true, verified: true }],
          orgs: [{ login: 'acme', public: true }],
          teams: [['acme', 'platform']],
        },
      ],
    }).then((x) => (github = x)),
  ]);
  h = await startHarness({
    address,
    providers: [
      {
        id: 'corp',
        type: 'oidc',
        displayName: 'Corp SSO',
        icon: ICON,
        issuer: corp.issuer,
        clientId: 'portcullis',
        clientSecret: SECRET,
      },
      {
        id: 'github',
        type: 'github',
        baseUrl: gh.url,
        clientId: 'Iv1.chooser',
        clientSecret: SECRET,
        orgs: ['acme'],
      },
    ],
    // Ignored with two providers: the chooser must still be shown.
    config: { autoLogin: true },
  });
  chrome = await openChromium();
  ({ page } = chrome);
  page.on('console', (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) violations.push(m.text());
  });
});

after(async () => {
  // Each, even when one fails: a listener left open keeps the file's process alive.
  await Promise.allSettled([chrome?.close(), h?.close(), idp?.close(), github?.close()]);
});

function identityRow(heading: string) {
  return page.locator('tr', { has: page.locator('th', { hasText: heading }) }).locator('td');
}

test('signs in through the chooser in Chromium: GitHub first, then the OpenID provider', {
  skip: SKIP,
}, async () => {
  assert.ok(h && idp && github);
  const original = `${h.url}/reports/weekly?team=core`;

  // 1. Two providers: the visit lands on the chooser, which offers both.
  await page.goto(original);
  assert.equal(new URL(page.url()).pathname, '/oauth2/sign_in');
  assert.equal(await page.title(), 'Sign in');
  const buttons = page.locator('.providers a.button');
  assert.deepEqual(await buttons.allTextContents(), ['Sign in with Corp SSO', 'Sign in with GitHub']);
  const icon = page.getByRole('link', { name: 'Sign in with Corp SSO' }).locator('img');
  await icon.waitFor();
  assert.equal(
    await icon.evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth),
    1,
    'the icon loads',
  );
  await page.screenshot({ path: `${ARTIFACTS}chooser.png`, fullPage: true });

  // 2. Click GitHub: the stub's login page, then back to the page first asked for.
  await Promise.all([
    page.waitForURL((u) => u.origin === github?.url && u.pathname === '/login/oauth/authorize'),
    page.getByRole('link', { name: 'Sign in with GitHub' }).click(),
  ]);
  await page.getByLabel('Username').fill('octocat');
  await page.getByLabel('Password').fill('octocat');
  await Promise.all([
    page.waitForURL(original),
    page.getByRole('button', { name: 'Sign in', exact: true }).click(),
  ]);
  assert.equal(await identityRow('X-Forwarded-User').textContent(), '583231');
  assert.equal(await identityRow('X-Forwarded-Email').textContent(), 'octocat@example.com');
  assert.equal(await identityRow('X-Forwarded-Preferred-Username').textContent(), 'octocat');
  assert.equal(await identityRow('X-Forwarded-Groups').textContent(), 'acme/platform');
  await page.screenshot({ path: `${ARTIFACTS}chooser-github-signed-in.png`, fullPage: true });

  // 3. Sign out, then pick the other provider on the chooser.
  await page.goto(`${h.url}/oauth2/sign_out`);
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'You are signed out' }).waitFor();
  await page.goto(`${h.url}/second`);
  assert.equal(new URL(page.url()).pathname, '/oauth2/sign_in');
  await Promise.all([
    page.waitForURL((u) => u.origin === idp?.issuer && u.pathname.startsWith('/interaction/')),
    page.getByRole('link', { name: 'Sign in with Corp SSO' }).click(),
  ]);
  await page.getByLabel('Username').fill('alice');
  await page.getByLabel('Password').fill('alice');
  await Promise.all([
    page.waitForURL(`${h.url}/second`),
    page.getByRole('button', { name: 'Sign in', exact: true }).click(),
  ]);
  assert.equal(await identityRow('X-Forwarded-User').textContent(), 'alice');
  assert.equal(await identityRow('X-Forwarded-Email').textContent(), 'alice@example.com');
  const info = (await (await page.request.get(`${h.url}/oauth2/userinfo`)).json()) as { provider: string };
  assert.equal(info.provider, 'corp');
  assert.deepEqual(violations, [], 'no Content-Security-Policy violation');
});

test('an unknown provider in the start link shows a clear page that leads back to the chooser', {
  skip: SKIP,
}, async () => {
  assert.ok(h);
  const res = await page.goto(`${h.url}/oauth2/start?provider=gitlab&rd=/`);
  assert.equal(res?.status(), 400);
  await page.getByRole('heading', { name: 'Unknown sign-in method' }).waitFor();
  await Promise.all([
    page.waitForURL((u) => u.pathname === '/oauth2/sign_in'),
    page.getByRole('link', { name: 'Try again' }).click(),
  ]);
  assert.equal(await page.locator('.providers a.button').count(), 2);
});
