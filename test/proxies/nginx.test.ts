// nginx `auth_request` in front of Portcullis's forward-auth, end to end in headless Chromium: the server
// block is examples/nginx.conf itself (ports substituted), run by Debian's nginx on loopback. The walk: a
// deep link whose query has several parameters (one of them named `rd`) shows the sign-in page, survives
// the IdP round trip whole, and the app sees the identity headers nginx set from the sub-request; a user
// the access rules refuse gets Portcullis's 403 page (what is missing), not nginx's bare one; the app's
// sign-out button (a same-origin POST through nginx) signs out. Screenshots land in test/e2e/artifacts/.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { ARTIFACTS, type ChromiumSession, SKIP as NO_CHROMIUM, openChromium } from '../support/chromium.ts';
import { closeAfter } from '../support/cleanup.ts';
import { freePort, type GatewayHarness, startHarness } from '../support/gateway.ts';
import { type DevUser, startTestIdp, type TestIdp } from '../support/idp.ts';
import {
  example,
  NGINX,
  skipWithout,
  startNginx,
  substitute,
  tempDir,
  versionOf,
} from '../support/proxies.ts';

const USERS: DevUser[] = [
  { username: 'alice', password: 'alice', email: 'alice@example.com', name: 'Alice', groups: ['admins'] },
  { username: 'bob', password: 'bob', email: 'bob@example.com', name: 'Bob', groups: ['engineering'] },
];
const SKIP = NO_CHROMIUM || skipWithout(NGINX, 'nginx-light');
const VERSION = SKIP ? 'nginx' : versionOf(NGINX, ['-v']);

describe(`${VERSION} auth_request (examples/nginx.conf) in front of Portcullis, in Chromium`, {
  skip: SKIP,
}, () => {
  const parts = closeAfter();
  let front = '';
  let idp: TestIdp;
  let h: GatewayHarness;
  let chrome: ChromiumSession;
  let page: Page;

  before(async () => {
    const nginxPort = await freePort();
    front = `http://127.0.0.1:${nginxPort}`;
    const secret = randomBytes(16).toString('hex');
    idp = parts.add(
      await startTestIdp({
        clients: [
          { client_id: 'nginx-e2e', client_secret: secret, redirect_uris: [`${front}/oauth2/callback`] },
        ],
        users: USERS,
      }),
    );
    // Portcullis on a port of its own; its public URL is nginx's, the callback comes through nginx.
    const port = await freePort();
    h = parts.add(
      await startHarness({
        address: { port, publicUrl: front, redirectUri: `${front}/oauth2/callback` },
        providers: [
          { id: 'test', type: 'oidc', issuer: idp.issuer, clientId: 'nginx-e2e', clientSecret: secret },
        ],
        config: {
          trustedProxies: ['127.0.0.1'],
          routes: [{ path: '/admin/', allow: { groups: ['admins'] } }],
          logging: { level: 'info' },
        },
      }),
    );
    const dir = parts.add(tempDir('pcl-nginx-e2e-'));
    const server = substitute(example('nginx.conf'), [
      ['listen 443 ssl;', `listen 127.0.0.1:${nginxPort};`],
      ['http://127.0.0.1:4180', `http://127.0.0.1:${port}`],
      ['http://127.0.0.1:8080', h.app.url],
    ]);
    parts.add(await startNginx(dir.path, server, nginxPort));
    chrome = parts.add(await openChromium());
    ({ page } = chrome);
  });

  async function signInAtIdp(user: string): Promise<void> {
    await page.waitForURL((u) => u.origin === idp.issuer && u.pathname.startsWith('/interaction/'));
    await page.getByLabel('Username').fill(user);
    await page.getByLabel('Password').fill(user);
    await Promise.all([
      page.waitForURL((u) => u.origin === front),
      page.getByRole('button', { name: 'Sign in', exact: true }).click(),
    ]);
  }

  /** The sample app's identity table, as { row label: value }. */
  async function identityRows(): Promise<Record<string, string>> {
    const rows = await page
      .locator('tr')
      .evaluateAll((trs) =>
        trs.map((tr) => [
          tr.querySelector('th')?.textContent ?? '',
          tr.querySelector('td')?.textContent ?? '',
        ]),
      );
    return Object.fromEntries(rows);
  }

  test('a deep link with several query parameters survives sign-in; the app sees who signed in', async () => {
    const deep = `${front}/reports/q?x=1&y=2&rd=%2Fnot-this&z=a%26b`;
    const first = await page.goto(deep);
    // The sign-in page, at the URL asked for (nginx's internal redirect), with Portcullis's button.
    assert.equal(first?.status(), 200);
    assert.equal(page.url(), deep);
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await page.screenshot({ path: `${ARTIFACTS}nginx-sign-in.png`, fullPage: true });
    await page.getByRole('link', { name: /Sign in with/ }).click();
    await signInAtIdp('alice');
    assert.equal(page.url(), deep, 'back on the deep link, every parameter kept');
    const rows = await identityRows();
    assert.equal(rows['User (X-Forwarded-User)'], 'alice');
    assert.equal(rows['Email (X-Forwarded-Email)'], 'alice@example.com');
    assert.equal(rows['Groups (X-Forwarded-Groups)'], 'admins');
    assert.equal(rows['Request'], 'GET /reports/q?x=1&y=2&rd=%2Fnot-this&z=a%26b');
    // alice is an admin: the route rule lets her through nginx.
    assert.equal((await page.goto(`${front}/admin/panel`))?.status(), 200);
  });

  test('sign-out: the app’s button (a same-origin POST through nginx) ends the session', async () => {
    await page.goto(`${front}/`);
    await Promise.all([
      page.waitForURL(`${front}/oauth2/signed_out`),
      page.getByRole('button', { name: 'Sign out' }).click(),
    ]);
    await page.getByRole('heading', { name: 'You are signed out' }).waitFor();
    // A GET of /oauth2/sign_out (a link, another site) only asks for confirmation.
    const again = await page.goto(`${front}/reports/q?x=1`);
    assert.equal(again?.status(), 200);
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  });

  test('a user the rules refuse gets Portcullis’s 403 page saying what is missing, not nginx’s', async () => {
    // A fresh browser (the IdP would otherwise remember alice), straight to a page bob may not see.
    await chrome.context.clearCookies();
    const target = `${front}/admin/panel?x=1&y=2`;
    await page.goto(target);
    await page.getByRole('link', { name: /Sign in with/ }).click();
    const denied = page.waitForResponse((r) => r.url() === target);
    await signInAtIdp('bob');
    assert.equal((await denied).status(), 403);
    assert.equal(page.url(), target);
    await page.getByRole('heading', { name: 'You do not have access' }).waitFor();
    const text = (await page.locator('main').textContent()) ?? '';
    await page.screenshot({ path: `${ARTIFACTS}nginx-forbidden.png`, fullPage: true });
    assert.match(text, /admins/, 'the page names the missing group');
    assert.doesNotMatch(await page.content(), /<center>nginx/);
    await page.goto(`${front}/`);
    assert.equal((await identityRows())['User (X-Forwarded-User)'], 'bob');
    // The confirmation page, then its button: signed out through nginx.
    await page.goto(`${front}/oauth2/sign_out`);
    await page.getByRole('heading', { name: 'Sign out?' }).waitFor();
    await Promise.all([
      page.waitForURL(`${front}/oauth2/signed_out`),
      page.getByRole('button', { name: 'Sign out' }).click(),
    ]);
    const after = await page.goto(`${front}/admin/panel`);
    assert.equal(after?.status(), 200, 'the sign-in page again');
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  });
});
