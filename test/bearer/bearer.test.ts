/**
 * Authorization: Bearer <JWT> on routes with `bearer` (docs/api-access.md), against the real in-process IdP
 * (its key set at its jwks_uri, its real ID tokens) and a second, bearer-only issuer (a CI system's OIDC
 * tokens) served here on loopback. Each refusal is checked with its control: the same token with only the
 * one claim changed is accepted.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { decodeJwt, exportJWK, generateKeyPair, importJWK, type JWK, type JWTPayload, SignJWT } from 'jose';
import { rawRequest } from '../support/raw.ts';
import { type Stack, startStack } from '../support/stack.ts';

interface Echo {
  headers: Record<string, string | undefined>;
}

/** A bearer-only issuer: a discovery document and a key set, nothing else (as token.actions.githubusercontent.com). */
async function startCiIssuer() {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid: 'ci-1', alg: 'ES256', use: 'sig' };
  const server = http.createServer((req, res) => {
    const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    if (req.url === '/.well-known/openid-configuration') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ issuer, jwks_uri: `${issuer}/keys` }));
    } else if (req.url === '/keys') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: [jwk] }));
    } else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    issuer,
    sign: (claims: JWTPayload) =>
      new SignJWT(claims)
        .setProtectedHeader({ alg: 'ES256', kid: 'ci-1' })
        .setIssuer(issuer)
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(privateKey),
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

const API = 'api://dispatch';
const CI_AUD = 'https://platform.test';

let stack: Stack;
let ci: Awaited<ReturnType<typeof startCiIssuer>>;
let aliceSub: string;
let bobSub: string;
let realIdToken: string | undefined;

before(async () => {
  ci = await startCiIssuer();
  stack = await startStack({
    provider: { bearer: { audiences: [API, 'portcullis-test'] } },
    config: (base) => ({
      ...base,
      routes: [
        { path: '/api/admin/', api: true, bearer: true, allow: { groups: ['admins'] } },
        { path: '/api/', api: true, bearer: ['test'] },
        { path: '/deploy/', api: true, bearer: ['ci'] },
        { path: '/web/', bearer: true },
      ],
      bearer: {
        clockSkew: '30s',
        issuers: [
          {
            id: 'ci',
            issuer: ci.issuer,
            audiences: [CI_AUD],
            algorithms: ['ES256'],
            allow: { requirements: { repository: 'acme/app' } },
          },
        ],
      },
      upstreams: (base['upstreams'] as Record<string, unknown>[]).map((u) => ({ ...u, assertion: {} })),
      storage: { type: 'memory' },
    }),
  });
  aliceSub = stack.idp.users.find((u) => u.username === 'alice')!.sub!;
  bobSub = stack.idp.users.find((u) => u.username === 'bob')!.sub!;
  stack.idp.setTokenResponseHook((body) => {
    if (typeof body['id_token'] === 'string') realIdToken = body['id_token'];
    return body;
  });
  await stack.signIn('alice');
  stack.idp.setTokenResponseHook(undefined);
});
after(async () => {
  await stack?.close();
  await ci?.close();
});

/** A token signed with the IdP's own current key, as its access tokens would be (RFC 9068). */
async function idpToken(
  claims: JWTPayload,
  o: { exp?: number; key?: JWK; alg?: string; typ?: string } = {},
): Promise<string> {
  const key = o.key ?? stack.idp.signingKey;
  const now = Math.floor(Date.now() / 1000);
  // Claims given win over the defaults (iss, aud included), so one test changes exactly one claim.
  return new SignJWT({
    iss: stack.idp.issuer,
    sub: aliceSub,
    aud: API,
    iat: now,
    exp: o.exp ?? now + 300,
    email: 'alice@example.com',
    email_verified: true,
    groups: ['admins'],
    ...claims,
  })
    .setProtectedHeader({ alg: o.alg ?? 'RS256', kid: key.kid as string, typ: o.typ ?? 'at+jwt' })
    .sign(await importJWK(key, o.alg ?? 'RS256'));
}

