/**
 * What the issuer refuses, seen from a real relying party (openid-client) and a scripted browser:
 * unregistered redirect URIs, unknown clients, wrong secrets, replayed codes, reused refresh tokens,
 * missing or plain PKCE, implicit requests, and users the access rules deny.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as oc from 'openid-client';
import type { Issuer } from '../../src/issuer/issuer.ts';
import { Authorizer } from '../../src/policy/authorize.ts';
import { type AccessPolicy, ALLOW } from '../../src/policy/decision.ts';
import {
  authorizationUrl,
  authorize,
  Browser,
  type IssuerStack,
  oauthError,
  redeem,
  rpFor,
  startIssuerStack,
} from '../support/issuer.ts';

let stack: IssuerStack;
before(async () => {
  stack = await startIssuerStack();
});
after(() => stack.close());

/** A token request by hand (openid-client would refuse to send some of these). */
async function tokenRequest(body: Record<string, string>, headers: Record<string, string> = {}) {
  const r = await fetch(`${stack.issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(body),
  });
  return { status: r.status, body: (await r.json()) as { error?: string; error_description?: string } };
}

describe('the authorization endpoint', () => {
  test('an unregistered redirect URI gets an error page, never a redirect to it', async () => {
    const rp = await rpFor(stack, 'rp-post');
    const { url } = await authorizationUrl(rp);
    for (const evil of [
      'https://evil.example/callback',
      `${rp.redirectUri}/extra`,
      `${rp.redirectUri}?x=1`,
    ]) {
      url.searchParams.set('redirect_uri', evil);
      const r = await new Browser().get(url, { followRedirects: false });
      assert.equal(r.status, 400, evil);
      assert.equal(r.headers.location, undefined, 'no redirect');
      assert.match(r.body, /The service’s sign-in request was refused/);
      assert.match(r.body, /redirect_uri/);
      assert.match(r.body, /Error PCL_ISSUER_REQUEST_INVALID · HTTP 400 · request id/);
      assert.doesNotMatch(r.body, /evil\.example/, 'the rejected URI is not echoed as a link');
      assert.match(String(r.headers['content-security-policy']), /default-src 'none'/);
    }
  });

  test('an unknown client gets an error page, never a redirect', async () => {
    const rp = await rpFor(stack, 'rp-post');
    const { url } = await authorizationUrl(rp);
    url.searchParams.set('client_id', 'nobody');
    const r = await new Browser().get(url, { followRedirects: false });
    assert.equal(r.status, 400);
    assert.equal(r.headers.location, undefined);
    assert.match(r.body, /invalid_client/);
  });

  test('PKCE is required of a public client', async () => {
    const rp = await rpFor(stack, 'rp-public');
    const url = oc.buildAuthorizationUrl(rp.config, {
      redirect_uri: rp.redirectUri,
      scope: 'openid',
      state: 's1',
    });
    const r = await new Browser().get(url);
    const p = new URL(r.url).searchParams;
    assert.ok(r.url.startsWith(rp.redirectUri));
    assert.equal(p.get('error'), 'invalid_request');
    assert.match(p.get('error_description') ?? '', /PKCE/);
    assert.equal(p.get('code'), null);
  });

  test('plain PKCE is refused', async () => {
    const rp = await rpFor(stack, 'rp-public');
    const { url } = await authorizationUrl(rp);
    url.searchParams.set('code_challenge_method', 'plain');
    url.searchParams.set('code_challenge', 'x'.repeat(43));
    const r = await new Browser().get(url);
    const p = new URL(r.url).searchParams;
    assert.equal(p.get('error'), 'invalid_request');
    assert.match(p.get('error_description') ?? '', /code_challenge_method/);
  });

  test('implicit and hybrid response types are refused', async () => {
    const rp = await rpFor(stack, 'rp-post');
    for (const responseType of ['token', 'id_token', 'code id_token', 'code token']) {
      const { url } = await authorizationUrl(rp);
      url.searchParams.set('response_type', responseType);
      const r = await new Browser().get(url, { followRedirects: false });
      const where = new URL(r.headers.location ?? 'http://x/', stack.url);
      const error = where.searchParams.get('error') ?? new URLSearchParams(where.hash.slice(1)).get('error');
      assert.ok(
        error === 'unsupported_response_type' || error === 'unauthorized_client' || r.status === 400,
        `${responseType}: ${r.status} ${r.headers.location ?? r.body.slice(0, 200)}`,
      );
      assert.doesNotMatch(r.headers.location ?? '', /access_token=|id_token=/);
    }
  });

  test('a scope the client is not allowed is refused', async () => {
    const rp = await rpFor(stack, 'rp-consent');
    const { url } = await authorizationUrl(rp, { scope: 'openid offline_access', prompt: 'consent' });
    const r = await new Browser().get(url);
    assert.equal(new URL(r.url).searchParams.get('error'), 'invalid_scope');
  });
});

describe('the token endpoint', () => {
  test('a wrong secret is invalid_client (post and basic)', async () => {
    for (const clientId of ['rp-post', 'rp-basic'] as const) {
      const rp = await rpFor(stack, clientId, { secret: 'W'.repeat(43) });
      await assert.rejects(oc.clientCredentialsGrant(rp.config), oauthError('invalid_client'));
      const { url, checks } = await authorizationUrl(await rpFor(stack, clientId));
      const landed = await authorize(new Browser(), url);
      await assert.rejects(redeem(rp, landed, checks), oauthError('invalid_client'));
    }
  });

  test('an unknown client is invalid_client', async () => {
    const r = await tokenRequest({
      grant_type: 'authorization_code',
      code: 'x',
      client_id: 'nobody',
      client_secret: 'y',
    });
    assert.equal(r.status, 401);
    assert.equal(r.body.error, 'invalid_client');
  });

  test('a confidential client may send its secret either way, but never both ways at once', async () => {
    const { SECRETS } = await import('../support/issuer.ts');
    const post = await rpFor(stack, 'rp-post');
    const { url, checks } = await authorizationUrl(post);
    const landed = await authorize(new Browser(), url);
    const code = new URL(landed.url).searchParams.get('code')!;
    const basic = Buffer.from(`rp-post:${SECRETS.post}`).toString('base64');
    const body = {
      grant_type: 'authorization_code',
      code,
      redirect_uri: post.redirectUri,
      code_verifier: checks.verifier,
    };
    const both = await tokenRequest(
      { ...body, client_id: 'rp-post', client_secret: SECRETS.post },
      { authorization: `Basic ${basic}` },
    );
    assert.equal(both.body.error, 'invalid_request', JSON.stringify(both.body));
    const r = await tokenRequest(body, { authorization: `Basic ${basic}` });
    assert.equal(r.status, 200, JSON.stringify(r.body));
  });

  test('a replayed code is refused and revokes the grant: the first tokens stop working', async () => {
    const rp = await rpFor(stack, 'rp-basic');
    const { url, checks } = await authorizationUrl(rp);
    const landed = await authorize(new Browser(), url);
    const first = await redeem(rp, landed, checks);
    assert.equal((await oc.tokenIntrospection(rp.config, first.access_token)).active, true);
    await assert.rejects(redeem(rp, landed, checks), oauthError('invalid_grant'));
    assert.equal((await oc.tokenIntrospection(rp.config, first.access_token)).active, false, 'grant revoked');
    await assert.rejects(oc.refreshTokenGrant(rp.config, first.refresh_token!), oauthError('invalid_grant'));
  });

  test('a reused refresh token is refused and revokes the grant', async () => {
    const rp = await rpFor(stack, 'rp-post');
    const { url, checks } = await authorizationUrl(rp);
    const tokens = await redeem(rp, await authorize(new Browser(), url), checks);
    const rotated = await oc.refreshTokenGrant(rp.config, tokens.refresh_token!);
    await assert.rejects(oc.refreshTokenGrant(rp.config, tokens.refresh_token!), oauthError('invalid_grant'));
    await assert.rejects(
      oc.refreshTokenGrant(rp.config, rotated.refresh_token!),
      oauthError('invalid_grant'),
    );
    assert.equal((await oc.tokenIntrospection(rp.config, rotated.access_token)).active, false);
  });

  test('a code redeemed without its PKCE verifier, or with the wrong one, is refused', async () => {
    const rp = await rpFor(stack, 'rp-public');
    for (const verifier of [undefined, oc.randomPKCECodeVerifier()]) {
      const { url } = await authorizationUrl(rp);
      const landed = await authorize(new Browser(), url);
      const code = new URL(landed.url).searchParams.get('code')!;
      const body: Record<string, string> = {
        grant_type: 'authorization_code',
        code,
        redirect_uri: rp.redirectUri,
        client_id: 'rp-public',
      };
      if (verifier !== undefined) body['code_verifier'] = verifier;
      const r = await tokenRequest(body);
      assert.equal(r.body.error, 'invalid_grant', `verifier ${verifier === undefined ? 'missing' : 'wrong'}`);
    }
  });

  test('a code is bound to its redirect URI and its client', async () => {
    const rp = await rpFor(stack, 'rp-post');
    const { url, checks } = await authorizationUrl(rp);
    const landed = await authorize(new Browser(), url);
    const basic = await rpFor(stack, 'rp-basic');
    await assert.rejects(redeem(basic, landed, checks), oauthError('invalid_grant'));
  });
});

describe('the access rules', () => {
  const denyBob: AccessPolicy = {
    decide: (session) =>
      session.identity.sub === 'bob' ? { allow: false, reasons: ['group-missing:admins'] } : ALLOW,
  };
  // The policy is swapped on the running gateway's context to model a rule that changes between two
  // requests; test/issuer/services.test.ts covers the same denial from `allow` configuration.
  const withPolicy = (policy: AccessPolicy) => {
    const ctx = stack.gws[0]!.ctx;
    Object.assign(ctx, { authz: new Authorizer(policy, ctx.log, ctx.metrics) });
  };

  test('a user the policy denies gets the 403 page and no code; the service hears nothing', async () => {
    withPolicy(denyBob);
    try {
      const rp = await rpFor(stack, 'rp-post');
      const { url } = await authorizationUrl(rp);
      // Without a session the gate's own sign-in comes first, and the access rules refuse bob there.
      const r = await authorize(new Browser(), url, { username: 'bob' });
      assert.equal(r.status, 403);
      assert.match(r.body, /You do not have access/);
      assert.match(r.body, /Error PCL_FORBIDDEN · HTTP 403/);
      assert.ok(!r.history.some((u) => u.startsWith(stack.sink.url)), 'never sent to the service');
    } finally {
      withPolicy({ decide: () => ALLOW });
    }
  });

  test('a rule that changes applies to a user who already has an issuer session', async () => {
    const rp = await rpFor(stack, 'rp-post');
    const b = new Browser();
    const first = await authorizationUrl(rp);
    await redeem(rp, await authorize(b, first.url, { username: 'bob' }), first.checks);
    withPolicy(denyBob);
    try {
      const { url } = await authorizationUrl(rp);
      const r = await b.get(url);
      assert.equal(r.status, 403);
      assert.match(r.url, /\/oidc\/interaction\//, 'refused by the issuer’s interaction');
      assert.match(r.body, /You do not have access/);
      assert.match(r.body, /group-missing:admins/);
      assert.match(r.body, /Error PCL_FORBIDDEN · HTTP 403/);
      assert.ok(!r.history.some((u) => u.startsWith(stack.sink.url)), 'never sent to the service');
      const denied = stack.logs.find((l) => l['event'] === 'issuer.denied');
      assert.deepEqual(denied?.['reasons'], ['group-missing:admins']);
      assert.equal(denied?.['client'], 'rp-post');
      // prompt=none gets login_required rather than a code.
      const silent = await authorizationUrl(rp, { prompt: 'none' });
      const s = await b.get(silent.url);
      assert.equal(new URL(s.url).searchParams.get('error'), 'login_required');
    } finally {
      withPolicy({ decide: () => ALLOW });
    }
  });
});

describe('interactions', () => {
  test('an interaction page without its cookie (another browser, or expired) says so', async () => {
    const rp = await rpFor(stack, 'rp-post');
    const { url } = await authorizationUrl(rp);
    const first = await new Browser().get(url, { followRedirects: false });
    const interaction = new URL(first.headers.location!, stack.url);
    assert.match(interaction.pathname, /^\/oidc\/interaction\//);
    const r = await new Browser().get(interaction);
    assert.equal(r.status, 400);
    assert.match(r.body, /Error PCL_ISSUER_INTERACTION_EXPIRED/);
  });

  test('the interaction cookie is scoped to the interaction path and HttpOnly; the session cookie to /oidc', async () => {
    const b = new Browser();
    const rp = await rpFor(stack, 'rp-post');
    await authorize(b, (await authorizationUrl(rp)).url);
    const cookies = b.jar.all().filter((c) => c.name.startsWith('portcullis_oidc'));
    const session = cookies.find((c) => c.name === 'portcullis_oidc');
    assert.equal(session?.path, '/oidc');
    assert.equal(session?.httpOnly, true);
    assert.equal(session?.sameSite?.toLowerCase(), 'lax');
    for (const c of cookies.filter((x) => x.name.startsWith('portcullis_oidc_interaction'))) {
      assert.match(c.path, /^\/oidc\/interaction\/[\w-]+$/);
      assert.equal(c.httpOnly, true);
    }
    // Upstream requests never see the issuer's cookies.
    const echo = await b.get(`${stack.url}/echo`, { headers: { accept: 'application/json' } });
    assert.doesNotMatch(JSON.parse(echo.body).headers['cookie'] ?? '', /portcullis_oidc/);
  });

  test('the interaction is the issuer’s: a WebSocket upgrade to /oidc is refused', async () => {
    const { default: http } = await import('node:http');
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request(`${stack.url}/oidc/jwks`, {
        headers: {
          connection: 'upgrade',
          upgrade: 'websocket',
          'sec-websocket-key': 'x'.repeat(24),
          'sec-websocket-version': '13',
        },
      });
      req.on('upgrade', (res, socket) => {
        socket.destroy();
        resolve(res.statusCode ?? 0);
      });
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(status, 404);
    const issuer = stack.gws[0]!.ctx.issuer as Issuer;
    assert.equal(issuer.issuerUrl.href, stack.issuer);
  });
});
