/**
 * The issuer with a real relying party: openid-client runs the code flow with PKCE against Portcullis's
 * /oidc, which signs the user in through the gate's upstream login (the dev IdP, a real oidc-provider).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import * as oc from 'openid-client';
import {
  authorizationUrl,
  authorize,
  Browser,
  type IssuerStack,
  oauthError,
  redeem,
  rpFor,
  SECRETS,
  startIssuerStack,
} from '../support/issuer.ts';

let stack: IssuerStack;
before(async () => {
  stack = await startIssuerStack();
});
after(() => stack.close());

/** Whether the browser went through the gate's own sign-in on the way. */
function signedInUpstream(r: { history: string[] }): boolean {
  return r.history.some((u) => u.startsWith(`${stack.url}/oauth2/start`));
}

function subOf(provider: string, upstreamSub: string): string {
  return createHash('sha256')
    .update(`portcullis account v1\u0000${provider}\u0000${upstreamSub}`)
    .digest('base64url');
}

describe('discovery and keys', () => {
  test('the discovery document describes a code-flow-only issuer under /oidc', async () => {
    const r = await fetch(`${stack.issuer}/.well-known/openid-configuration`);
    assert.equal(r.status, 200);
    const d = (await r.json()) as Record<string, unknown>;
    assert.equal(d['issuer'], stack.issuer);
    for (const [key, path] of [
      ['authorization_endpoint', '/oidc/auth'],
      ['token_endpoint', '/oidc/token'],
      ['userinfo_endpoint', '/oidc/me'],
      ['jwks_uri', '/oidc/jwks'],
      ['introspection_endpoint', '/oidc/token/introspection'],
      ['revocation_endpoint', '/oidc/token/revocation'],
      ['end_session_endpoint', '/oidc/session/end'],
    ] as const) {
      assert.equal(d[key], `${stack.url}${path}`, key);
    }
    assert.deepEqual(d['response_types_supported'], ['code']);
    assert.deepEqual(d['code_challenge_methods_supported'], ['S256']);
    assert.equal(d['authorization_response_iss_parameter_supported'], true);
    assert.deepEqual([...(d['grant_types_supported'] as string[])].sort(), [
      'authorization_code',
      'client_credentials',
      'refresh_token',
    ]);
    const auth = d['token_endpoint_auth_methods_supported'] as string[];
    assert.ok(auth.includes('client_secret_basic') && auth.includes('client_secret_post'));
    const algs = d['id_token_signing_alg_values_supported'] as string[];
    assert.ok(algs.includes('RS256') && algs.includes('ES256'));
    assert.deepEqual([...(d['scopes_supported'] as string[])].sort(), [
      'email',
      'groups',
      'offline_access',
      'openid',
      'profile',
    ]);
  });

  test('the JWKS publishes an RS256 and an ES256 public key, without private parts', async () => {
    const jwks = (await (await fetch(`${stack.issuer}/jwks`)).json()) as { keys: Record<string, unknown>[] };
    assert.deepEqual(jwks.keys.map((k) => k['alg']).sort(), ['ES256', 'RS256']);
    for (const k of jwks.keys) {
      assert.equal(k['use'], 'sig');
      assert.equal(typeof k['kid'], 'string');
      for (const secret of ['d', 'p', 'q', 'dp', 'dq', 'qi']) assert.equal(k[secret], undefined);
    }
  });

  test('a spoofed X-Forwarded-Host does not change the URLs the issuer writes', async () => {
    const r = await fetch(`${stack.issuer}/.well-known/openid-configuration`, {
      headers: { 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https' },
    });
    const d = (await r.json()) as Record<string, string>;
    assert.equal(d['token_endpoint'], `${stack.url}/oidc/token`);
  });

  test('/oidc belongs to the issuer: never forwarded upstream, never redirected to sign in', async () => {
    const unknown = await new Browser().get(`${stack.url}/oidc/nothing-here`, { followRedirects: false });
    assert.equal(unknown.status, 404);
    assert.doesNotMatch(unknown.body, /x-forwarded-user|"headers"/i, 'the sample app did not answer');
    const bare = await new Browser().get(`${stack.url}/oidc`, { followRedirects: false });
    assert.notEqual(bare.status, 302);
    const other = await new Browser().get(`${stack.url}/oidcx`, { followRedirects: false });
    assert.equal(other.status, 302, 'a path merely starting with /oidc is the gate’s');
    assert.match(other.headers.location ?? '', /^\/oauth2\/sign_in/);
  });
});

for (const clientId of ['rp-post', 'rp-basic', 'rp-public'] as const) {
  describe(`the whole code flow with openid-client (${clientId})`, () => {
    test('sign in, userinfo, refresh, introspect, revoke, log out', async () => {
      const rp = await rpFor(stack, clientId);
      const b = new Browser();
      const { url, checks } = await authorizationUrl(rp, { scope: 'openid profile email groups' });

      // 1. Sign in: no Portcullis session yet, so the browser goes through the gate's upstream login.
      const landed = await authorize(b, url, { username: 'alice' });
      assert.equal(new URL(landed.url).origin + new URL(landed.url).pathname, rp.redirectUri);
      assert.ok(
        landed.history.some((u) => u.startsWith(`${stack.url}/oauth2/callback`)),
        'went through the gate’s sign-in',
      );
      const params = new URL(landed.url).searchParams;
      assert.equal(params.get('iss'), stack.issuer, 'RFC 9207 iss in the authorization response');
      const tokens = await redeem(rp, landed, checks);
      const claims = tokens.claims();
      assert.ok(claims);
      assert.equal(claims.iss, stack.issuer);
      assert.equal(claims.aud, clientId);
      assert.equal(claims.sub, subOf('test', 'alice'));
      assert.equal(claims['name'], 'Alice Admin');
      assert.equal(claims['preferred_username'], 'alice');
      assert.equal(claims['email'], 'alice@example.com');
      assert.deepEqual(claims['groups'], ['admins', 'engineering']);
      assert.equal(decodeProtectedHeader(tokens.id_token!).alg, 'RS256');
      assert.ok(tokens.refresh_token, 'a refresh token');

      // 2. Userinfo.
      const info = await oc.fetchUserInfo(rp.config, tokens.access_token, claims.sub);
      assert.deepEqual(info, {
        sub: claims.sub,
        name: 'Alice Admin',
        preferred_username: 'alice',
        email: 'alice@example.com',
        email_verified: true,
        groups: ['admins', 'engineering'],
      });

      // 3. Refresh: a new access token and a rotated refresh token; the ID token keeps the subject.
      const refreshed = await oc.refreshTokenGrant(rp.config, tokens.refresh_token!);
      assert.notEqual(refreshed.access_token, tokens.access_token);
      assert.ok(refreshed.refresh_token);
      assert.notEqual(refreshed.refresh_token, tokens.refresh_token, 'rotated');
      assert.equal(refreshed.claims()?.sub, claims.sub);

      // 4. Introspection.
      const active = await oc.tokenIntrospection(rp.config, refreshed.access_token);
      assert.equal(active.active, true);
      assert.equal(active.client_id, clientId);
      assert.equal(active.sub, claims.sub);
      assert.equal(active.iss, stack.issuer);

      // 5. Revocation.
      await oc.tokenRevocation(rp.config, refreshed.access_token);
      assert.equal((await oc.tokenIntrospection(rp.config, refreshed.access_token)).active, false);
      await assert.rejects(oc.fetchUserInfo(rp.config, refreshed.access_token, claims.sub));

      // 6. RP-initiated logout: a confirmation page, then back to the service, and the gate session is over.
      assert.equal((await b.get(`${stack.url}/oauth2/userinfo`)).status, 200);
      const endUrl = oc.buildEndSessionUrl(rp.config, {
        id_token_hint: refreshed.id_token ?? tokens.id_token!,
        post_logout_redirect_uri: rp.redirectUri.replace('/callback', '/bye'),
        state: 'bye-state',
      });
      const confirm = await b.get(endUrl);
      assert.equal(confirm.status, 200);
      assert.match(confirm.body, /Sign out\?/);
      const out = await b.submitForm(confirm.body, confirm.url, { formId: 'op.logoutForm' });
      assert.equal(out.url, `${rp.redirectUri.replace('/callback', '/bye')}?state=bye-state`);
      assert.equal((await b.get(`${stack.url}/oauth2/userinfo`)).status, 401, 'the gate session ended too');
      // The session's refresh token (no offline_access) ended with it.
      await assert.rejects(
        oc.refreshTokenGrant(rp.config, refreshed.refresh_token!),
        oauthError('invalid_grant'),
      );
      // Signing in again goes through the gate's upstream sign-in again (the dev IdP keeps its own session).
      const again = await authorizationUrl(rp);
      assert.ok(signedInUpstream(await b.get(again.url)), 'through the upstream sign-in');
    });
  });
}

describe('single sign-on and subjects', () => {
  test('a browser with a gate session is not asked to sign in again, for any service', async () => {
    const b = new Browser();
    const post = await rpFor(stack, 'rp-post');
    const first = await authorizationUrl(post);
    const l1 = await authorize(b, first.url, { username: 'bob' });
    const t1 = await redeem(post, l1, first.checks);

    const basic = await rpFor(stack, 'rp-basic');
    const second = await authorizationUrl(basic);
    const l2 = await b.get(second.url);
    assert.ok(l2.url.startsWith(basic.redirectUri), `landed at ${l2.url}`);
    assert.ok(!l2.history.some((u) => u.startsWith(stack.idp.issuer)), 'never went to the IdP');
    const t2 = await redeem(basic, l2, second.checks);
    assert.equal(t2.claims()?.sub, t1.claims()?.sub, 'same subject for both services');
  });

  test('a browser that signed in to the gate first goes straight through', async () => {
    const b = new Browser();
    const login = await b.get(`${stack.url}/oauth2/start?rd=/`);
    await b.signInAtDevIdp(login, 'alice', 'alice');
    const rp = await rpFor(stack, 'rp-post');
    const { url, checks } = await authorizationUrl(rp);
    const landed = await b.get(url);
    assert.ok(landed.url.startsWith(rp.redirectUri));
    assert.ok(!landed.history.some((u) => u.startsWith(stack.idp.issuer)));
    assert.equal((await redeem(rp, landed, checks)).claims()?.sub, subOf('test', 'alice'));
  });

  test('sub is stable per user across sign-ins and browsers, and differs between users', async () => {
    const rp = await rpFor(stack, 'rp-post');
    const subs: string[] = [];
    for (const user of ['alice', 'alice', 'bob']) {
      const { url, checks } = await authorizationUrl(rp);
      subs.push(
        (await redeem(rp, await authorize(new Browser(), url, { username: user }), checks)).claims()!.sub,
      );
    }
    assert.equal(subs[0], subs[1]);
    assert.notEqual(subs[0], subs[2]);
    assert.match(subs[0]!, /^[A-Za-z0-9_-]{43}$/);
    assert.ok(!subs[0]!.includes('alice'), 'the upstream subject does not show');
  });

  test('prompt=none without a session answers login_required to the service', async () => {
    const rp = await rpFor(stack, 'rp-post');
    const { url } = await authorizationUrl(rp, { prompt: 'none' });
    const r = await new Browser().get(url);
    const p = new URL(r.url).searchParams;
    assert.ok(r.url.startsWith(rp.redirectUri));
    assert.equal(p.get('error'), 'login_required');
    assert.equal(p.get('iss'), stack.issuer);
  });

  test('prompt=login sends the browser through the upstream sign-in again', async () => {
    const b = new Browser();
    const rp = await rpFor(stack, 'rp-post');
    const first = await authorizationUrl(rp);
    await redeem(rp, await authorize(b, first.url), first.checks);
    const { url, checks } = await authorizationUrl(rp, { prompt: 'login' });
    const r = await b.get(url);
    assert.ok(signedInUpstream(r), 'a fresh gate sign-in');
    // The dev IdP keeps its own session, so it signs in again without a form (the upstream's choice).
    const landed = /<form[^>]*id="login"/.test(r.body) ? await b.signInAtDevIdp(r, 'alice', 'alice') : r;
    const t = await redeem(rp, landed, checks);
    assert.ok(
      (t.claims()?.auth_time ?? 0) >= Math.floor(Date.now() / 1000) - 5,
      'auth_time is the new sign-in',
    );
  });
});

describe('consent', () => {
  test('the consent page names the service and the scopes in words; Allow gives a code; it is remembered', async () => {
    const rp = await rpFor(stack, 'rp-consent');
    const b = new Browser();
    const { url, checks } = await authorizationUrl(rp);
    const page = await authorize(b, url, { username: 'alice' });
    assert.equal(page.status, 200);
    assert.match(page.url, /\/oidc\/interaction\/[\w-]+$/);
    assert.match(page.body, /Allow Notebook Hub to use your account\?/);
    assert.match(page.body, /Shared notebooks/);
    assert.match(page.body, /hub\.example\.com/);
    assert.match(page.body, /Signed in as Alice Admin \(alice@example\.com\)/);
    for (const words of [
      'Know that it is you',
      'See your name and username',
      'See your email address',
      'See the groups you belong to',
    ]) {
      assert.ok(page.body.includes(words), words);
    }
    assert.match(page.body, /<input type="hidden" name="csrf" value="[\w-]{43}">/);
    const landed = await b.submitForm(page.body, page.url, { formId: 'consent' });
    assert.ok(landed.url.startsWith(rp.redirectUri), landed.url);
    const tokens = await redeem(rp, landed, checks);
    assert.equal(tokens.claims()?.['email'], 'alice@example.com');

    // Remembered: the next sign-in goes straight through.
    const next = await authorizationUrl(rp);
    const straight = await b.get(next.url);
    assert.ok(straight.url.startsWith(rp.redirectUri), 'no consent page the second time');

    // Revocable by signing out of Portcullis: afterwards the consent page comes back.
    const signedOut = await b.signOut(stack.url);
    assert.equal(signedOut.status, 200);
    assert.ok(
      signedOut.history.some((u) => u.includes('/oidc/sign_out?next=')),
      'passed through the issuer',
    );
    assert.equal(new URL(signedOut.url).pathname, '/oauth2/signed_out');
    const third = await authorizationUrl(rp);
    const again = await authorize(b, third.url, { username: 'alice' });
    assert.match(again.body, /Allow Notebook Hub to use your account\?/);
  });

  test('Deny sends access_denied to the service and no code', async () => {
    const rp = await rpFor(stack, 'rp-consent');
    const { url } = await authorizationUrl(rp);
    const landed = await authorize(new Browser(), url, { username: 'bob', consent: 'deny' });
    const p = new URL(landed.url).searchParams;
    assert.ok(landed.url.startsWith(rp.redirectUri));
    assert.equal(p.get('error'), 'access_denied');
    assert.equal(p.get('code'), null);
  });

  test('the consent form refuses a missing or foreign CSRF token, another Origin and a cross-site Fetch Metadata', async () => {
    const rp = await rpFor(stack, 'rp-consent');
    const b = new Browser();
    const page = await authorize(b, (await authorizationUrl(rp)).url, { username: 'alice' });
    const action = `${page.url}/confirm`;
    const noToken = await b.post(action, {}, { followRedirects: false });
    assert.equal(noToken.status, 400);
    const wrong = await b.post(action, { csrf: 'A'.repeat(43) }, { followRedirects: false });
    assert.equal(wrong.status, 400);
    const csrf = /name="csrf" value="([\w-]+)"/.exec(page.body)![1]!;
    const foreign = await b.post(
      action,
      { csrf },
      { followRedirects: false, headers: { origin: 'https://evil.example' } },
    );
    assert.equal(foreign.status, 403, 'another Origin: PCL_CROSS_SITE');
    assert.match(foreign.body, /PCL_CROSS_SITE/);
    for (const site of ['cross-site', 'same-site']) {
      const fm = await b.post(
        action,
        { csrf },
        { followRedirects: false, headers: { 'sec-fetch-site': site } },
      );
      assert.equal(fm.status, 403, `Sec-Fetch-Site: ${site}`);
    }
    const ok = await b.post(
      action,
      { csrf },
      { headers: { origin: stack.url, 'sec-fetch-site': 'same-origin' } },
    );
    assert.ok(ok.url.startsWith(rp.redirectUri), 'the real form still works');
  });
});

describe('gate sign-out ends the issuer session and its grants', () => {
  test('tokens issued in the session stop working; the next authorization asks to sign in', async () => {
    const rp = await rpFor(stack, 'rp-basic');
    const b = new Browser();
    const { url, checks } = await authorizationUrl(rp);
    const tokens = await redeem(rp, await authorize(b, url, { username: 'bob' }), checks);
    assert.equal((await oc.tokenIntrospection(rp.config, tokens.access_token)).active, true);
    await b.signOut(stack.url, { rd: '/bye' });
    assert.equal((await oc.tokenIntrospection(rp.config, tokens.access_token)).active, false);
    await assert.rejects(oc.refreshTokenGrant(rp.config, tokens.refresh_token!), oauthError('invalid_grant'));
    assert.ok(signedInUpstream(await b.get((await authorizationUrl(rp)).url)), 'signing in again');
  });

  test('a refresh token with offline_access outlives sign-out (as in RP-initiated logout)', async () => {
    const rp = await rpFor(stack, 'rp-basic');
    const b = new Browser();
    const { url, checks } = await authorizationUrl(rp, { scope: 'openid offline_access', prompt: 'consent' });
    const tokens = await redeem(rp, await authorize(b, url, { username: 'bob' }), checks);
    assert.ok(tokens.scope?.includes('offline_access'), tokens.scope);
    await b.signOut(stack.url);
    const refreshed = await oc.refreshTokenGrant(rp.config, tokens.refresh_token!);
    assert.ok(refreshed.access_token);
  });

  test('ending the gate session some other way ends the issuer session at the next authorization', async () => {
    const rp = await rpFor(stack, 'rp-post');
    const b = new Browser();
    const first = await authorizationUrl(rp);
    const tokens = await redeem(rp, await authorize(b, first.url, { username: 'alice' }), first.checks);
    for (const c of b.jar.all())
      if (c.name === 'portcullis' || /^portcullis_\d+$/.test(c.name)) b.jar.delete(c.name);
    const r = await b.get((await authorizationUrl(rp)).url);
    assert.ok(signedInUpstream(r), 'signing in again');
    assert.equal((await oc.tokenIntrospection(rp.config, tokens.access_token)).active, false);
  });
});

describe('service to service', () => {
  test('client_credentials for a client that enables it; refused for one that does not', async () => {
    const svc = await rpFor(stack, 'svc');
    const t = await oc.clientCredentialsGrant(svc.config, { scope: 'openid' });
    assert.ok(t.access_token);
    const info = await oc.tokenIntrospection(svc.config, t.access_token);
    assert.equal(info.active, true);
    assert.equal(info.client_id, 'svc');
    assert.equal(info.sub, undefined, 'no user');
    const post = await rpFor(stack, 'rp-post');
    await assert.rejects(
      oc.clientCredentialsGrant(post.config),
      oauthError('invalid_request', /grant type is not allowed/),
    );
  });
});

describe('ID tokens verify against the published keys', () => {
  test('with jose and the JWKS, for RS256', async () => {
    const rp = await rpFor(stack, 'rp-basic');
    const { url, checks } = await authorizationUrl(rp);
    const tokens = await redeem(rp, await authorize(new Browser(), url), checks);
    const jwks = createRemoteJWKSet(new URL(`${stack.issuer}/jwks`));
    const { payload } = await jwtVerify(tokens.id_token!, jwks, {
      issuer: stack.issuer,
      audience: 'rp-basic',
    });
    assert.equal(payload.sub, subOf('test', 'alice'));
  });
});

describe('logs', () => {
  test('no token, code, secret or cookie value reaches the log', () => {
    const raw = stack.rawLogs();
    assert.doesNotMatch(raw, /eyJ[\w-]{10,}\.eyJ/, 'a JWT was logged');
    for (const secret of Object.values(SECRETS))
      assert.ok(!raw.includes(secret), 'a client secret was logged');
    assert.doesNotMatch(raw, /"(code|access_token|refresh_token|id_token)":"[\w-]{20,}/);
    assert.ok(stack.logs.some((l) => l['event'] === 'issuer.authorized'));
    assert.ok(stack.logs.some((l) => l['event'] === 'issuer.token'));
  });
});
