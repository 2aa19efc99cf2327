/**
 * Several providers at once, at the HTTP level: the sign-in page lists each (display name, icon), the
 * `provider` parameter of /oauth2/start picks one, an unknown one is explained, autoLogin applies only with
 * exactly one provider — and each flow is bound to the provider it was started for, so a response from
 * another IdP is refused (mix-up defence, RFC 9700 §4.4; the RFC 9207 `iss` response parameter).
 *
 * Two real OpenID providers (oidc-provider, test/support/idp.ts) and the GitHub stub, which like most plain
 * OAuth2 servers sends no `iss`.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { type Browser, type BrowserResponse, parseForms } from '../support/browser.ts';
import { closeAfter } from '../support/cleanup.ts';
import { type GatewayHarness, reserveAddress, startHarness } from '../support/gateway.ts';
import { startTestIdp, type TestIdp } from '../support/idp.ts';
import { type GithubStub, startGithubStub } from '../support/stubs/github.ts';

const SECRET = 'multi-provider-client-secret-0123456789';
const ICON_DATA =
  'data:image/svg+xml;base64,PHN2ZyB4bWxucz0iaHR0cDovL3d3dy53My5vcmcvMjAwMC9zdmciIHZpZXdCb3g9IjAgMCAxIDEiLz4=';

let corp: TestIdp;
let partner: TestIdp;
let github: GithubStub;
let h: GatewayHarness;
// Registered before anything starts: a part started by a `before` that then fails is still closed.
const parts = closeAfter();

before(async () => {
  const address = await reserveAddress();
  const client = {
    client_id: 'portcullis',
    client_secret: SECRET,
    redirect_uris: [address.redirectUri],
  };
  [corp, partner, github] = await Promise.all([
    startTestIdp({ clients: [client], title: 'Corp IdP' }).then((x) => parts.add(x)),
    startTestIdp({ clients: [client], title: 'Partner IdP' }).then((x) => parts.add(x)),
    startGithubStub({
      clientId: 'Iv1.multi',
      clientSecret: SECRET,
      callbackUrl: address.redirectUri,
      users: [
        {
          login: 'octocat',
          password: 'octocat',
          id: 583231,
          name: 'The Octocat',
          email: 'octocat@example.com',
          emails: [{ email: 'octocat@example.com', primary: true, verified: true }],
          orgs: [],
          teams: [],
        },
      ],
    }).then((x) => parts.add(x)),
  ]);
  h = await startHarness({
    address,
    providers: [
      {
        id: 'corp',
        type: 'oidc',
        displayName: 'Corp SSO',
        icon: ICON_DATA,
        issuer: corp.issuer,
        clientId: 'portcullis',
        clientSecret: SECRET,
      },
      {
        id: 'partner',
        type: 'oidc',
        displayName: 'Partner <SSO>',
        icon: 'https://cdn.example.com/partner.svg',
        issuer: partner.issuer,
        clientId: 'portcullis',
        clientSecret: SECRET,
      },
      { id: 'gh', type: 'github', baseUrl: github.url, clientId: 'Iv1.multi', clientSecret: SECRET },
    ],
    // Has no effect with several providers: the chooser is shown.
    config: { autoLogin: true },
  }).then((x) => parts.add(x));
});

/** Submits the IdP's login form and follows redirects by hand up to (not into) the callback. */
async function walkToCallback(b: Browser, provider: string, login: string): Promise<URL> {
  const page = await b.get(`${h.url}/oauth2/start?provider=${provider}&rd=/api/me`);
  const form = parseForms(page.body, page.url).find((f) => f.id === 'login');
  assert.ok(form, `a login form at ${page.url}: ${page.body.slice(0, 300)}`);
  const fields = new URLSearchParams(form.fields.filter(([k]) => k !== 'username' && k !== 'password'));
  fields.set('username', login);
  fields.set('password', login);
  let r: BrowserResponse = await b.post(form.action, fields, {
    followRedirects: false,
    headers: { origin: new URL(page.url).origin },
  });
  let location = r.headers.location;
  while (location && !location.startsWith(`${h.url}/oauth2/callback?`)) {
    r = await b.get(new URL(location, r.url), { followRedirects: false });
    location = r.headers.location;
  }
  assert.ok(location, `reached the redirect to the callback (${r.status} at ${r.url})`);
  return new URL(location);
}

