/**
 * Opaque access tokens (not JWTs), asked of the real in-process IdP by RFC 7662 introspection, with the
 * positive and negative cache: a repeated token costs no second IdP call, and a refused one is not asked
 * about again within negativeTtl.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type Stack, startStack } from '../support/stack.ts';

let stack: Stack;
let accessToken: string | undefined;
let introspections = 0;

before(async () => {
  stack = await startStack({
    idp: {
      providerConfig: { features: { introspection: { enabled: true } } } as never,
      extraRoutes: (req) => {
        if (req.url?.endsWith('/token/introspection')) introspections++;
        return false;
      },
    },
    provider: { bearer: { opaque: 'introspection' } },
    config: (base) => ({
      ...base,
      routes: [{ path: '/api/', api: true, bearer: true }],
      bearer: { opaqueCache: { ttl: '1m', negativeTtl: '1m' } },
    }),
  });
  stack.idp.setTokenResponseHook((body) => {
    if (typeof body['access_token'] === 'string') accessToken = body['access_token'];
    return body;
  });
  await stack.signIn('alice');
  stack.idp.setTokenResponseHook(undefined);
});
after(() => stack?.close());

const call = (t: string) =>
  fetch(`${stack.url}/api/x`, { headers: { accept: 'application/json', authorization: `Bearer ${t}` } });

test('the IdP’s own opaque access token: introspected once, then served from the cache', async () => {
  assert.ok(accessToken, 'captured at sign-in');
  assert.equal(accessToken.split('.').length, 1, 'an opaque token, not a JWT');
  const before = introspections;
  const r = await call(accessToken);
  assert.equal(r.status, 200);
  const h = ((await r.json()) as { headers: Record<string, string> }).headers;
  assert.equal(h['x-forwarded-user'], stack.idp.users.find((u) => u.username === 'alice')!.sub);
  assert.equal(h['x-forwarded-provider'], 'test');
  assert.equal(introspections, before + 1);
  assert.equal((await call(accessToken)).status, 200);
  assert.equal(introspections, before + 1, 'the second call is answered from the cache');
});

test('an unknown token: 401 inactive, and not asked about again within negativeTtl', async () => {
  const before = introspections;
  const bogus = 'x'.repeat(43);
  const r = await call(bogus);
  assert.equal(r.status, 401);
  assert.match(
    r.headers.get('www-authenticate') ?? '',
    /error="invalid_token", error_description="The access token is not active"/,
  );
  assert.equal(introspections, before + 1);
  assert.equal((await call(bogus)).status, 401);
  assert.equal(introspections, before + 1, 'the refusal is cached');
  assert.ok(!stack.rawLogs().includes(bogus), 'the token is never logged');
});
