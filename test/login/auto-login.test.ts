/**
 * autoLogin with one provider saves a redirect: an unauthenticated navigation to a protected page is
 * answered with the 302 to the IdP itself (the flow cookie set as /oauth2/start sets it), not with a 302 to
 * /oauth2/start. Counted in real sign-ins against a real OpenID provider (test/support/idp.ts), with and
 * without autoLogin, fresh and with the IdP session kept (SSO). Every protection of /oauth2/start holds on
 * the shortcut: API requests still get 401 JSON, the target is validated, the flow cookies stay capped.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import type { Browser, BrowserResponse } from '../support/browser.ts';
import { closeAfter } from '../support/cleanup.ts';
import { type GatewayHarness, reserveAddress, startHarness } from '../support/gateway.ts';
import { startTestIdp, type TestIdp } from '../support/idp.ts';

const SECRET = 'auto-login-client-secret-0123456789abc';
const FLOW = /^portcullis_f_/;

let idp: TestIdp;
let auto: GatewayHarness;
let plain: GatewayHarness;
const parts = closeAfter();

before(async () => {
  const [a, p] = await Promise.all([reserveAddress(), reserveAddress()]);
  idp = parts.add(
    await startTestIdp({
      clients: [
        { client_id: 'portcullis', client_secret: SECRET, redirect_uris: [a.redirectUri, p.redirectUri] },
      ],
    }),
  );
  const providers = [
    { id: 'corp', type: 'oidc', issuer: idp.issuer, clientId: 'portcullis', clientSecret: SECRET },
  ];
  [auto, plain] = await Promise.all([
    startHarness({
      address: a,
      providers,
      config: { autoLogin: true, admin: { enabled: true, allow: { groups: ['admins'] } } },
    }).then((x) => parts.add(x)),
    startHarness({ address: p, providers }).then((x) => parts.add(x)),
  ]);
});

const gatewayRequests = (r: BrowserResponse, h: GatewayHarness) =>
  r.history.filter((u) => new URL(u).origin === new URL(h.url).origin);

/** Signs in as alice from a visit to /deep?q=1: every browser request made, in order. */
async function signIn(b: Browser, h: GatewayHarness, withButton: boolean): Promise<string[]> {
  let r = await b.get(`${h.url}/deep?q=1`);
  const urls = [...r.history];
  if (withButton) {
    assert.equal(new URL(r.url).pathname, '/oauth2/sign_in');
    const href = /href="(\/oauth2\/start\?[^"]+)"/.exec(r.body)?.[1];
    assert.ok(href, 'the sign-in page has the button');
    r = await b.get(new URL(href.replaceAll('&amp;', '&'), h.url));
    urls.push(...r.history);
  }
  if (/<form[^>]*id="login"/.test(r.body)) {
    r = await b.signInAtDevIdp(r, 'alice', 'alice');
    urls.push(...r.history);
  }
  assert.equal(r.status, 200, `${r.status} at ${r.url}: ${r.body.slice(0, 200)}`);
  assert.equal(r.url, `${h.url}/deep?q=1`, 'back at the page first asked for');
  return urls;
}

describe('redirects counted in real sign-ins', () => {
  test('fresh: the visit is answered with the 302 to the IdP; one request fewer than through /oauth2/start', async () => {
    const b = auto.browser();
    const first = await b.get(`${auto.url}/deep?q=1`, { followRedirects: false });
    assert.equal(first.status, 302);
    const location = new URL(first.headers.location!);
    assert.equal(location.origin, idp.issuer, 'straight to the IdP');
    for (const p of ['state', 'nonce', 'code_challenge'])
      assert.ok(location.searchParams.get(p), `${p} in the authorization request`);
    assert.equal(location.searchParams.get('code_challenge_method'), 'S256');
    assert.equal(first.headers['cache-control'], 'no-store');
    const flow = (first.headers['set-cookie'] ?? []).filter((c) => FLOW.test(c));
    assert.equal(flow.length, 1, 'one flow cookie');
    assert.match(flow[0]!, /HttpOnly; SameSite=Lax/);

    const withAuto = await signIn(auto.browser(), auto, false);
    const viaStart = await signIn(plain.browser(), plain, true);
    // autoLogin: /deep → IdP …; without: /deep → /oauth2/sign_in (page) → /oauth2/start → IdP …
    assert.deepEqual(
      withAuto.filter((u) => u.startsWith(auto.url)).map((u) => new URL(u).pathname),
      ['/deep', '/oauth2/callback', '/deep'],
    );
    assert.deepEqual(
      viaStart.filter((u) => u.startsWith(plain.url)).map((u) => new URL(u).pathname),
      ['/deep', '/oauth2/sign_in', '/oauth2/start', '/oauth2/callback', '/deep'],
    );
    const idpRequests = (urls: string[]) => urls.filter((u) => u.startsWith(idp.issuer)).length;
    assert.equal(idpRequests(withAuto), idpRequests(viaStart), 'the same requests at the IdP');
  });

  test('SSO (the IdP session kept, the gateway’s cookies gone): three gateway requests, no form', async () => {
    const b = auto.browser();
    await signIn(b, auto, false);
    for (const c of b.jar.all()) if (c.name.startsWith('portcullis')) b.jar.delete(c.name);
    const r = await b.get(`${auto.url}/deep?q=1`);
    assert.equal(r.status, 200);
    assert.equal(r.url, `${auto.url}/deep?q=1`);
    assert.deepEqual(
      gatewayRequests(r, auto).map((u) => new URL(u).pathname),
      ['/deep', '/oauth2/callback', '/deep'],
    );
    assert.equal(new URL(r.history[1]!).origin, idp.issuer, 'the second request is the IdP’s');
  });

  test('/oauth2/sign_in with autoLogin starts the sign-in too (nginx’s error_page 401 = /oauth2/sign_in)', async () => {
    const b = auto.browser();
    const r = await b.get(`${auto.url}/oauth2/sign_in`, {
      followRedirects: false,
      headers: { 'x-auth-request-redirect': '/search?q=a&page=2' },
    });
    assert.equal(r.status, 302);
    assert.equal(new URL(r.headers.location!).origin, idp.issuer);
    const login = await b.get(r.headers.location!);
    const back = await b.signInAtDevIdp(login, 'alice', 'alice');
    assert.equal(back.url, `${auto.url}/search?q=a&page=2`, 'the header’s target, whole');
  });
});