/** Starts a flow for `provider` in `b` without going to the IdP; returns its state. */
async function startFlow(b: Browser, provider: string): Promise<string> {
  const r = await b.get(`${h.url}/oauth2/start?provider=${provider}&rd=/api/me`, { followRedirects: false });
  assert.equal(r.status, 302);
  const state = new URL(r.headers.location!).searchParams.get('state');
  assert.ok(state);
  return state;
}

function assertRefused(r: BrowserResponse, b: Browser, status: number, code: string): void {
  assert.equal(r.status, status, `${r.status} at ${r.url}: ${r.body.slice(0, 400)}`);
  assert.match(r.body, new RegExp(code));
  assert.match(r.body, /request id <code>[0-9a-f-]{36}<\/code>/);
  assert.equal(b.jar.get('portcullis', h.url), undefined, 'no session');
}

describe('the sign-in page with several providers', () => {
  test('lists every provider with its display name and icon, in configuration order', async () => {
    const r = await h.browser().get(`${h.url}/oauth2/sign_in?rd=${encodeURIComponent('/reports?x=1')}`);
    assert.equal(r.status, 200);
    const links = [...r.body.matchAll(/<a class="button" href="([^"]+)">(.*?)<\/a>/g)].map((m) => ({
      href: m[1]!.replaceAll('&amp;', '&'),
      html: m[2]!,
    }));
    assert.deepEqual(
      links.map((l) => l.href),
      ['corp', 'partner', 'gh'].map(
        (p) => `/oauth2/start?provider=${p}&rd=${encodeURIComponent('/reports?x=1')}`,
      ),
    );
    assert.match(
      links[0]!.html,
      /^<img src="data:image\/svg\+xml;base64,[^"]+" alt="" [^>]*>Sign in with Corp SSO$/,
    );
    assert.match(
      links[1]!.html,
      /^<img src="https:\/\/cdn\.example\.com\/partner\.svg" [^>]*>Sign in with Partner &lt;SSO&gt;$/,
    );
    assert.equal(links[2]!.html, 'Sign in with GitHub', 'the type’s default name, no icon');
    // The page may load exactly the icons' sources.
    const csp = String(r.headers['content-security-policy']);
    assert.match(csp, /img-src data: https:\/\/cdn\.example\.com(;|$)/);
  });

  test('an unauthenticated visit goes to the chooser (autoLogin needs exactly one provider)', async () => {
    const r = await h.browser().get(`${h.url}/deep/page?q=1`, { followRedirects: false });
    assert.equal(r.status, 302);
    assert.equal(r.headers.location, `/oauth2/sign_in?rd=${encodeURIComponent('/deep/page?q=1')}`);
    const page = await h.browser().get(`${h.url}/oauth2/sign_in?rd=/x`, { followRedirects: false });
    assert.equal(page.status, 200, 'no redirect to a provider');
  });

  test('/oauth2/start without provider= goes back to the chooser, keeping rd', async () => {
    const r = await h.browser().get(`${h.url}/oauth2/start?rd=%2Fdeep`, { followRedirects: false });
    assert.equal(r.status, 302);
    assert.equal(r.headers.location, '/oauth2/sign_in?rd=%2Fdeep');
  });

  test('provider= picks the IdP', async () => {
    const b = h.browser();
    const at = async (p: string) =>
      new URL(
        (await b.get(`${h.url}/oauth2/start?provider=${p}`, { followRedirects: false })).headers.location!,
      );
    assert.equal((await at('corp')).origin, corp.issuer);
    assert.equal((await at('partner')).origin, partner.issuer);
    const gh = await at('gh');
    assert.equal(gh.origin + gh.pathname, `${github.url}/login/oauth/authorize`);
  });

  test('an unknown provider is explained, with a way back to the chooser', async () => {
    for (const bad of ['nope', 'CORP', '']) {
      const b = h.browser();
      const r = await b.get(`${h.url}/oauth2/start?provider=${encodeURIComponent(bad)}&rd=/`, {
        followRedirects: false,
      });
      assert.equal(r.status, 400, `provider=${bad}`);
      assert.match(r.body, /PCL_PROVIDER_UNKNOWN/);
      assert.match(r.body, /Unknown sign-in method/);
      assert.match(r.body, /href="\/oauth2\/sign_in"/);
      assert.ok(!b.jar.all().some((c) => c.name.startsWith('portcullis_f_')), 'no flow started');
    }
    const line = h.logs.findLast((l) => l['code'] === 'PCL_PROVIDER_UNKNOWN');
    assert.ok(line);
  });

  test('each provider signs in through its own button', async () => {
    for (const [provider, user] of [
      ['corp', 'alice'],
      ['partner', 'bob'],
      ['gh', 'octocat'],
    ] as const) {
      const b = h.browser();
      const chooser = await b.get(`${h.url}/oauth2/sign_in?rd=/api/me`);
      const href = new RegExp(`href="(/oauth2/start\\?provider=${provider}&amp;[^"]+)"`).exec(
        chooser.body,
      )?.[1];
      assert.ok(href);
      const login = await b.get(new URL(href.replaceAll('&amp;', '&'), h.url));
      const back = await b.submitForm(login.body, login.url, {
        formId: 'login',
        values: { username: user, password: user },
      });
      assert.equal(back.status, 200, `${provider}: ${back.status} at ${back.url}`);
      assert.equal(back.url, `${h.url}/api/me`);
      const info = JSON.parse((await b.get(`${h.url}/oauth2/userinfo`)).body) as Record<string, unknown>;
      assert.equal(info['provider'], provider);
    }
  });
});

