// examples/nginx-cached.conf with a real nginx (Debian's, on loopback) in front of Portcullis with
// forwardAuth.cacheSeconds: nginx answers the same cookie + path from its cache without asking Portcullis,
// asks again for another user or another path, never caches a 403 or a 401, and after sign-out a replayed
// copy of the old cookie is let in by the cache until the entry expires (the revocation delay the setting
// trades for speed, docs/integrations/nginx.md), then refused.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { closeAfter } from '../support/cleanup.ts';
import { freePort } from '../support/gateway.ts';
import { example, NGINX, skipWithout, startNginx, substitute, tempDir } from '../support/proxies.ts';
import { type Stack, startStack } from '../support/stack.ts';

const SKIP = skipWithout(NGINX, 'nginx-light');
const CACHE_SECONDS = 2;

describe('nginx proxy_cache on auth_request (examples/nginx-cached.conf)', { skip: SKIP }, () => {
  const parts = closeAfter();
  let stack: Stack;
  let front = '';

  before(async () => {
    stack = parts.add(
      await startStack({
        config: (c) => ({
          ...c,
          trustedProxies: ['127.0.0.1'],
          routes: [{ path: '/admin/', allow: { groups: ['admins'] } }],
          forwardAuth: { cacheSeconds: CACHE_SECONDS },
          // Server-side sessions: sign-out revokes, so the replay below is refused once the cache lets go.
          sessions: { store: 'storage' },
          storage: { type: 'memory' },
        }),
      }),
    );
    const nginxPort = await freePort();
    front = `http://127.0.0.1:${nginxPort}`;
    const dir = parts.add(tempDir('pcl-nginx-cache-'));
    const server = substitute(example('nginx-cached.conf'), [
      ['/var/cache/nginx/portcullis-auth', join(dir.path, 'auth-cache')],
      ['server 127.0.0.1:4180;', `server ${new URL(stack.url).host};`],
      ['listen 443 ssl;', `listen 127.0.0.1:${nginxPort};`],
      ['http://127.0.0.1:8080', stack.app.url],
    ]);
    parts.add(await startNginx(dir.path, server, nginxPort));
  });

  /** How many /oauth2/auth requests Portcullis has answered (its request counter, every status). */
  async function asked(): Promise<number> {
    const text = await (await fetch(`${stack.gw.metricsUrl}/metrics`)).text();
    let n = 0;
    for (const m of text.matchAll(/^portcullis_http_requests_total\{class="auth",[^}]*\} (\d+)$/gm))
      n += Number(m[1]);
    return n;
  }

  /** A GET through nginx: its status and the user the app saw (the sample app's identity row). */
  async function get(path: string, cookie?: string): Promise<{ status: number; user: string | undefined }> {
    const r = await fetch(`${front}${path}`, {
      headers: cookie === undefined ? {} : { cookie },
      redirect: 'manual',
    });
    const body = await r.text();
    return { status: r.status, user: /User \(X-Forwarded-User\)<\/th><td>([^<]*)</.exec(body)?.[1] };
  }

  test('the same cookie and path: answered from the cache; another path or user: Portcullis asked', async () => {
    const alice = (await stack.signIn('alice')).jar.header(stack.url);
    const bob = (await stack.signIn('bob')).jar.header(stack.url);
    const n0 = await asked();
    assert.deepEqual(await get('/x?a=1', alice), { status: 200, user: 'alice' });
    assert.equal(await asked(), n0 + 1);
    // Cached: nginx lets alice in with her identity and does not ask.
    assert.deepEqual(await get('/x?a=1', alice), { status: 200, user: 'alice' });
    assert.deepEqual(await get('/x?a=1', alice), { status: 200, user: 'alice' });
    assert.equal(await asked(), n0 + 1, 'the same cookie and path came from the cache');
    // Another path (the query is part of it): asked.
    assert.deepEqual(await get('/x?a=2', alice), { status: 200, user: 'alice' });
    assert.equal(await asked(), n0 + 2);
    // Another user on the very same path: asked, and the app sees bob, never alice's cached identity.
    assert.deepEqual(await get('/x?a=1', bob), { status: 200, user: 'bob' });
    assert.equal(await asked(), n0 + 3);
    // A denial is never cached: bob on /admin/ is asked about every time (nginx then asks once more for
    // the 403 page, error_page 403).
    const before403 = await asked();
    assert.equal((await get('/admin/p', bob)).status, 403);
    const per403 = (await asked()) - before403;
    assert.ok(per403 >= 1);
    assert.equal((await get('/admin/p', bob)).status, 403);
    assert.equal(await asked(), before403 + 2 * per403, 'the 403 was asked again');
    // No cookie: the sign-in page every time, each one asked.
    const before401 = await asked();
    assert.equal((await get('/x?a=1')).status, 200); // error_page 401 = /oauth2/sign_in
    assert.equal((await get('/x?a=1')).status, 200);
    assert.equal(await asked(), before401 + 2);
  });

  test('sign-out: a replayed copy of the old cookie is let in from the cache until it expires, then refused', async () => {
    const b = await stack.signIn('alice');
    const old = b.jar.header(stack.url);
    assert.deepEqual(await get('/after', old), { status: 200, user: 'alice' });
    await b.signOut(stack.url);
    // Portcullis refuses the old cookie at once (server-side session, revoked) ...
    const direct = await fetch(`${stack.url}/oauth2/auth`, { headers: { cookie: old } });
    assert.equal(direct.status, 401);
    // ... a path nginx has not cached for it is asked about, and refused (the sign-in page) ...
    assert.equal((await get('/elsewhere', old)).user, undefined);
    // ... but the cached path still lets the copy in: the revocation delay, at most cacheSeconds.
    assert.deepEqual(await get('/after', old), { status: 200, user: 'alice' });
    await new Promise((r) => setTimeout(r, (CACHE_SECONDS + 1) * 1000));
    const later = await get('/after', old);
    assert.equal(later.user, undefined, 'after cacheSeconds the cache asks again and the copy is refused');
    // The browser that signed out holds no session cookie: it never meets the old entry.
    assert.equal(b.jar.header(stack.url).includes(old), false);
  });
});
