// The operator console in a real browser (headless Debian Chromium): alice (in `admins`) signs in through
// the real test IdP on her way to /oauth2/admin and walks every panel — recent denials (bob's refusal),
// explain (from the denial's link), what-if (a pasted rule), live checks, sessions (bob signed out
// everywhere), a sign-in trace — and bob, signed in but no admin, gets the 403 page. With
// PORTCULLIS_SCREENSHOTS=1 the screenshots go to docs/img/console-*.png (the docs show them); otherwise to
// test/e2e/artifacts/, so a normal run leaves the tree clean.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import type { BrowserContext, Page } from 'playwright-core';
import { ARTIFACTS, type ChromiumSession, openChromium, SKIP } from '../support/chromium.ts';
import { type Stack, startStack } from '../support/stack.ts';

const REDIS = process.env['PORTCULLIS_TEST_REDIS'] ?? 'redis://127.0.0.1:6379/0';
const prefix = `portcullis-test:console-e2e:${randomBytes(4).toString('hex')}:`;
const DOCS_IMG = fileURLToPath(new URL('../../docs/img/', import.meta.url));
const shotsDir = process.env['PORTCULLIS_SCREENSHOTS'] === '1' ? DOCS_IMG : ARTIFACTS;

let stack: Stack | undefined;
let chrome: ChromiumSession | undefined;

before(async () => {
  if (SKIP) return;
  stack = await startStack({
    config: (c) => ({
      ...c,
      admin: { enabled: true, allow: { groups: ['admins'] } },
      sessions: { store: 'redis', url: REDIS, keyPrefix: prefix },
      routes: [...(c['routes'] as unknown[]), { path: '/admin/', allow: { groups: ['admins'] } }],
    }),
  });
  chrome = await openChromium();
});

after(async () => {
  await chrome?.close();
  await stack?.close();
  const r = new Redis(REDIS);
  const keys = await r.keys(`${prefix}*`);
  if (keys.length > 0) await r.del(...keys);
  await r.quit();
});

/** At the dev IdP's login form (after a redirect there): signs in and waits to be back at the gate. */
async function signInAtIdp(page: Page, user: string, back: string | RegExp): Promise<void> {
  await page.waitForURL((u) => u.origin === stack!.idp.issuer && u.pathname.startsWith('/interaction/'));
  await page.getByLabel('Username').fill(user);
  await page.getByLabel('Password').fill(user);
  await Promise.all([
    page.waitForURL(back),
    page.getByRole('button', { name: 'Sign in', exact: true }).click(),
  ]);
}

async function newPage(): Promise<{ context: BrowserContext; page: Page }> {
  const context = await chrome!.browser.newContext({
    viewport: { width: 1180, height: 760 },
    colorScheme: 'light',
  });
  context.setDefaultTimeout(10_000);
  return { context, page: await context.newPage() };
}

test('an admin walks every panel; a signed-in non-admin is refused', { skip: SKIP }, async (t) => {
  assert.ok(stack && chrome);
  const gate = stack.url;
  const shot = (page: Page, name: string) =>
    page.screenshot({ path: `${shotsDir}console-${name}.png`, fullPage: true });

  // bob signs in, is refused on /admin/ (a denial to find later) and by the console (403 page).
  const b = await newPage();
  await b.page.goto(`${gate}/oauth2/start?rd=/`);
  await signInAtIdp(b.page, 'bob', `${gate}/`);
  assert.equal((await b.page.goto(`${gate}/admin/reports`))?.status(), 403);
  const refused = await b.page.goto(`${gate}/oauth2/admin`);
  assert.equal(refused?.status(), 403);
  assert.match((await b.page.locator('main').textContent()) ?? '', /PCL_FORBIDDEN/);
  await shot(b.page, 'refused');

  // alice, anonymous, asks for the console: sent to sign in, and back to it.
  const { page } = await newPage();
  await page.goto(`${gate}/oauth2/admin/denials`);
  await page.getByRole('link', { name: /Sign in with/ }).click();
  await signInAtIdp(page, 'alice', `${gate}/oauth2/admin/denials`);
  await page.getByRole('heading', { name: 'Recent denials' }).waitFor();

  // Recent denials: bob's, filtered by user.
  await page.getByLabel('User').fill('bob');
  await page.getByLabel('Path').fill('/admin/');
  await page.getByRole('button', { name: 'Filter' }).click();
  const row = page.locator('#denials tbody tr').first();
  assert.match((await row.textContent()) ?? '', /bob@example\.com.*group-missing/s);
  await shot(page, 'denials');

  // Explain, from the denial's link: refused at the route layer, group-missing.
  await row.getByRole('link', { name: 'explain' }).click();
  await page.locator('#outcome').waitFor();
  assert.equal(await page.locator('#outcome').textContent(), 'refused');
  assert.match((await page.locator('#explanation').textContent()) ?? '', /route.*\/admin\/.*group-missing/s);
  await shot(page, 'explain');

  // What-if: letting engineering in would turn bob's refusal around.
  await page.getByRole('link', { name: 'What-if' }).click();
  await page
    .locator('#change')
    .fill('routes:\n  - { path: /admin/, allow: { groups: [admins, engineering] } }\n');
  await page.getByRole('button', { name: 'Show what would change' }).click();
  await page.locator('#what-if-result').waitFor();
  assert.notEqual(await page.locator('#changed-count').textContent(), '0');
  assert.match((await page.locator('#what-if-changes').textContent()) ?? '', /bob@example\.com/);
  await shot(page, 'what-if');

  // Live checks, run now.
  await page.getByRole('link', { name: 'Live checks' }).click();
  await page.getByRole('button', { name: 'Run the checks now' }).click();
  await page.locator('#findings').waitFor();
  assert.match((await page.locator('#findings').textContent()) ?? '', /provider\./);
  await shot(page, 'checks');

  // Sessions: bob signed in; signed out everywhere from here.
  await page.getByRole('link', { name: 'Sessions' }).click();
  const bobSub = stack.idp.users.find((u) => u.username === 'bob')!.sub!;
  await shot(page, 'sessions');
  await page
    .locator(
      `form:has(input[name="action"][value="revoke-all"]):has(input[name="sub"][value="${bobSub}"]) button`,
    )
    .first()
    .click();
  await page.locator('#result').waitFor();
  assert.match((await page.locator('#result').textContent()) ?? '', /1 session\(s\) ended/);
  assert.equal((await b.page.goto(`${gate}/oauth2/userinfo`))?.status(), 401, 'bob is signed out');

  // Sign-in trace: alice's own sign-in, every step.
  await page.getByRole('link', { name: 'Sign-in trace' }).click();
  await page.locator('#traces tbody tr a').first().click();
  await page.locator('#trace-steps').waitFor();
  const steps = (await page.locator('#trace-steps').textContent()) ?? '';
  for (const s of [
    'start',
    'redirect to the IdP',
    'callback',
    'code exchange',
    'ID token checks',
    'access rules',
  ])
    assert.ok(steps.includes(s), s);
  await shot(page, 'trace');
  await b.context.close();
  t.diagnostic(`screenshots in ${shotsDir}`);
});