async function call(path: string, token: string | undefined, more: string[] = []) {
  const headers = ['Host', new URL(stack.url).host, 'Accept', 'application/json', ...more];
  if (token !== undefined) headers.push('Authorization', `Bearer ${token}`);
  const r = await rawRequest(stack.url, { path, headers });
  const echo = r.status === 200 ? (JSON.parse(String(r.body)) as Echo) : undefined;
  return { ...r, echo };
}

const challenge = (r: { headers: Record<string, string | string[] | undefined> }) =>
  String(r.headers['www-authenticate'] ?? '');

describe('tokens of a sign-in provider', () => {
  test('an access token for the API reaches it with the identity headers and the assertion, as a session would', async () => {
    const r = await call('/api/x', await idpToken({}));
    assert.equal(r.status, 200);
    const h = r.echo!.headers;
    assert.equal(h['x-forwarded-user'], aliceSub);
    assert.equal(h['x-forwarded-email'], 'alice@example.com');
    assert.equal(h['x-forwarded-provider'], 'test');
    assert.equal(h['x-forwarded-groups'], 'admins');
    const assertion = decodeJwt(h['x-portcullis-assertion']!);
    assert.equal(assertion.sub, aliceSub);
    assert.equal(assertion['provider'], 'test');
    // The API checks the token itself too (Dispatch does): the client's Authorization header passes on.
    assert.match(h['authorization'] ?? '', /^Bearer /);
  });

  test('a real ID token from a sign-in at the IdP is accepted (its aud, the client id, is listed)', async () => {
    assert.ok(realIdToken, 'captured at sign-in');
    const r = await call('/api/x', realIdToken);
    assert.equal(r.status, 200);
    assert.equal(r.echo!.headers['x-forwarded-user'], aliceSub);
  });

  test('spoofed identity headers beside a token are stripped', async () => {
    const r = await call('/api/x', await idpToken({}), [
      'X-Forwarded-User',
      'mallory',
      'X-Forwarded_Email',
      'm@x',
    ]);
    assert.equal(r.echo!.headers['x-forwarded-user'], aliceSub);
    assert.equal(r.echo!.headers['x-forwarded-email'], 'alice@example.com');
  });

  for (const [name, make, reason] of [
    ['expired beyond the skew', () => idpToken({}, { exp: Math.floor(Date.now() / 1000) - 120 }), /expired/],
    ['another audience', () => idpToken({ aud: 'api://other' }), /not meant for this API/],
    ['another issuer', () => idpToken({ iss: 'https://evil.example' }), /issuer is not trusted/],
    ['not yet valid', () => idpToken({ nbf: Math.floor(Date.now() / 1000) + 600 }), /not valid yet/],
    ['no exp', () => stripExp(), /expir/],
    ['a foreign key with the IdP’s kid', () => foreign(), /signature is invalid/],
    ['alg none', () => unsigned(), /not a JWT|malformed|algorithm/],
    ['not a JWT', async () => 'opaque-token-value', /not a JWT/],
    ['a logout token (typ logout+jwt), otherwise valid', () => idpToken({}, { typ: 'logout+jwt' }), /typ/],
  ] as const) {
    test(`${name}: 401 invalid_token, never a redirect; the reason logged, not the token`, async () => {
      const token = await make();
      const mark = stack.logs.length;
      const r = await call('/api/x', token);
      assert.equal(r.status, 401);
      assert.equal(r.headers['location'], undefined);
      assert.match(challenge(r), /^Bearer error="invalid_token", error_description="[^"]+"$/);
      assert.match(challenge(r), reason);
      assert.equal(JSON.parse(String(r.body)).error, 'PCL_BEARER_INVALID');
      assert.ok(stack.logs.slice(mark).some((l) => l['event'] === 'bearer.rejected'));
      assert.ok(!stack.rawLogs().includes(token), 'the token is never logged');
    });
  }

  test('control: expired but within bearer.clockSkew is accepted', async () => {
    const r = await call('/api/x', await idpToken({}, { exp: Math.floor(Date.now() / 1000) - 10 }));
    assert.equal(r.status, 200);
  });

  test('a rotated IdP key: the unknown kid makes Portcullis fetch the key set again', async () => {
    await stack.idp.rotateSigningKey();
    const before = stack.idp.jwksRequests;
    const r = await call('/api/x', await idpToken({}));
    assert.equal(r.status, 200);
    assert.ok(stack.idp.jwksRequests > before, 'the key set was refetched');
  });

  test('the same rules decide on the token: bob is refused /api/admin/ with 403 insufficient_scope', async () => {
    const mark = stack.logs.length;
    const bob = await idpToken({ sub: bobSub, email: 'bob@example.com', groups: ['engineering'] });
    const r = await call('/api/admin/x', bob);
    assert.equal(r.status, 403);
    assert.match(challenge(r), /^Bearer error="insufficient_scope", error_description=".*group-missing"$/);
    const line = stack.logs.slice(mark).find((l) => l['event'] === 'access.denied');
    assert.equal(line?.['surface'], 'bearer');
    assert.equal((await call('/api/admin/x', await idpToken({}))).status, 200, 'control: alice is an admin');
  });

  test('no token on a bearer API route: 401 with WWW-Authenticate: Bearer', async () => {
    const r = await call('/api/x', undefined);
    assert.equal(r.status, 401);
    assert.equal(challenge(r), 'Bearer');
  });

  test('a token on a route without bearer is not Portcullis’s: the request still needs a session', async () => {
    const r = await call('/other', await idpToken({}));
    assert.equal(r.status, 401);
    assert.equal(JSON.parse(String(r.body)).error, 'PCL_UNAUTHENTICATED');
  });

  test('a bearer route browsers also use: a navigation without a token is still sent to sign in', async () => {
    const r = await rawRequest(stack.url, {
      path: '/web/page',
      headers: ['Host', new URL(stack.url).host, 'Accept', 'text/html', 'Sec-Fetch-Mode', 'navigate'],
    });
    assert.equal(r.status, 302);
    const t = await call('/web/page', 'not.a.jwt');
    assert.equal(t.status, 401, 'with a token: never a redirect');
  });
});

