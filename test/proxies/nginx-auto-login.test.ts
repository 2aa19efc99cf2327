// nginx `auth_request` (examples/nginx.conf itself, ports substituted) in front of Portcullis with
// `autoLogin` and one provider: nginx's `error_page 401 = /oauth2/sign_in` is an internal redirect, so the
// browser gets Portcullis's answer for the page it asked for — now the 302 to the IdP, with the flow
// cookie — and signs in with one redirect before the IdP, not two. The deep link comes back whole
// (X-Auth-Request-Redirect). The scripted browser counts the requests (test/support/browser.ts).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { before, describe, test } from 'node:test';
import { Browser } from '../support/browser.ts';
import { closeAfter } from '../support/cleanup.ts';
import { freePort, startHarness } from '../support/gateway.ts';
import { startTestIdp, type TestIdp } from '../support/idp.ts';
import {
  example,
  NGINX,
  skipWithout,
  startNginx,
  substitute,
  tempDir,
  versionOf,
} from '../support/proxies.ts';

const SKIP = skipWithout(NGINX, 'nginx-light');
const VERSION = SKIP ? 'nginx' : versionOf(NGINX, ['-v']);

describe(`${VERSION} auth_request with autoLogin: one redirect to the IdP`, { skip: SKIP }, () => {
  const parts = closeAfter();
  let front = '';
  let idp: TestIdp;

  before(async () => {
    const nginxPort = await freePort();
    front = `http://127.0.0.1:${nginxPort}`;
    const secret = randomBytes(16).toString('hex');
    idp = parts.add(
      await startTestIdp({
        clients: [
          { client_id: 'nginx-auto', client_secret: secret, redirect_uris: [`${front}/oauth2/callback`] },
        ],
      }),
    );
    const port = await freePort();
    const h = parts.add(
      await startHarness({
        address: { port, publicUrl: front, redirectUri: `${front}/oauth2/callback` },
        providers: [
          { id: 'test', type: 'oidc', issuer: idp.issuer, clientId: 'nginx-auto', clientSecret: secret },
        ],
        config: { trustedProxies: ['127.0.0.1'], autoLogin: true },
      }),
    );
    const dir = parts.add(tempDir('pcl-nginx-auto-'));
    const server = substitute(example('nginx.conf'), [
      ['listen 443 ssl;', `listen 127.0.0.1:${nginxPort};`],
      ['http://127.0.0.1:4180', `http://127.0.0.1:${port}`],
      ['http://127.0.0.1:8080', h.app.url],
    ]);
    parts.add(await startNginx(dir.path, server, nginxPort));
  });

  test('the page asked for answers 302 to the IdP; sign-in returns to it whole', async () => {
    const b = new Browser();
    const deep = `${front}/reports/q?x=1&y=2`;
    const first = await b.get(deep, { followRedirects: false });
    assert.equal(first.status, 302);
    assert.equal(new URL(first.headers.location!).origin, idp.issuer, 'straight to the IdP');
    assert.ok(
      b.jar.names(front).some((n) => n.startsWith('portcullis_f_')),
      'the flow cookie came through',
    );
    const login = await b.get(first.headers.location!);
    const back = await b.signInAtDevIdp(login, 'alice', 'alice');
    assert.equal(back.status, 200);
    assert.equal(back.url, deep);
    const ours = [first.url, ...login.history, ...back.history].filter((u) => u.startsWith(front));
    assert.deepEqual(
      ours.map((u) => new URL(u).pathname),
      ['/reports/q', '/oauth2/callback', '/reports/q'],
      'no /oauth2/sign_in or /oauth2/start on the way',
    );
  });
});
