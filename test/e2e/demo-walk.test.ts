// The demo's walk in Chromium, as a new user would take it, each step recorded as a screenshot (paths in
// the test's diagnostics, under test/e2e/artifacts/demo-walk/, git-ignored; a recorded copy is kept in
// test/e2e/screenshots/demo-walk/): the chooser with two sign-in methods, bob
// signing in, the 403 page on /admin/, the sample app with bob's identity and the verified assertion, the
// services page, and the second service's sign-in through Portcullis's issuer — its consent page, then the
// service showing who signed in.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { after, before, test } from 'node:test';
import type { Page } from 'playwright-core';
import { type RunningDemo, startDemo } from '../../src/demo/run.ts';
import { createLogger } from '../../src/observability/log.ts';
import { ARTIFACTS, type ChromiumSession, openChromium, SKIP } from '../support/chromium.ts';

const SHOTS = `${ARTIFACTS}demo-walk/`;
let demo: RunningDemo | undefined;
let chrome: ChromiumSession | undefined;
let page: Page;

before(async () => {
  if (SKIP) return;
  demo = await startDemo({ host: '127.0.0.1', port: 0, idpPort: 0, appPort: 0 }, createLogger('silent'));
  chrome = await openChromium();
  ({ page } = chrome);
  mkdirSync(SHOTS, { recursive: true });
});
after(async () => {
  await chrome?.close();
  await demo?.close();
});

const row = (heading: string) =>
  page.locator('tr', { has: page.locator('th', { hasText: heading }) }).locator('td');

test('the demo walk: two methods, bob refused /admin/, assertion verified, services, consent', {
  skip: SKIP,
}, async (t) => {
  assert.ok(demo);
  const shots: string[] = [];
  const shot = async (name: string) => {
    const path = `${SHOTS}${shots.length + 1}-${name}.png`;
    await page.screenshot({ path, fullPage: true });
    shots.push(path);
  };

  // 1. The chooser offers two sign-in methods.
  await page.goto(`${demo.url}/`);
  assert.equal(new URL(page.url()).pathname, '/oauth2/sign_in');
  const methods = page.getByRole('link', { name: /^Sign in with/ });
  assert.equal(await methods.count(), 2);
  await page.getByRole('link', { name: 'Sign in with a public client (PKCE, no secret)' }).waitFor();
  await shot('chooser');

  // 2. bob signs in with the second method (the public client).
  await page.getByRole('link', { name: 'Sign in with a public client (PKCE, no secret)' }).click();
  await page.waitForURL((u) => u.origin === demo?.issuer && u.pathname.startsWith('/interaction/'));
  await page.getByLabel('Username').fill('bob');
  await page.getByLabel('Password').fill('bob');
  await Promise.all([
    page.waitForURL(`${demo.url}/`),
    page.getByRole('button', { name: 'Sign in', exact: true }).click(),
  ]);

  // 3. The sample app shows bob's identity and that it verified the assertion against /oauth2/jwks.
  assert.equal(await row('X-Forwarded-User').textContent(), 'bob');
  assert.equal(await row('X-Forwarded-Provider').textContent(), 'demo-public');
  assert.match(
    (await row('Assertion check').textContent()) ?? '',
    /^assertion verified: .*\/oauth2\/jwks.*sub bob/,
  );
  await shot('sample-app');

  // 4. /admin/ is for admins: bob gets the 403 page naming what is missing.
  const admin = await page.goto(`${demo.url}/admin/`);
  assert.equal(admin?.status(), 403);
  assert.match((await page.locator('main').textContent()) ?? '', /admins/);
  await shot('admin-403');

  // 5. The services page lists the second service.
  await page.goto(`${demo.url}/oauth2/services`);
  const link = page.getByRole('link', { name: 'Demo service' });
  await link.waitFor();
  await shot('services');

  // 6. The service signs bob in through Portcullis's issuer: the consent page first.
  await link.click();
  await page.getByRole('link', { name: 'Sign in with Portcullis' }).click();
  await page.getByRole('heading', { name: 'Allow Demo service to use your account?' }).waitFor();
  assert.equal(new URL(page.url()).origin, new URL(demo.url).origin);
  await shot('consent');
  await Promise.all([
    page.waitForURL(`${demo.serviceUrl}/`),
    page.getByRole('button', { name: 'Allow' }).click(),
  ]);
  assert.equal(await row('email').textContent(), 'bob@example.com');
  assert.equal(await row('iss').textContent(), `${demo.url}/oidc`);
  await shot('service-signed-in');

  t.diagnostic(`screenshots: ${shots.join(' ')}`);
});
