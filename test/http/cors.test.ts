/**
 * CORS per route, on the wire: preflights answered by Portcullis (204, never a redirect, never the
 * upstream), with the allowed origin only; the response headers on the upstream's answer and on
 * Portcullis's own 401; and the trailing-slash origin refused at load with the fix.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ConfigError } from '../../src/config/errors.ts';
import { resolveConfig } from '../../src/config/load.ts';
import { rawRequest } from '../support/raw.ts';
import { type Stack, startStack } from '../support/stack.ts';

const SPA = 'https://dispatch.example.com';
let stack: Stack;
let cookie: string;

before(async () => {
  stack = await startStack({
    config: (base) => ({
      ...base,
      routes: [
        {
          path: '/api/',
          api: true,
          cors: { origins: [SPA], credentials: true, exposeHeaders: ['X-Request-Id'] },
        },
      ],
    }),
  });
  const b = await stack.signIn('alice');
  cookie = `portcullis=${b.jar.value('portcullis', stack.url)}`;
});
after(() => stack?.close());

const host = () => new URL(stack.url).host;

function preflight(origin: string, method = 'DELETE', headers = 'authorization, content-type') {
  return rawRequest(stack.url, {
    method: 'OPTIONS',
    path: '/api/items/1',
    headers: [
      'Host',
      host(),
      'Origin',
      origin,
      'Access-Control-Request-Method',
      method,
      'Access-Control-Request-Headers',
      headers,
    ],
  });
}

test('a preflight from an allowed origin is answered by Portcullis: 204 with the allowances, no sign-in', async () => {
  const r = await preflight(SPA);
  assert.equal(r.status, 204);
  assert.equal(r.headers['location'], undefined);
  assert.equal(r.headers['access-control-allow-origin'], SPA);
  assert.equal(r.headers['access-control-allow-credentials'], 'true');
  assert.match(String(r.headers['access-control-allow-methods']), /DELETE/);
  assert.match(String(r.headers['access-control-allow-headers']), /Authorization/);
  assert.equal(r.headers['access-control-max-age'], '600');
  assert.match(String(r.headers['vary']), /Origin/);
});

test('a preflight from another origin, or asking for a header not allowed: 204 without allowances', async () => {
  for (const r of [
    await preflight('https://evil.example.com'),
    await preflight(`${SPA}/`),
    await preflight(SPA, 'DELETE', 'x-custom'),
  ]) {
    assert.equal(r.status, 204);
    assert.equal(r.headers['access-control-allow-origin'], undefined);
    assert.equal(r.headers['access-control-allow-credentials'], undefined);
  }
});

test('a credentialed request from the allowed origin: the upstream’s answer carries the CORS headers', async () => {
  const r = await rawRequest(stack.url, {
    path: '/api/items',
    headers: ['Host', host(), 'Origin', SPA, 'Cookie', cookie, 'Accept', 'application/json'],
  });
  assert.equal(r.status, 200);
  assert.equal(r.headers['access-control-allow-origin'], SPA);
  assert.equal(r.headers['access-control-allow-credentials'], 'true');
  assert.equal(r.headers['access-control-expose-headers'], 'X-Request-Id');
});

test('Portcullis’s own 401 carries them too, so the page can read why', async () => {
  const r = await rawRequest(stack.url, {
    path: '/api/items',
    headers: ['Host', host(), 'Origin', SPA, 'Accept', 'application/json'],
  });
  assert.equal(r.status, 401);
  assert.equal(r.headers['access-control-allow-origin'], SPA);
});

test('another origin’s request gets no CORS headers (the browser keeps the answer from the page)', async () => {
  const r = await rawRequest(stack.url, {
    path: '/api/items',
    headers: [
      'Host',
      host(),
      'Origin',
      'https://evil.example.com',
      'Cookie',
      cookie,
      'Accept',
      'application/json',
    ],
  });
  assert.equal(r.headers['access-control-allow-origin'], undefined);
});

test('an origin with a trailing slash, a path, or * with credentials is a configuration problem naming the fix', () => {
  const base = {
    publicUrl: 'https://platform.example.com',
    cookie: { secret: 'a'.repeat(43) },
    providers: [{ id: 'corp', type: 'oidc', issuer: 'https://login.example.com', clientId: 'abc' }],
    upstreams: [{ path: '/', url: 'http://127.0.0.1:8080' }],
  };
  let problems: readonly string[] = [];
  try {
    resolveConfig({
      ...base,
      routes: [
        { path: '/a/', cors: { origins: ['https://dispatch.example.com/'] } },
        { path: '/b/', cors: { origins: ['https://dispatch.example.com/app'] } },
        { path: '/c/', cors: { origins: ['*'], credentials: true } },
      ],
    });
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    problems = err.problems;
  }
  assert.ok(
    problems.some((p) =>
      p.startsWith(
        'routes[0].cors.origins[0]: browsers send the origin as https://dispatch.example.com (no trailing slash)',
      ),
    ),
    problems.join('\n'),
  );
  assert.ok(
    problems.some((p) => p.startsWith('routes[1].cors.origins[0]:')),
    problems.join('\n'),
  );
  assert.ok(
    problems.some((p) => p.startsWith('routes[2].cors.origins: browsers refuse *')),
    problems.join('\n'),
  );
  // Control: the origin written as browsers send it loads.
  resolveConfig({ ...base, routes: [{ path: '/a/', cors: { origins: ['https://dispatch.example.com'] } }] });
});
