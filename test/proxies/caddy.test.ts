// Caddy `forward_auth` in front of Portcullis, end to end with the scripted browser: the site block is
// examples/Caddyfile itself (addresses substituted), run by Debian's caddy on loopback. The walk: a deep
// link with several query parameters shows the sign-in page and survives the IdP round trip whole; the app
// sees the identity headers Caddy copied from the sub-request, and never a copy the client sent; a user the
// rules refuse gets Portcullis's 403 page; sign-out through Caddy (a same-origin POST) ends the session.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { type Browser, type BrowserResponse, decodeEntities } from '../support/browser.ts';
import { closeAfter } from '../support/cleanup.ts';
import { freePort, type GatewayHarness, startHarness } from '../support/gateway.ts';
import { type DevUser, startTestIdp } from '../support/idp.ts';
import {
  CADDY,
  example,
  skipWithout,
  startProcess,
  substitute,
  tempDir,
  versionOf,
} from '../support/proxies.ts';

const USERS: DevUser[] = [
  { username: 'alice', password: 'alice', email: 'alice@example.com', name: 'Alice', groups: ['admins'] },
  { username: 'bob', password: 'bob', email: 'bob@example.com', name: 'Bob', groups: ['engineering'] },
  { username: 'carol', password: 'carol', email: 'carol@example.com', name: 'Carol', groups: [] },
];
const SKIP = skipWithout(CADDY, 'caddy');
const VERSION = SKIP ? '' : versionOf(CADDY, ['version']);

/** The JSON echo of the sample app (Accept: application/json): what the application received. */
interface Echo {
  path: string;
  headers: Record<string, string | undefined>;
}

describe(`Caddy ${VERSION} forward_auth (examples/Caddyfile) in front of Portcullis`, { skip: SKIP }, () => {
  const parts = closeAfter();
  let front = '';
  let h: GatewayHarness;

  before(async () => {
    const caddyPort = await freePort();
    front = `http://127.0.0.1:${caddyPort}`;
    const secret = randomBytes(16).toString('hex');
    const idp = parts.add(
      await startTestIdp({
        clients: [
          { client_id: 'caddy-e2e', client_secret: secret, redirect_uris: [`${front}/oauth2/callback`] },
        ],
        users: USERS,
      }),
    );
    const port = await freePort();
    h = parts.add(
      await startHarness({
        address: { port, publicUrl: front, redirectUri: `${front}/oauth2/callback` },
        providers: [
          { id: 'test', type: 'oidc', issuer: idp.issuer, clientId: 'caddy-e2e', clientSecret: secret },
        ],
        config: {
          trustedProxies: ['127.0.0.1'],
          routes: [{ path: '/admin/', allow: { groups: ['admins'] } }],
          logging: { level: 'info' },
        },
      }),
    );
    const dir = parts.add(tempDir('pcl-caddy-e2e-'));
    const site = substitute(example('Caddyfile'), [
      ['platform.example.com {', `${front} {`],
      ['127.0.0.1:4180', `127.0.0.1:${port}`],
      ['127.0.0.1:8080', h.app.url.replace('http://', '')],
    ]);
    const file = join(dir.path, 'Caddyfile');
    writeFileSync(file, `{\n\tadmin off\n\tauto_https off\n}\n${site}\n`);
    for (const d of ['data', 'config']) mkdirSync(join(dir.path, d));
    const env = {
      ...process.env,
      HOME: dir.path,
      XDG_DATA_HOME: join(dir.path, 'data'),
      XDG_CONFIG_HOME: join(dir.path, 'config'),
    };
    parts.add(
      await startProcess(CADDY, ['run', '--config', file, '--adapter', 'caddyfile'], [caddyPort], env),
    );
  });

  /** From the sign-in page (shown at the URL asked for) through the IdP's form, back through Caddy. */
  async function signIn(b: Browser, page: BrowserResponse, user: string): Promise<BrowserResponse> {
    assert.equal(page.status, 200, page.body.slice(0, 300));
    const href = /<a class="button" href="([^"]+)"/.exec(page.body)?.[1];
    assert.ok(href, `a sign-in button: ${page.body.slice(0, 300)}`);
    const login = await b.get(new URL(decodeEntities(href), front));
    return b.signInAtDevIdp(login, user, user);
  }

  test('a deep link with several query parameters survives sign-in; the app sees who signed in', async () => {
    const b = h.browser();
    const deep = `${front}/api/reports?x=1&y=2&rd=%2Fnot-this&z=a%26b`;
    const page = await b.get(deep);
    assert.equal(page.url, deep, 'the sign-in page, at the URL asked for');
    assert.match(page.body, /Sign in with test/);
    const back = await signIn(b, page, 'alice');
    assert.equal(back.status, 200);
    assert.equal(back.url, deep, 'every parameter kept');
    const echo = JSON.parse(back.body) as Echo;
    assert.equal(echo.path, '/api/reports?x=1&y=2&rd=%2Fnot-this&z=a%26b');
    assert.equal(echo.headers['x-forwarded-user'], 'alice');
    assert.equal(echo.headers['x-forwarded-email'], 'alice@example.com');
    assert.equal(echo.headers['x-forwarded-groups'], 'admins');
    assert.equal((await b.get(`${front}/admin/x`)).status, 200, 'an admin passes the route rule');

    // Sign-out through Caddy: the confirmation page, its button (a POST from the same origin).
    const out = await b.signOut(front);
    assert.equal(out.url, `${front}/oauth2/signed_out`);
    assert.match(out.body, /You are signed out/);
    const again = await b.get(`${front}/api/reports`);
    assert.match(again.body, /Sign in with test/, 'signed out');
  });

  test('identity headers a client sends are never what the app sees', async () => {
    const b = h.browser();
    const back = await signIn(b, await b.get(`${front}/api/x`), 'carol');
    assert.equal((JSON.parse(back.body) as Echo).headers['x-forwarded-user'], 'carol');
    // carol has no groups: the auth answer has no X-Auth-Request-Groups to copy over the client's.
    const spoofed = await b.get(`${front}/api/x`, {
      headers: {
        'X-Forwarded-Groups': 'admins',
        'X-Forwarded-User': 'alice',
        'X-Forwarded-Preferred-Username': 'alice',
      },
    });
    const seen = (JSON.parse(spoofed.body) as Echo).headers;
    assert.equal(seen['x-forwarded-user'], 'carol');
    assert.equal(seen['x-forwarded-groups'], undefined);
    assert.equal(seen['x-forwarded-preferred-username'], 'carol');
  });

  test('a user the rules refuse gets Portcullis’s 403 page saying what is missing', async () => {
    const b = h.browser();
    const target = `${front}/admin/panel?x=1&y=2`;
    const back = await signIn(b, await b.get(target), 'bob');
    assert.equal(back.url, target);
    assert.equal(back.status, 403);
    assert.match(back.body, /You do not have access/);
    assert.match(back.body, /admins/);
  });
});