describe('autoLogin with exactly one provider', () => {
  let one: GatewayHarness;
  let plain: GatewayHarness;
  const mine = closeAfter();
  before(async () => {
    // corp's client knows only h's redirect URI; these gateways are never sent back from the IdP.
    const provider = {
      id: 'corp',
      type: 'oidc',
      issuer: corp.issuer,
      clientId: 'portcullis',
      clientSecret: SECRET,
    };
    one = mine.add(
      await startHarness({
        address: await reserveAddress(),
        providers: [provider],
        config: { autoLogin: true },
      }),
    );
    plain = mine.add(await startHarness({ address: await reserveAddress(), providers: [provider] }));
  });

  test('a visit goes straight to the provider, and so does the sign-in page', async () => {
    const b = one.browser();
    const r = await b.get(`${one.url}/deep?q=1`, { followRedirects: false });
    assert.equal(r.status, 302);
    assert.equal(new URL(r.headers.location!).origin, corp.issuer, 'no hop through /oauth2/start');
    const page = await b.get(`${one.url}/oauth2/sign_in?rd=/x`, { followRedirects: false });
    assert.equal(page.status, 302);
    assert.equal(new URL(page.headers.location!).origin, corp.issuer);
    // A POST (a form sent after the session ended) still goes through /oauth2/start.
    const post = await b.post(`${one.url}/deep`, { a: '1' }, { followRedirects: false });
    assert.equal(post.headers.location, '/oauth2/start?rd=%2Fdeep');
  });

  test('without autoLogin, one provider still gets the sign-in page with its button', async () => {
    const r = await plain.browser().get(`${plain.url}/deep`, { followRedirects: false });
    assert.equal(r.headers.location, '/oauth2/sign_in?rd=%2Fdeep');
    const page = await plain.browser().get(`${plain.url}/oauth2/sign_in?rd=/deep`);
    assert.equal(page.status, 200);
    assert.equal([...page.body.matchAll(/class="button"/g)].length, 1);
    assert.match(page.body, /Sign in with corp</, 'the id when there is no displayName');
  });
});