describe('the shortcut keeps every protection of /oauth2/start', () => {
  test('API requests and XHR still get 401 JSON and no flow cookie', async () => {
    const b = auto.browser();
    for (const headers of [
      { 'sec-fetch-mode': 'cors' },
      { 'x-requested-with': 'XMLHttpRequest' },
      { accept: 'application/json' },
    ]) {
      const r = await b.get(`${auto.url}/deep`, { followRedirects: false, headers });
      assert.equal(r.status, 401, JSON.stringify(headers));
      assert.equal((r.headers['set-cookie'] ?? []).filter((c) => FLOW.test(c)).length, 0);
    }
    const api = await b.get(`${auto.url}/api/x`, { followRedirects: false });
    assert.equal(api.status, 401, 'an api route');
  });

  test('a POST is sent to /oauth2/start, which its browser follows with a GET', async () => {
    const r = await auto.browser().post(`${auto.url}/form`, { a: '1' }, { followRedirects: false });
    assert.equal(r.status, 302);
    assert.equal(r.headers.location, `/oauth2/start?rd=${encodeURIComponent('/form')}`);
    assert.equal((r.headers['set-cookie'] ?? []).filter((c) => FLOW.test(c)).length, 0);
  });

  test('the target is validated as rd is: a path that reads as another host returns to /', async () => {
    const b = auto.browser();
    const first = await b.get(`${auto.url}//evil.example/x`, { followRedirects: false });
    assert.equal(first.status, 302);
    assert.equal(new URL(first.headers.location!).origin, idp.issuer);
    const rejected = auto.logs.findLast((l) => l['msg'] === 'redirect target rejected; using /');
    assert.equal(rejected?.['reason'], 'rd-protocol-relative');
    const back = await b.signInAtDevIdp(await b.get(first.headers.location!), 'alice', 'alice');
    assert.equal(back.url, `${auto.url}/`);
  });

  test('many tabs: the flow cookies stay capped (pendingLoginsMax), and the newest still completes', async () => {
    const b = auto.browser();
    const starts: BrowserResponse[] = [];
    for (let i = 0; i < 8; i++) starts.push(await b.get(`${auto.url}/tab/${i}`, { followRedirects: false }));
    const flows = b.jar.names(auto.url).filter((n) => FLOW.test(n));
    assert.equal(flows.length, 5, `the default cap: ${flows.join(', ')}`);
    const back = await b.signInAtDevIdp(await b.get(starts[7]!.headers.location!), 'alice', 'alice');
    assert.equal(back.url, `${auto.url}/tab/7`);
  });
});

test('a sign-in started on a protected page has its trace (operator console)', async () => {
  const traces = auto.gw.ctx.traces;
  assert.ok(traces, 'the console is on in this harness');
  const known = new Set(traces.recent(1000));
  const first = await auto.browser().get(`${auto.url}/traced`, { followRedirects: false });
  assert.equal(first.status, 302);
  const made = traces.recent(1000).filter((t) => !known.has(t));
  assert.equal(made.length, 1, 'one new trace for the visit that began the sign-in');
  const names = made[0]!.steps.map((st) => st.name);
  assert.equal(names[0], 'start');
  assert.ok(names.includes('redirect to the IdP'), names.join(', '));
});
