/** The bearer settings' problems, all reported at start-up with the key and the fix (src/config/bearer.ts). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../../src/config/errors.ts';
import { resolveConfig } from '../../src/config/load.ts';

const SECRET = 'a'.repeat(43);

function config(over: Record<string, unknown>): Record<string, unknown> {
  return {
    publicUrl: 'https://platform.example.com',
    cookie: { secret: SECRET },
    providers: [
      { id: 'corp', type: 'oidc', issuer: 'https://login.example.com', clientId: 'abc', bearer: {} },
      { id: 'gh', type: 'github', clientId: 'x', clientSecret: 'y' },
    ],
    upstreams: [{ path: '/', url: 'http://127.0.0.1:8080' }],
    ...over,
  };
}

function problems(raw: Record<string, unknown>): readonly string[] {
  try {
    resolveConfig(raw, {});
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.problems;
  }
  return [];
}

test('a valid bearer configuration loads (control)', () => {
  const ok = config({
    routes: [
      { path: '/api/', api: true, bearer: true },
      { path: '/deploy/', bearer: ['ci', 'corp'] },
    ],
    bearer: {
      issuers: [
        { id: 'ci', issuer: 'https://token.ci.example', audiences: ['https://platform.example.com'] },
      ],
    },
  });
  assert.deepEqual(problems(ok), []);
  const c = resolveConfig(ok, {});
  assert.equal(c.bearer.clockSkew, 60);
  assert.equal(c.routes[0]!.bearer, true);
});

test('every bearer problem at once, each naming its key', () => {
  const p = problems(
    config({
      providers: [
        { id: 'corp', type: 'oidc', issuer: 'https://login.example.com', clientId: 'abc', bearer: {} },
        { id: 'gh', type: 'github', clientId: 'x', clientSecret: 'y', bearer: {} },
      ],
      routes: [
        { path: '/api/', bearer: ['nope'] },
        { path: '/pub/', public: true, bearer: true },
      ],
      bearer: {
        clockSkew: '10m',
        issuers: [
          { id: 'corp', issuer: 'https://ci.example', audiences: ['x'] },
          { id: 'ci', issuer: 'https://ci.example', audiences: ['x'] },
        ],
      },
    }),
  );
  const has = (re: RegExp) =>
    assert.ok(
      p.some((x) => re.test(x)),
      `${re} in\n${p.join('\n')}`,
    );
  has(/^bearer\.clockSkew: at most 300s/);
  has(/^providers\[1\]\.bearer: a github provider issues opaque tokens/);
  has(/^bearer\.issuers\[0\]\.id: "corp" is a provider id/);
  has(/^routes\[0\]\.bearer: "nope" is not a bearer source/);
  has(/^routes\[1\]\.bearer: a public route lets everyone in/);
});

test('bearer: true with no source configured is a problem', () => {
  const p = problems({
    ...config({ routes: [{ path: '/api/', bearer: true }] }),
    providers: [{ id: 'corp', type: 'oidc', issuer: 'https://login.example.com', clientId: 'abc' }],
  });
  assert.ok(
    p.some((x) => /^routes\[0\]\.bearer: no bearer source is configured/.test(x)),
    p.join('\n'),
  );
});

test('a symmetric or none algorithm is refused by the schema (the key would be a shared secret)', () => {
  for (const alg of ['HS256', 'none']) {
    const p = problems(
      config({
        bearer: {
          issuers: [{ id: 'ci', issuer: 'https://ci.example', audiences: ['x'], algorithms: [alg] }],
        },
      }),
    );
    assert.ok(
      p.some((x) => x.startsWith('bearer.issuers[0].algorithms[0]')),
      p.join('\n'),
    );
  }
});

test('allow.clients names issuer clients with clientCredentials; a route names issuer only when one exists', () => {
  const issuer = {
    clients: [
      { id: 'svc', secret: 'x'.repeat(32), clientCredentials: true },
      { id: 'web', secret: 'y'.repeat(32), redirectUris: ['https://web.example.com/cb'] },
    ],
  };
  const ok = config({ issuer, routes: [{ path: '/svc/', bearer: ['issuer'], allow: { clients: ['svc'] } }] });
  assert.deepEqual(problems(ok), []);
  const p = problems(
    config({ issuer, routes: [{ path: '/svc/', bearer: ['issuer'], allow: { clients: ['web'] } }] }),
  );
  assert.ok(
    p.some((x) =>
      /^routes\[0\]\.allow\.clients: "web" is not an issuer client with clientCredentials/.test(x),
    ),
    p.join('\n'),
  );
  const q = problems(config({ routes: [{ path: '/svc/', bearer: ['issuer'] }] }));
  assert.ok(
    q.some((x) => /^routes\[0\]\.bearer: "issuer" is not a bearer source/.test(x)),
    q.join('\n'),
  );
});

test('opaque tokens: one opaque provider per route, introspection only where there is one, a bounded cache', () => {
  const p = problems(
    config({
      providers: [
        {
          id: 'corp',
          type: 'oidc',
          issuer: 'https://login.example.com',
          clientId: 'abc',
          clientSecret: 's',
          bearer: { opaque: 'introspection' },
        },
        { id: 'gh', type: 'github', clientId: 'x', clientSecret: 'y', bearer: { opaque: 'introspection' } },
      ],
      routes: [{ path: '/api/', bearer: true }],
      bearer: { opaqueCache: { ttl: '1h' } },
    }),
  );
  const has = (re: RegExp) =>
    assert.ok(
      p.some((x) => re.test(x)),
      `${re} in\n${p.join('\n')}`,
    );
  has(
    /^providers\[1\]\.bearer\.opaque: a github provider has no RFC 7662 introspection endpoint; use userinfo/,
  );
  has(/^routes\[0\]\.bearer: takes opaque tokens of corp and gh/);
  has(/^bearer\.opaqueCache\.ttl: at most 600s/);
  const ok = config({
    providers: [
      { id: 'gh', type: 'github', clientId: 'x', clientSecret: 'y', bearer: { opaque: 'userinfo' } },
    ],
    routes: [{ path: '/api/', bearer: ['gh'] }],
  });
  assert.deepEqual(problems(ok), [], 'control');
});
