import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { before, describe, test } from 'node:test';
import * as oidc from 'openid-client';
import { type SampleApp, startSampleApp } from '../../src/demo/app.ts';
import { startDevIdp } from '../../src/demo/idp.ts';
import { Browser } from '../support/browser.ts';
import { closeAfter } from '../support/cleanup.ts';
import { startTestIdp, type TestIdp } from '../support/idp.ts';

// The relying party's redirect URI lands on the sample app, which simply answers 200: the test reads the
// code (and iss) from the final URL, as a real callback handler would.
let app: SampleApp;
let idp: TestIdp;
let redirectUri: string;
let postLogoutUri: string;

const parts = closeAfter();

before(async () => {
  app = parts.add(await startSampleApp({}));
  redirectUri = `${app.url}/callback`;
  postLogoutUri = `${app.url}/signed-out`;
  idp = parts.add(
    await startTestIdp({
      clients: [
        {
          client_id: 'confidential',
          client_secret: 'confidential-secret',
          redirect_uris: [redirectUri],
          post_logout_redirect_uris: [postLogoutUri],
        },
        { client_id: 'public', redirect_uris: [redirectUri], token_endpoint_auth_method: 'none' },
      ],
    }),
  );
});

function confidential() {
  return oidc.discovery(
    new URL(idp.issuer),
    'confidential',
    undefined,
    oidc.ClientSecretBasic('confidential-secret'),
    { execute: [oidc.allowInsecureRequests] },
  );
}

async function startLogin(config: oidc.Configuration, extra: Record<string, string> = {}) {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope: 'openid email profile groups',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    ...extra,
  });
  return { url, checks: { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce } };
}

