// forwardAuth.cacheSeconds: the cache headers of /oauth2/auth. Absent by default (no-store); when enabled,
// only on an allow answer, bounded by cacheSeconds, the session's expiry and its next refresh; never on
// 401, 403 or 400. (test/proxies/nginx-cache.test.ts runs a real nginx cache on them.)
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { closeAfter } from '../support/cleanup.ts';
import { type Stack, startStack } from '../support/stack.ts';

async function auth(
  stack: Stack,
  cookie: string | undefined,
  uri: string,
): Promise<{
  status: number;
  cache: string | null;
  vary: string | null;
  setCookie: string | null;
  length: string | null;
  chunked: boolean;
}> {
  const headers: Record<string, string> = { 'X-Original-URI': uri };
  if (cookie !== undefined) headers['Cookie'] = cookie;
  const r = await fetch(`${stack.url}/oauth2/auth`, { headers });
  await r.arrayBuffer();
  return {
    status: r.status,
    cache: r.headers.get('cache-control'),
    vary: r.headers.get('vary'),
    setCookie: r.headers.get('set-cookie'),
    length: r.headers.get('content-length'),
    chunked: r.headers.get('transfer-encoding') !== null,
  };
}

const maxAge = (cc: string | null) => Number(/^max-age=(\d+)$/.exec(cc ?? '')?.[1] ?? Number.NaN);

const ROUTES = [{ path: '/admin/', allow: { groups: ['admins'] } }];

describe('forward-auth cache headers', () => {
  const parts = closeAfter();

  test('by default every answer is no-store and says nothing of Vary', async () => {
    const stack = parts.add(await startStack({ config: (c) => ({ ...c, routes: ROUTES }) }));
    const alice = (await stack.signIn('alice')).jar.header(stack.url);
    const ok = await auth(stack, alice, '/x');
    assert.equal(ok.status, 202);
    assert.equal(ok.cache, 'no-store');
    assert.equal(ok.vary, null);
    // An empty body said as Content-Length: 0, not chunked: nginx reuses the keep-alive connection of an
    // auth_request sub-request only when no body is left unread.
    assert.equal(ok.length, '0');
    assert.equal(ok.chunked, false);
  });

  test('enabled: a 202 carries max-age ≤ cacheSeconds and Vary: Cookie; 401, 403 and 400 stay no-store', async () => {
    const stack = parts.add(
      await startStack({
        config: (c) => ({
          ...c,
          routes: ROUTES,
          forwardAuth: { cacheSeconds: 10 },
          sessions: { lifetime: 60 },
        }),
      }),
    );
    const alice = (await stack.signIn('alice')).jar.header(stack.url);
    const bob = (await stack.signIn('bob')).jar.header(stack.url);
    const ok = await auth(stack, alice, '/admin/x');
    assert.equal(ok.status, 202);
    assert.equal(ok.setCookie, null);
    assert.ok(maxAge(ok.cache) >= 9 && maxAge(ok.cache) <= 10, `max-age ${ok.cache}`);
    assert.equal(ok.vary, 'Cookie');
    const denied = await auth(stack, bob, '/admin/x');
    assert.equal(denied.status, 403);
    assert.equal(denied.cache, 'no-store');
    assert.equal(denied.vary, null);
    const none = await auth(stack, undefined, '/x');
    assert.equal(none.status, 401);
    assert.equal(none.cache, 'no-store');
    const bad = await auth(stack, alice, '/a/%2e%2e/admin/x');
    assert.equal(bad.status, 400);
    assert.equal(bad.cache, 'no-store');
    assert.equal(bad.vary, null);
    // Bounded by the session's own expiry: 5 s left of its 60 s lifetime, 5 s of cache at most.
    stack.advance(55);
    const late = await auth(stack, alice, '/x');
    assert.equal(late.status, 202);
    assert.ok(maxAge(late.cache) <= 5 && maxAge(late.cache) >= 4, `max-age ${late.cache}`);
    // Past it: no session, and nothing cacheable.
    stack.advance(10);
    const gone = await auth(stack, alice, '/x');
    assert.equal(gone.status, 401);
    assert.equal(gone.cache, 'no-store');
  });

  test('bounded by the next refresh of the access token (a refresh may end the session or change it)', async () => {
    // Access tokens live 60 s; Portcullis refreshes 30 s before: at most 30 s of cache, whatever cacheSeconds.
    const stack = parts.add(
      await startStack({
        accessTokenTtlSeconds: 60,
        config: (c) => ({ ...c, forwardAuth: { cacheSeconds: 300 } }),
      }),
    );
    const alice = (await stack.signIn('alice')).jar.header(stack.url);
    const ok = await auth(stack, alice, '/x');
    assert.equal(ok.status, 202);
    assert.ok(maxAge(ok.cache) <= 30 && maxAge(ok.cache) >= 28, `max-age ${ok.cache}`);
    // Inside the refresh window the answer refreshes the session and sets a cookie: never cacheable.
    stack.advance(45);
    const refreshed = await auth(stack, alice, '/x');
    assert.equal(refreshed.status, 202);
    assert.notEqual(refreshed.setCookie, null, 'the refreshed session comes back as a cookie');
    assert.equal(refreshed.cache, 'no-store');
    assert.equal(refreshed.vary, null);
  });
});
