/**
 * The `issuer` and `storage` sections: defaults, secrets from files and the environment, and every
 * problem reported at once, each naming the key and the fix.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, test } from 'node:test';
import { ConfigError } from '../../src/config/errors.ts';
import { loadConfig, resolveConfig } from '../../src/config/load.ts';

const dir = mkdtempSync(join(tmpdir(), 'portcullis-issuer-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const SECRET = 'k'.repeat(43);

function base(issuer: unknown, storage?: unknown): Record<string, unknown> {
  return {
    publicUrl: 'https://platform.example.com',
    cookie: { secret: 'c'.repeat(43) },
    providers: [{ id: 'corp', type: 'oidc', issuer: 'https://sso.example.com', clientId: 'p' }],
    upstreams: [{ path: '/', url: 'http://127.0.0.1:8080' }],
    ...(issuer === undefined ? {} : { issuer }),
    ...(storage === undefined ? {} : { storage }),
  };
}

function problems(raw: unknown): string[] {
  try {
    resolveConfig(raw);
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems];
    throw err;
  }
  return [];
}

test('defaults: issuer at <publicUrl>/oidc, sqlite under data/, RS256, every scope, lifetimes', () => {
  const c = resolveConfig(
    base({ clients: [{ id: 'grafana', secret: SECRET, redirectUris: ['https://g.example.com/cb'] }] }),
  );
  assert.equal(c.issuer?.url.href, 'https://platform.example.com/oidc');
  assert.equal(c.storage.type, 'sqlite');
  assert.equal(c.storage.file, resolve('data/portcullis.db'));
  assert.equal(c.storage.cleanupInterval, 600);
  const client = c.issuer!.clients[0]!;
  assert.equal(client.secretValue, SECRET);
  assert.equal(client.authMethod, 'client_secret_basic');
  assert.equal(client.idTokenSigningAlg, 'RS256');
  assert.equal(client.name, 'grafana');
  assert.deepEqual(client.scopes, ['openid', 'profile', 'email', 'groups', 'offline_access']);
  assert.deepEqual(client.ttl, { accessToken: 3600, idToken: 3600, refreshToken: 14 * 24 * 3600 });
  assert.equal(client.skipConsent, false);
});

test('without issuer nothing is required of storage, and issuer is undefined', () => {
  const c = resolveConfig(base(undefined));
  assert.equal(c.issuer, undefined);
  assert.equal(c.storage.type, 'sqlite');
});

test('per-client lifetimes and display; a public client; client_credentials only', () => {
  const c = resolveConfig(
    base({
      accessTokenTtl: '30m',
      clients: [
        {
          id: 'spa',
          public: true,
          redirectUris: ['http://127.0.0.1:5173/cb', 'https://spa.example.com/cb'],
          accessTokenTtl: '5m',
          display: { name: 'The SPA', url: 'https://spa.example.com/' },
        },
        { id: 'job', secret: SECRET, clientCredentials: true, scopes: ['openid'] },
      ],
    }),
  );
  const [spa, job] = c.issuer!.clients;
  assert.equal(spa?.authMethod, 'none');
  assert.equal(spa?.secretValue, undefined);
  assert.equal(spa?.ttl.accessToken, 300);
  assert.equal(spa?.name, 'The SPA');
  assert.equal(job?.ttl.accessToken, 1800);
  assert.deepEqual(job?.redirectUris, []);
});

test('every problem at once, each naming the key', () => {
  const p = problems(
    base(
      {
        clients: [
          {
            id: 'a',
            public: true,
            secret: SECRET,
            clientCredentials: true,
            redirectUris: ['https://a.example.com/cb'],
          },
          {
            id: 'b',
            secret: 'short',
            redirectUris: ['http://b.example.com/cb', 'https://b.example.com/cb#frag'],
          },
          { id: 'b', redirectUris: ['https://user:pw@b.example.com/cb'] },
          { id: 'c', secret: SECRET },
          {
            id: 'd',
            secret: SECRET,
            secretFile: '/nope',
            redirectUris: ['https://d.example.com/'],
            scopes: ['profile'],
          },
        ],
      },
      { type: 'redis', password: 'x', passwordFile: '/nope2' },
    ),
  );
  const expected = [
    /^issuer\.clients\[0\]: a public client has no secret/,
    /^issuer\.clients\[0\]\.clientCredentials: only a confidential client/,
    /^issuer\.clients\[1\]\.secret: 5 characters; at least 32 are needed — make one with `portcullis secret --client`/,
    /^issuer\.clients\[1\]\.redirectUris\[0\]: http:\/\/b\.example\.com\/cb plain http is allowed only on loopback/,
    /^issuer\.clients\[1\]\.redirectUris\[1\]: .* must not have a fragment/,
    /^issuer\.clients\[2\]\.id: "b" is used by another client/,
    /^issuer\.clients\[2\]\.secret: a confidential client needs a secret/,
    /^issuer\.clients\[2\]\.redirectUris\[0\]: .* must not carry a user name or password/,
    /^issuer\.clients\[3\]\.redirectUris: list the service's redirect URIs/,
    /^issuer\.clients\[4\]: set either secret or secretFile, not both/,
    /^issuer\.clients\[4\]\.scopes: must include "openid"/,
    /^storage\.url: type redis needs a URL/,
    /^storage: set either password or passwordFile, not both/,
  ];
  for (const re of expected)
    assert.ok(
      p.some((x) => re.test(x)),
      `${re}\nin:\n${p.join('\n')}`,
    );
});

test('schema problems: unknown keys with a suggestion, unknown scopes, no clients, bad durations', () => {
  const p = problems(
    base({
      clients: [
        { id: 'x', secret: SECRET, redirectUri: ['https://x.example.com/cb'], scopes: ['openid', 'admin'] },
      ],
      refreshTokenTtl: '2 weeks',
    }),
  );
  assert.ok(
    p.some((x) => /^issuer\.clients\[0\]\.redirectUri: unknown key — did you mean "redirectUris"\?/.test(x)),
    p.join('\n'),
  );
  assert.ok(
    p.some((x) => x.startsWith('issuer.clients[0].scopes[1]:')),
    p.join('\n'),
  );
  assert.ok(
    p.some((x) => x.startsWith('issuer.refreshTokenTtl:') && x.includes('not a duration')),
    p.join('\n'),
  );
  assert.ok(
    problems(base({ clients: [] })).some((x) => x.startsWith('issuer.clients: register at least one client')),
  );
  assert.ok(problems(base(undefined, { type: 'postgres' })).some((x) => x.startsWith('storage.type:')));
});

test('a client secret from a file (trimmed) and from the environment', () => {
  const file = join(dir, 'grafana-secret');
  writeFileSync(file, `${SECRET}\n`);
  const fromFile = resolveConfig(
    base({ clients: [{ id: 'grafana', secretFile: file, redirectUris: ['https://g.example.com/cb'] }] }),
  );
  assert.equal(fromFile.issuer?.clients[0]?.secretValue, SECRET);

  const yaml = join(dir, 'p.yaml');
  writeFileSync(
    yaml,
    JSON.stringify(
      base({
        clients: [{ id: 'grafana', secret: '${GRAFANA_SECRET}', redirectUris: ['https://g.example.com/cb'] }],
      }),
    ),
  );
  const loaded = loadConfig({ file: yaml, env: { GRAFANA_SECRET: SECRET } });
  assert.equal(loaded.config.issuer?.clients[0]?.secretValue, SECRET);
});

test('`portcullis secret --client` prints a usable client secret; a wrong flag is a usage error', () => {
  const r = spawnSync(process.execPath, ['src/cli/main.ts', 'secret', '--client'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const secret = r.stdout.trim();
  assert.match(secret, /^[A-Za-z0-9_-]{43}$/);
  const c = resolveConfig(
    base({ clients: [{ id: 'x', secret, redirectUris: ['https://x.example.com/cb'] }] }),
  );
  assert.equal(c.issuer?.clients[0]?.secretValue, secret);
  const bad = spawnSync(process.execPath, ['src/cli/main.ts', 'secret', '--bogus'], { encoding: 'utf8' });
  assert.equal(bad.status, 2);
});

test('`portcullis keys` needs an issuer and a durable storage, and a subcommand', () => {
  const yaml = join(dir, 'no-issuer.yaml');
  writeFileSync(yaml, JSON.stringify(base(undefined)));
  const none = spawnSync(process.execPath, ['src/cli/main.ts', 'keys', 'rotate', '--config', yaml], {
    encoding: 'utf8',
  });
  assert.equal(none.status, 2);
  assert.match(none.stderr, /issuer: not configured/);
  const mem = join(dir, 'memory.yaml');
  writeFileSync(
    mem,
    JSON.stringify(
      base(
        { clients: [{ id: 'x', secret: SECRET, redirectUris: ['https://x.example.com/cb'] }] },
        { type: 'memory' },
      ),
    ),
  );
  const m = spawnSync(process.execPath, ['src/cli/main.ts', 'keys', 'list', '--config', mem], {
    encoding: 'utf8',
  });
  assert.equal(m.status, 2);
  assert.match(m.stderr, /storage\.type: memory/);
  const sub = spawnSync(process.execPath, ['src/cli/main.ts', 'keys', 'spin', '--config', mem], {
    encoding: 'utf8',
  });
  assert.equal(sub.status, 2);
  assert.match(sub.stderr, /keys needs "list" or "rotate"/);
});

test('URLs of a client: display.url is http(s) only; redirect URIs https, loopback http or a reverse-domain native scheme', () => {
  const client = (over: Record<string, unknown>) => ({ id: 'svc', secret: SECRET, ...over });
  const p = problems(
    base({
      clients: [
        client({
          redirectUris: ['https://s.example.com/cb'],
          display: { name: 'S', url: 'javascript:alert(1)' },
        }),
        client({
          id: 's1',
          redirectUris: ['https://s.example.com/cb'],
          display: { name: 'S', url: 'data:text/html,<b>x</b>' },
        }),
        client({
          id: 's2',
          redirectUris: ['vbscript:msgbox(1)', 'blob:https://s.example.com/x', 'myapp:/cb'],
        }),
        client({
          id: 's3',
          redirectUris: ['https://s.example.com/cb'],
          postLogoutRedirectUris: ['javascript:alert(1)'],
        }),
      ],
    }),
  );
  // Schema problems are reported before the cross-field checks: the redirect URIs are checked on their own.
  const r = problems(
    base({
      clients: [
        client({ redirectUris: ['vbscript:msgbox(1)', 'blob:https://s.example.com/x', 'myapp:/cb'] }),
        client({
          id: 's1',
          redirectUris: ['https://s.example.com/cb'],
          postLogoutRedirectUris: ['javascript:alert(1)'],
        }),
      ],
    }),
  );
  p.push(...r);
  const expected = [
    /^issuer\.clients\[0\]\.display\.url: found "javascript:alert\(1\)"; the javascript: scheme is not allowed here: use an https:\/\/ URL/,
    /^issuer\.clients\[1\]\.display\.url: found .*; the data: scheme is not allowed here/,
    /^issuer\.clients\[0\]\.redirectUris\[0\]: .* the vbscript: scheme cannot be a redirect URI: use https, http on loopback, or a native app's private-use scheme/,
    /^issuer\.clients\[0\]\.redirectUris\[1\]: .* the blob: scheme cannot be a redirect URI/,
    /^issuer\.clients\[0\]\.redirectUris\[2\]: .* the myapp: scheme cannot be a redirect URI: .*com\.example\.app:\/callback \(RFC 8252 §7\.1\)/,
    /^issuer\.clients\[1\]\.postLogoutRedirectUris\[0\]: .* the javascript: scheme cannot be a redirect URI/,
  ];
  for (const re of expected)
    assert.ok(
      p.some((x) => re.test(x)),
      `${re}\n${p.join('\n')}`,
    );
  // Control: what a web service and a native app legitimately register.
  const ok = resolveConfig(
    base({
      clients: [
        client({
          redirectUris: [
            'https://s.example.com/cb',
            'http://127.0.0.1:8400/cb',
            'com.example.app:/oauth2redirect',
          ],
          postLogoutRedirectUris: ['https://s.example.com/bye'],
          display: { name: 'S', url: 'https://s.example.com/' },
        }),
      ],
    }),
  );
  assert.equal(ok.issuer?.clients[0]?.redirectUris.length, 3);
});