describe('dev IdP', () => {
  test('discovery advertises S256 only, iss in authorization responses, logout and refresh', async () => {
    const res = await fetch(`${idp.issuer}/.well-known/openid-configuration`);
    const meta = (await res.json()) as Record<string, unknown>;
    assert.equal(meta['issuer'], idp.issuer);
    assert.deepEqual(meta['code_challenge_methods_supported'], ['S256']);
    assert.equal(meta['authorization_response_iss_parameter_supported'], true);
    assert.equal(meta['end_session_endpoint'], `${idp.issuer}/session/end`);
    assert.ok((meta['grant_types_supported'] as string[]).includes('refresh_token'));
    assert.ok((meta['scopes_supported'] as string[]).includes('groups'));
  });

  test('code flow with PKCE for a confidential client, then refresh with rotation', async () => {
    const config = await confidential();
    const browser = new Browser();
    const { url, checks } = await startLogin(config);
    const loginPage = await browser.get(url);
    assert.equal(loginPage.status, 200);
    assert.match(loginPage.body, /Demo identity provider — development only/);
    assert.match(loginPage.body, /<code>alice<\/code>/);

    const callback = await browser.signInAtDevIdp(loginPage, 'alice', 'alice');
    assert.equal(callback.status, 200);
    const callbackUrl = new URL(callback.url);
    assert.equal(callbackUrl.pathname, '/callback');
    assert.equal(
      callbackUrl.searchParams.get('iss'),
      idp.issuer,
      'RFC 9207 iss in the authorization response',
    );
    assert.ok(callbackUrl.searchParams.get('code'));

    const tokens = await oidc.authorizationCodeGrant(config, callbackUrl, {
      ...checks,
      idTokenExpected: true,
    });
    const claims = tokens.claims();
    assert.ok(claims);
    assert.equal(claims.sub, 'alice');
    assert.equal(claims['email'], 'alice@example.com');
    assert.equal(claims['email_verified'], true);
    assert.equal(claims['preferred_username'], 'alice');
    assert.equal(claims['name'], 'Alice Admin');
    assert.deepEqual(claims['groups'], ['admins', 'engineering']);
    assert.ok(tokens.refresh_token, 'refresh token issued without offline_access');

    const info = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
    assert.deepEqual(info['groups'], ['admins', 'engineering']);

    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token);
    assert.ok(refreshed.access_token);
    assert.notEqual(refreshed.access_token, tokens.access_token);
    assert.ok(refreshed.refresh_token);
    assert.notEqual(refreshed.refresh_token, tokens.refresh_token, 'refresh tokens rotate');
    assert.equal(refreshed.claims()?.sub, 'alice');
    await assert.rejects(oidc.refreshTokenGrant(config, tokens.refresh_token), (err: Error) => {
      assert.equal((err.cause as { error?: string }).error, 'invalid_grant');
      return true;
    });
  });

  test('code flow with PKCE for a public client; PKCE is required for it', async () => {
    const config = await oidc.discovery(new URL(idp.issuer), 'public', undefined, oidc.None(), {
      execute: [oidc.allowInsecureRequests],
    });
    const browser = new Browser();

    const withoutPkce = new URL(`${idp.issuer}/auth`);
    withoutPkce.search = new URLSearchParams({
      client_id: 'public',
      response_type: 'code',
      scope: 'openid',
      redirect_uri: redirectUri,
      state: 'x',
    }).toString();
    const rejected = await browser.get(withoutPkce);
    const rejectedUrl = new URL(rejected.url);
    assert.equal(rejectedUrl.pathname, '/callback');
    assert.equal(rejectedUrl.searchParams.get('error'), 'invalid_request');

    const { url, checks } = await startLogin(config);
    const callback = await browser.signInAtDevIdp(await browser.get(url), 'bob', 'bob');
    const tokens = await oidc.authorizationCodeGrant(config, new URL(callback.url), checks);
    assert.equal(tokens.claims()?.['preferred_username'], 'bob');
    assert.deepEqual(tokens.claims()?.['groups'], ['engineering']);
    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
    assert.ok(refreshed.access_token);
  });

  test('plain PKCE is refused', async () => {
    const browser = new Browser();
    const auth = new URL(`${idp.issuer}/auth`);
    auth.search = new URLSearchParams({
      client_id: 'confidential',
      response_type: 'code',
      scope: 'openid',
      redirect_uri: redirectUri,
      code_challenge: 'a'.repeat(43),
      code_challenge_method: 'plain',
    }).toString();
    const res = await browser.get(auth);
    assert.equal(new URL(res.url).searchParams.get('error'), 'invalid_request');
  });

  test('a wrong password shows the form again with an error, escaped; the right one then works', async () => {
    const config = await confidential();
    const browser = new Browser();
    const { url, checks } = await startLogin(config);
    const loginPage = await browser.get(url);

    const wrong = await browser.signInAtDevIdp(loginPage, 'alice<script>', 'nope');
    assert.equal(wrong.status, 401);
    assert.match(wrong.body, /Wrong username or password/);
    assert.match(wrong.body, /<form[^>]*id="login"/);
    assert.ok(!wrong.body.includes('alice<script>'));
    assert.match(wrong.body, /value="alice&lt;script&gt;"/);

    const wrongPassword = await browser.signInAtDevIdp(wrong, 'alice', 'bob');
    assert.equal(wrongPassword.status, 401);

    const callback = await browser.signInAtDevIdp(wrongPassword, 'alice', 'alice');
    const tokens = await oidc.authorizationCodeGrant(config, new URL(callback.url), checks);
    assert.equal(tokens.claims()?.sub, 'alice');
  });

  test('cancel on the login page returns access_denied to the client', async () => {
    const config = await confidential();
    const browser = new Browser();
    const { url } = await startLogin(config);
    const loginPage = await browser.get(url);
    const back = await browser.submitForm(loginPage.body, loginPage.url, { formId: 'abort' });
    assert.equal(new URL(back.url).searchParams.get('error'), 'access_denied');
  });

  test('tokenResponseHook replaces the id_token', async () => {
    const config = await confidential();
    const browser = new Browser();

    const stop = idp.tamperIdTokens((claims) => {
      claims['email'] = 'mallory@evil.example';
    });
    try {
      const { url, checks } = await startLogin(config);
      const callback = await browser.signInAtDevIdp(await browser.get(url), 'alice', 'alice');
      const tokens = await oidc.authorizationCodeGrant(config, new URL(callback.url), checks);
      assert.equal(tokens.claims()?.['email'], 'mallory@evil.example');
    } finally {
      stop();
    }

    idp.setTokenResponseHook(async (body) => ({
      ...body,
      id_token: await idp.resignIdToken(String(body['id_token']), (claims) => {
        claims.nonce = 'not-the-nonce';
      }),
    }));
    try {
      // The IdP session from the previous login is reused: no form this time.
      const { url, checks } = await startLogin(config);
      const callback = await browser.get(url);
      assert.equal(new URL(callback.url).pathname, '/callback');
      await assert.rejects(
        oidc.authorizationCodeGrant(config, new URL(callback.url), checks),
        (err: Error) => {
          assert.match(String((err.cause as Error).message), /nonce/);
          return true;
        },
      );
    } finally {
      idp.setTokenResponseHook(undefined);
    }
  });

  test('resignIdToken: foreign key keeps the kid, alg none has an empty signature', async () => {
    const config = await confidential();
    const browser = new Browser();
    const { url, checks } = await startLogin(config);
    const callback = await browser.signInAtDevIdp(await browser.get(url), 'bob', 'bob');
    const tokens = await oidc.authorizationCodeGrant(config, new URL(callback.url), checks);
    const idToken = tokens.id_token!;

    const [h, p, sig] = idToken.split('.');
    const foreign = await idp.resignIdToken(idToken, () => {}, { key: 'foreign' });
    const [fh, fp, fsig] = foreign.split('.');
    assert.equal(fh, h);
    assert.equal(fp, p);
    assert.notEqual(fsig, sig);

    const same = await idp.resignIdToken(idToken, () => {});
    assert.equal(same.split('.')[1], p);

    const none = await idp.resignIdToken(idToken, () => {}, { alg: 'none' });
    assert.ok(none.endsWith('.'));
    const header = JSON.parse(Buffer.from(none.split('.')[0]!, 'base64url').toString()) as Record<
      string,
      unknown
    >;
    assert.equal(header['alg'], 'none');
  });

  test('RP-initiated logout: the confirmation form submits and ends the IdP session', async () => {
    const config = await confidential();
    const browser = new Browser();
    const first = await startLogin(config);
    const callback = await browser.signInAtDevIdp(await browser.get(first.url), 'alice', 'alice');
    const tokens = await oidc.authorizationCodeGrant(config, new URL(callback.url), first.checks);

    const endSession = oidc.buildEndSessionUrl(config, {
      id_token_hint: tokens.id_token!,
      post_logout_redirect_uri: postLogoutUri,
      state: 'bye',
    });
    const confirm = await browser.get(endSession);
    assert.equal(confirm.status, 200);
    assert.match(confirm.body, /name="xsrf"/);
    assert.match(confirm.body, /<button[^>]*>Sign out<\/button>/);
    assert.match(confirm.body, /<script>document\.getElementById\('op\.logoutForm'\)\.submit\(\)<\/script>/);

    const done = await browser.submitForm(confirm.body, confirm.url);
    const doneUrl = new URL(done.url);
    assert.equal(doneUrl.pathname, '/signed-out');
    assert.equal(doneUrl.searchParams.get('state'), 'bye');

    // Signed out at the IdP: the next login asks for credentials again.
    const again = await startLogin(config);
    const page = await browser.get(again.url);
    assert.match(page.body, /<form[^>]*id="login"/);
  });
});

describe('the shipped demo IdP', () => {
  test('carries no test hooks: they live in test/support/idp.ts', async () => {
    const source = readFileSync(new URL('../../src/demo/idp.ts', import.meta.url), 'utf8');
    for (const hook of [
      'tokenResponseHook',
      'setTokenResponseHook',
      'extraRoutes',
      'jwtAccessTokens',
      'holdToken',
    ])
      assert.ok(!source.includes(hook), `src/demo/idp.ts mentions ${hook}`);
    const demo = await startDevIdp({ clients: [{ client_id: 'c', redirect_uris: ['http://127.0.0.1/cb'] }] });
    try {
      assert.equal('setTokenResponseHook' in demo, false);
      const r = await fetch(`${demo.issuer}/.well-known/openid-configuration`);
      assert.equal(((await r.json()) as { issuer: string }).issuer, demo.issuer);
    } finally {
      await demo.close();
    }
  });
});