describe('mix-up defence (RFC 9700 §4.4): a flow completes only with its own provider', () => {
  test('a flow for corp given partner’s response (its code and iss) is refused before any code exchange', async () => {
    const b = h.browser();
    const stateCorp = await startFlow(b, 'corp');
    const partnerCallback = await walkToCallback(b, 'partner', 'bob');
    assert.equal(partnerCallback.searchParams.get('iss'), partner.issuer, 'partner sends RFC 9207 iss');
    const forged = new URL(partnerCallback);
    forged.searchParams.set('state', stateCorp);
    assertRefused(await b.get(forged), b, 400, 'PCL_ISSUER_MISMATCH');
    const line = h.logs.findLast((l) => l['code'] === 'PCL_ISSUER_MISMATCH');
    assert.match(String(line?.['detail']), /iss/);
    const failure = h.logs.findLast((l) => l['event'] === 'sign-in.failure');
    assert.equal(failure?.['provider'], 'corp', 'the flow’s own provider handled it');
    // partner's code was not spent: partner's own flow still completes with it.
    const genuine = await b.get(partnerCallback);
    assert.equal(genuine.status, 200, genuine.body.slice(0, 300));
    const info = JSON.parse((await b.get(`${h.url}/oauth2/userinfo`)).body) as Record<string, unknown>;
    assert.equal(info['provider'], 'partner');
  });

  test('partner’s code with corp’s iss (a forged iss) is refused by corp’s token endpoint', async () => {
    const b = h.browser();
    const stateCorp = await startFlow(b, 'corp');
    const partnerCallback = await walkToCallback(b, 'partner', 'bob');
    const forged = new URL(partnerCallback);
    forged.searchParams.set('state', stateCorp);
    forged.searchParams.set('iss', corp.issuer);
    assertRefused(await b.get(forged), b, 502, 'PCL_CODE_EXCHANGE_FAILED');
    const line = h.logs.findLast((l) => l['code'] === 'PCL_CODE_EXCHANGE_FAILED');
    assert.match(String(line?.['detail']), /invalid_grant/);
  });

  test('a flow for corp given GitHub’s response (no iss) is refused: corp always sends iss', async () => {
    const b = h.browser();
    const stateCorp = await startFlow(b, 'corp');
    const ghCallback = await walkToCallback(b, 'gh', 'octocat');
    assert.equal(ghCallback.searchParams.get('iss'), null);
    const forged = new URL(ghCallback);
    forged.searchParams.set('state', stateCorp);
    assertRefused(await b.get(forged), b, 400, 'PCL_ISSUER_MISMATCH');
    assert.match(String(h.logs.findLast((l) => l['code'] === 'PCL_ISSUER_MISMATCH')?.['detail']), /iss/);
  });

  test('a flow for GitHub given corp’s response (iss of corp) is refused before the code reaches GitHub', async () => {
    const b = h.browser();
    const stateGh = await startFlow(b, 'gh');
    const corpCallback = await walkToCallback(b, 'corp', 'alice');
    const forged = new URL(corpCallback);
    forged.searchParams.set('state', stateGh);
    assertRefused(await b.get(forged), b, 400, 'PCL_ISSUER_MISMATCH');
    const failure = h.logs.findLast((l) => l['event'] === 'sign-in.failure');
    assert.equal(failure?.['provider'], 'gh');
    assert.match(String(h.logs.findLast((l) => l['code'] === 'PCL_ISSUER_MISMATCH')?.['detail']), /iss/);
    // corp's code is still good for corp's own flow.
    const genuine = await b.get(corpCallback);
    assert.equal(genuine.status, 200, genuine.body.slice(0, 300));
  });

  test('another provider’s error response, carried to a flow, is reported for that flow only', async () => {
    const b = h.browser();
    const stateCorp = await startFlow(b, 'corp');
    const r = await b.get(
      `${h.url}/oauth2/callback?error=access_denied&state=${stateCorp}&iss=${encodeURIComponent(partner.issuer)}`,
    );
    assertRefused(r, b, 400, 'PCL_IDP_ERROR');
    assert.match(r.body, /href="\/oauth2\/start\?provider=corp&amp;/, 'retry goes to the flow’s provider');
  });
});
