/**
 * Authorization: Bearer at the forward-auth endpoint (/oauth2/auth, and Envoy's /oauth2/auth/<path>): on a
 * route that takes bearer tokens the token is decided, by the same authorize step, as on the proxied path —
 * 202 with X-Auth-Request-*, 401 invalid_token, 403 insufficient_scope — against the real in-process IdP's
 * key set. Each refusal has its control.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { importJWK, type JWTPayload, SignJWT } from 'jose';
import { rawRequest } from '../support/raw.ts';
import { type Stack, startStack } from '../support/stack.ts';

const API = 'api://dispatch';
let stack: Stack;
let aliceSub: string;

before(async () => {
  stack = await startStack({
    provider: { bearer: { audiences: [API] } },
    config: (base) => ({
      ...base,
      routes: [
        { path: '/api/admin/', api: true, bearer: true, allow: { groups: ['admins'] } },
        { path: '/api/', api: true, bearer: ['test'] },
        { path: '/web/', allow: { groups: ['staff'] } },
      ],
    }),
  });
  aliceSub = stack.idp.users.find((u) => u.username === 'alice')!.sub!;
});
after(() => stack?.close());

async function token(claims: JWTPayload = {}): Promise<string> {
  const key = stack.idp.signingKey;
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({
    iss: stack.idp.issuer,
    sub: aliceSub,
    aud: API,
    iat: now,
    exp: now + 300,
    email: 'alice@example.com',
    email_verified: true,
    groups: ['users'],
    ...claims,
  })
    .setProtectedHeader({ alg: 'RS256', kid: key.kid as string, typ: 'at+jwt' })
    .sign(await importJWK(key, 'RS256'));
}

async function auth(original: string | undefined, t: string | undefined, path = '/oauth2/auth') {
  const headers = ['Host', new URL(stack.url).host, 'Accept', 'application/json'];
  if (original !== undefined) headers.push('X-Forwarded-Uri', original);
  if (t !== undefined) headers.push('Authorization', `Bearer ${t}`);
  return rawRequest(stack.url, { path, headers });
}
const challenge = (r: { headers: Record<string, string | string[] | undefined> }) =>
  String(r.headers['www-authenticate'] ?? '');

test('a valid token on a bearer route: 202 with the token’s identity in X-Auth-Request-*', async () => {
  const r = await auth('/api/x', await token());
  assert.equal(r.status, 202, String(r.body));
  assert.equal(r.headers['x-auth-request-user'], aliceSub);
  assert.equal(r.headers['x-auth-request-email'], 'alice@example.com');
  assert.equal(r.headers['x-auth-request-provider'], 'test');
  assert.equal(r.headers['x-auth-request-groups'], 'users');
  assert.equal(r.headers['set-cookie'], undefined, 'a token makes no session');
});

test('Envoy’s /oauth2/auth/<path> form: 200 for the same token', async () => {
  const r = await auth(undefined, await token(), '/oauth2/auth/api/x');
  assert.equal(r.status, 200, String(r.body));
  assert.equal(r.headers['x-auth-request-user'], aliceSub);
});

test('a token for another audience: 401 invalid_token, the reason logged, never the token', async () => {
  const t = await token({ aud: 'api://other' });
  const mark = stack.logs.length;
  const r = await auth('/api/x', t);
  assert.equal(r.status, 401);
  assert.match(challenge(r), /^Bearer error="invalid_token", error_description="[^"]*not meant for this API/);
  assert.equal(JSON.parse(String(r.body)).error, 'PCL_BEARER_INVALID');
  assert.ok(stack.logs.slice(mark).some((l) => l['event'] === 'bearer.rejected'));
  assert.ok(!stack.rawLogs().includes(t));
});

test('a valid token the route’s rules refuse: 403 insufficient_scope, recorded by the authorize step', async () => {
  const mark = stack.logs.length;
  const r = await auth('/api/admin/x', await token());
  assert.equal(r.status, 403);
  assert.match(challenge(r), /^Bearer error="insufficient_scope"/);
  const line = stack.logs.slice(mark).find((l) => l['event'] === 'access.denied');
  assert.equal(line?.['surface'], 'forward-auth');
  assert.equal(line?.['credential'], 'bearer');
  // control: the same token with the group passes
  assert.equal((await auth('/api/admin/x', await token({ groups: ['admins'] }))).status, 202);
});

test('no credential on a bearer route: 401 that says Bearer (RFC 6750 §3)', async () => {
  const r = await auth('/api/x', undefined);
  assert.equal(r.status, 401);
  assert.equal(challenge(r), 'Bearer');
});

test('a route without bearer: the token is not a credential there (the header is the app’s)', async () => {
  const r = await auth('/web/x', await token({ groups: ['staff'] }));
  assert.equal(r.status, 401);
  assert.equal(challenge(r), '');
  assert.equal(JSON.parse(String(r.body)).error, 'PCL_UNAUTHENTICATED');
});
