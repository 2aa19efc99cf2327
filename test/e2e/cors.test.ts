// CORS in a real browser (headless Debian Chromium): a page on a second origin makes a credentialed
// cross-origin fetch to a gated API — with the session cookie, then with a bearer token (which makes Chromium
// send a preflight Portcullis answers) — and a page on an origin that is not allowed cannot read the answer.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { importJWK, SignJWT } from 'jose';
import { type ChromiumSession, openChromium, SKIP } from '../support/chromium.ts';
import { type Stack, startStack } from '../support/stack.ts';

/** A page server: the "other origins" a single-page app is served from. */
async function pageServer(): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<!doctype html><title>spa</title><p>spa</p>');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

let stack: Stack | undefined;
let spa: Awaited<ReturnType<typeof pageServer>> | undefined;
let evil: Awaited<ReturnType<typeof pageServer>> | undefined;
let chrome: ChromiumSession | undefined;

before(async () => {
  if (SKIP) return;
  spa = await pageServer();
  evil = await pageServer();
  stack = await startStack({
    provider: { bearer: {} },
    config: (base) => ({
      ...base,
      routes: [{ path: '/api/', api: true, bearer: true, cors: { origins: [spa!.url], credentials: true } }],
    }),
  });
  const b = await stack.signIn('alice');
  chrome = await openChromium();
  await chrome.context.addCookies([
    { name: 'portcullis', value: b.jar.value('portcullis', stack.url)!, url: stack.url },
  ]);
});
after(async () => {
  await chrome?.close();
  await stack?.close();
  await spa?.close();
  await evil?.close();
});

interface Result {
  ok: boolean;
  status?: number | undefined;
  user?: string | undefined;
  error?: string | undefined;
}

/** Runs fetch() in the page at `origin` against the gateway's /api/whoami. */
async function fetchFrom(
  origin: string,
  init: { credentials: 'include' | 'omit'; token?: string },
): Promise<Result> {
  const page = chrome!.page;
  await page.goto(`${origin}/`);
  return page.evaluate(
    async ({ url, init }) => {
      try {
        const headers: Record<string, string> = { accept: 'application/json' };
        if (init.token) headers['authorization'] = `Bearer ${init.token}`;
        const r = await fetch(url, { credentials: init.credentials, headers });
        const body = (await r.json()) as { headers?: Record<string, string> };
        return { ok: true, status: r.status, user: body.headers?.['x-forwarded-user'] };
      } catch (err) {
        return { ok: false, error: String(err) };
      }
    },
    { url: `${stack!.url}/api/whoami`, init },
  );
}

const alice = () => stack!.idp.users.find((u) => u.username === 'alice')!.sub!;

test('a credentialed fetch from the allowed origin carries the session and reads the answer', {
  skip: SKIP,
}, async () => {
  const r = await fetchFrom(spa!.url, { credentials: 'include' });
  assert.deepEqual(r, { ok: true, status: 200, user: alice() });
});

test('without the cookie, with a bearer token: a preflight, then the token decides', {
  skip: SKIP,
}, async () => {
  const key = stack!.idp.signingKey;
  const token = await new SignJWT({ email: 'alice@example.com', email_verified: true })
    .setProtectedHeader({ alg: 'RS256', kid: key.kid as string })
    .setIssuer(stack!.idp.issuer)
    .setSubject(alice())
    .setAudience('portcullis-test')
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(await importJWK(key, 'RS256'));
  // An Authorization header is not CORS-safelisted: Chromium sends a preflight first, and the fetch fails
  // unless Portcullis answers it with the allowances (a redirect to sign in, or the upstream's 404, would not).
  const r = await fetchFrom(spa!.url, { credentials: 'omit', token });
  assert.deepEqual(r, { ok: true, status: 200, user: alice() });
  assert.ok(!stack!.rawLogs().includes(token), 'the token is never logged');
});

test('without the cookie and without a token: the page can read Portcullis’s 401', {
  skip: SKIP,
}, async () => {
  const r = await fetchFrom(spa!.url, { credentials: 'omit' });
  assert.equal(r.ok, true);
  assert.equal(r.status, 401);
});

test('a page on an origin that is not allowed cannot read the answer', { skip: SKIP }, async () => {
  const r = await fetchFrom(evil!.url, { credentials: 'include' });
  assert.equal(r.ok, false);
  assert.match(r.error ?? '', /TypeError|Failed to fetch/);
});