describe('a bearer-only issuer (CI OIDC tokens)', () => {
  test('its token, with its audience and the required claim, reaches /deploy/ as a machine of that issuer', async () => {
    const r = await call(
      '/deploy/x',
      await ci.sign({ sub: 'repo:acme/app:ref:refs/heads/main', aud: CI_AUD, repository: 'acme/app' }),
    );
    assert.equal(r.status, 200);
    assert.equal(r.echo!.headers['x-forwarded-user'], 'repo:acme/app:ref:refs/heads/main');
    assert.equal(r.echo!.headers['x-forwarded-provider'], 'ci');
  });

  test('another repository: 403 by its own allow rules', async () => {
    const r = await call(
      '/deploy/x',
      await ci.sign({ sub: 'repo:evil/app', aud: CI_AUD, repository: 'evil/app' }),
    );
    assert.equal(r.status, 403);
    assert.match(challenge(r), /insufficient_scope/);
  });

  test('the provider audience is not its audience, and /api/ does not accept it', async () => {
    assert.equal(
      (await call('/deploy/x', await ci.sign({ sub: 'x', aud: API, repository: 'acme/app' }))).status,
      401,
    );
    const r = await call('/api/x', await ci.sign({ sub: 'x', aud: CI_AUD, repository: 'acme/app' }));
    assert.equal(r.status, 401);
    assert.match(challenge(r), /issuer is not trusted/);
  });

  test('a sign-in provider’s token is not accepted where only ci is', async () => {
    assert.equal((await call('/deploy/x', await idpToken({}))).status, 401);
  });
});

async function stripExp(): Promise<string> {
  const key = stack.idp.signingKey;
  return new SignJWT({ sub: aliceSub })
    .setProtectedHeader({ alg: 'RS256', kid: key.kid as string })
    .setIssuer(stack.idp.issuer)
    .setAudience(API)
    .sign(await importJWK(key, 'RS256'));
}

async function foreign(): Promise<string> {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk: JWK = { ...(await exportJWK(privateKey)), kid: stack.idp.signingKey.kid as string };
  return idpToken({}, { key: jwk });
}

async function unsigned(): Promise<string> {
  const good = await idpToken({});
  const [, payload] = good.split('.');
  const header = Buffer.from(JSON.stringify({ alg: 'none', kid: stack.idp.signingKey.kid })).toString(
    'base64url',
  );
  return `${header}.${payload}.`;
}
