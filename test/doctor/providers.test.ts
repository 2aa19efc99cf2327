/**
 * Provider types through the same checks: a plain OAuth 2.0 entry with explicit endpoints (against the
 * real oidc-provider, without discovery), GitHub (a stub following GitHub's documented token endpoint,
 * which answers errors with HTTP 200 and its own codes), and the per-type table itself.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { type ResolvedConfig, resolveConfig } from '../../src/config/load.ts';
import type { Finding } from '../../src/doctor/finding.ts';
import { PROVIDER_KINDS, providerKind, providerView } from '../../src/doctor/providers.ts';
import { checkProvider, runDoctor } from '../../src/doctor/run.ts';
import { startTestIdp, type TestIdp } from '../support/idp.ts';
import { COOKIE_SECRET, configDir, PUBLIC_URL, REDIRECT_URI } from './support.ts';

const SECRET = randomBytes(24).toString('base64url');
let idp: TestIdp;
let config: ResolvedConfig;

before(async () => {
  idp = await startTestIdp({
    clients: [{ client_id: 'plain', client_secret: SECRET, redirect_uris: [REDIRECT_URI] }],
  });
  config = resolveConfig(
    {
      publicUrl: PUBLIC_URL,
      cookie: { secret: COOKIE_SECRET },
      providers: [{ id: 'x', type: 'oidc', issuer: idp.issuer, clientId: 'plain' }],
      upstreams: [{ path: '/', url: 'http://127.0.0.1:1' }],
    },
    {},
  );
});

after(() => idp.close());

function byId(findings: readonly Finding[]): Record<string, Finding> {
  const out: Record<string, Finding> = {};
  for (const f of findings) {
    assert.equal(out[f.id], undefined, `one ${f.id} finding`);
    out[f.id] = f;
  }
  return out;
}

describe('type oauth2 with explicit endpoints (no discovery), against the real IdP', () => {
  const entry = (secret: string) => ({
    id: 'legacy',
    type: 'oauth2',
    clientId: 'plain',
    clientSecret: secret,
    scopes: ['openid', 'email'],
    authorizationUrl: `${idp.issuer}/auth`,
    tokenUrl: `${idp.issuer}/token`,
    userInfoUrl: `${idp.issuer}/me`,
    // The immutable id mapped: without it check warns (provider.insecure), which is not what this tests.
    userInfoMapping: { id: 'sub' },
  });

  test('the probes run on the configured endpoints; discovery and keys are not asked for', async () => {
    const f = byId(await checkProvider(config, entry(SECRET), 2));
    assert.deepEqual(Object.keys(f).sort(), [
      'provider.clock-skew',
      'provider.credentials',
      'provider.endpoints',
      'provider.redirect-uri',
    ]);
    for (const x of Object.values(f)) assert.equal(x.status, 'ok', JSON.stringify(x));
    assert.equal(f['provider.credentials']?.subject, 'providers[2] legacy');
    assert.match(f['provider.endpoints']?.message ?? '', /no discovery: endpoints of type oauth2/);
  });

  test('a wrong secret fails there too', async () => {
    const f = byId(await checkProvider(config, entry('wrong'), 0));
    assert.equal(f['provider.credentials']?.status, 'fail');
  });

  test('neither issuer nor endpoints: fail, and nothing is contacted', async () => {
    let fetched = 0;
    const lost = { id: 'lost', type: 'oauth2', clientId: 'c', userInfoMapping: { id: 'sub' } };
    const findings = await checkProvider(config, lost, 0, {
      fetch: async () => {
        fetched++;
        throw new Error('no');
      },
    });
    assert.deepEqual(
      findings.map((x) => `${x.status} ${x.id}`),
      ['fail provider.location'],
    );
    assert.equal(fetched, 0);
  });
});

describe('other types through the loader, against the real IdP', () => {
  const run = async (provider: string) => {
    const dir = configDir();
    try {
      const file = dir.write(
        'p.yaml',
        `publicUrl: ${PUBLIC_URL}
cookie: { secret: ${COOKIE_SECRET} }
providers:
  - ${provider}
upstreams: [{ path: /, url: "${idp.issuer}" }]
`,
      );
      return await runDoctor({ file, env: {} });
    } finally {
      dir.remove();
    }
  };

  test('type google with its issuer pointed at a test double: the discovery checks run', async () => {
    const r = await run(
      `{ id: g, type: google, issuer: "${idp.issuer}", clientId: plain, clientSecret: "${SECRET}" }`,
    );
    assert.equal(r.summary.exitCode, 0, JSON.stringify(r.findings, null, 2));
    assert.match(r.findings.find((f) => f.id === 'provider.issuer')?.message ?? '', /exactly as configured/);
  });

  test('type oauth2: endpoints as configured, never discovery', async () => {
    const r = await run(
      `{ id: o, type: oauth2, clientId: plain, clientSecret: "${SECRET}", authorizationUrl: "${idp.issuer}/auth", tokenUrl: "${idp.issuer}/token", userInfoUrl: "${idp.issuer}/me", scopes: [openid] }`,
    );
    assert.equal(r.summary.exitCode, 0, JSON.stringify(r.findings, null, 2));
    assert.equal(
      r.findings.find((f) => f.id === 'provider.discovery'),
      undefined,
    );
    assert.equal(r.findings.find((f) => f.id === 'provider.credentials')?.status, 'ok');
    assert.equal(r.findings.find((f) => f.id === 'provider.redirect-uri')?.status, 'ok');
  });

  test('type oidc with skipDiscovery: the configured JWKS is checked too', async () => {
    const r = await run(
      `{ id: s, type: oidc, issuer: "${idp.issuer}", skipDiscovery: true, clientId: plain, clientSecret: "${SECRET}", authorizationUrl: "${idp.issuer}/auth", tokenUrl: "${idp.issuer}/token", jwksUrl: "${idp.issuer}/jwks" }`,
    );
    assert.equal(r.summary.exitCode, 0, JSON.stringify(r.findings, null, 2));
    assert.equal(
      r.findings.find((f) => f.id === 'provider.discovery'),
      undefined,
    );
    assert.equal(r.findings.find((f) => f.id === 'provider.jwks')?.status, 'ok');
    assert.match(r.findings.find((f) => f.id === 'provider.signing-algs')?.message ?? '', /RS256/);
  });
});

describe('type github against a stub of GitHub’s documented OAuth endpoints', () => {
  // docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps and
  // docs.github.com/en/apps/oauth-apps/maintaining-oauth-apps/troubleshooting-oauth-app-access-token-request-errors
  let stub: http.Server;
  let base: string;
  const GH_SECRET = randomBytes(20).toString('hex');

  before(async () => {
    stub = http.createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (req.method === 'GET' && url.pathname === '/login/oauth/authorize') {
        res.writeHead(302, { location: `/login?client_id=${url.searchParams.get('client_id')}` }).end();
        return;
      }
      if (req.method === 'POST' && url.pathname === '/login/oauth/access_token') {
        let body = '';
        req.on('data', (c: Buffer) => {
          body += c.toString();
        });
        req.on('end', () => {
          const form = new URLSearchParams(body);
          const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? '')?.[1];
          const [id, secret] = basic
            ? Buffer.from(basic, 'base64').toString().split(':').map(decodeURIComponent)
            : [form.get('client_id'), form.get('client_secret')];
          const error =
            id === 'Iv1.gh' && secret === GH_SECRET
              ? {
                  error: 'bad_verification_code',
                  error_description: 'The code passed is incorrect or expired.',
                }
              : {
                  error: 'incorrect_client_credentials',
                  error_description: 'The client_id and/or client_secret passed are incorrect.',
                };
          // GitHub answers these errors with 200.
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(error));
        });
        return;
      }
      if (url.pathname === '/api/v3/user') {
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ message: 'Requires authentication' }));
        return;
      }
      res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => stub.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(stub.address() as AddressInfo).port}`;
  });

  after(() => new Promise<void>((resolve) => stub.close(() => resolve())));

  const entry = (secret: string) => ({
    id: 'gh',
    type: 'github',
    clientId: 'Iv1.gh',
    clientSecret: secret,
    scopes: ['read:user', 'user:email'],
    baseUrl: base,
  });

  test('bad_verification_code means the credentials are right; the redirect URI cannot be probed', async () => {
    const f = byId(await checkProvider(config, entry(GH_SECRET), 0));
    assert.equal(f['provider.credentials']?.status, 'ok', JSON.stringify(f['provider.credentials']));
    assert.match(f['provider.credentials']?.message ?? '', /bad_verification_code/);
    assert.equal(f['provider.redirect-uri']?.status, 'skip');
    assert.match(
      f['provider.redirect-uri']?.message ?? '',
      /github checks the redirect URI only after a user signs in/,
    );
    assert.match(f['provider.redirect-uri']?.message ?? '', /accepts any path below/);
    assert.equal(f['provider.endpoints']?.status, 'ok');
    assert.equal(f['provider.discovery'], undefined);
    assert.equal(f['provider.jwks'], undefined);
  });

  test('through the loader: a `type: github` entry as the provider schema resolves it', async () => {
    const dir = configDir();
    try {
      const file = dir.write(
        'github.yaml',
        `publicUrl: ${PUBLIC_URL}
cookie: { secret: ${COOKIE_SECRET} }
providers:
  - { id: gh, type: github, baseUrl: "${base}", clientId: Iv1.gh, clientSecret: "${GH_SECRET}", orgs: [acme] }
upstreams: [{ path: /, url: "${base}" }]
`,
      );
      const r = await runDoctor({ file, env: {} });
      const f = byId(r.findings.filter((x) => x.subject === 'providers[0] gh'));
      assert.deepEqual(Object.keys(f).sort(), [
        'provider.clock-skew',
        'provider.credentials',
        'provider.endpoints',
        'provider.redirect-uri',
      ]);
      assert.equal(f['provider.credentials']?.status, 'ok', JSON.stringify(f['provider.credentials']));
      assert.match(f['provider.credentials']?.detail ?? '', /\(client_secret_post\)/);
      assert.equal(r.summary.exitCode, 0, JSON.stringify(r.findings, null, 2));
    } finally {
      dir.remove();
    }
  });

  test('incorrect_client_credentials (HTTP 200) is a rejection', async () => {
    const f = byId(await checkProvider(config, entry('nope'), 0));
    assert.equal(f['provider.credentials']?.status, 'fail');
    assert.match(
      f['provider.credentials']?.message ?? '',
      /rejects the client id or secret \(HTTP 200 incorrect_client_credentials/,
    );
  });
});

describe('the per-type table', () => {
  const view = (raw: Record<string, unknown>) => providerView(raw, 0);

  test('every provider type of the design has an entry', () => {
    for (const t of ['oidc', 'github', 'google', 'entra', 'gitlab', 'keycloak', 'jupyterhub', 'oauth2']) {
      assert.ok(PROVIDER_KINDS[t], t);
    }
    assert.equal(providerKind('something-new'), PROVIDER_KINDS['oidc'], 'unknown types are read like oidc');
  });

  test('github.com and GitHub Enterprise Server endpoints', () => {
    const loc = (raw: Record<string, unknown>) =>
      providerKind('github').locate(view({ type: 'github', ...raw }));
    const dotCom = {
      kind: 'endpoints',
      endpoints: {
        authorization: 'https://github.com/login/oauth/authorize',
        token: 'https://github.com/login/oauth/access_token',
        userinfo: 'https://api.github.com/user',
      },
    };
    assert.deepEqual(loc({}), dotCom);
    // Resolved entries carry baseUrl (default https://github.com) and an issuer: no discovery for GitHub.
    assert.deepEqual(loc({ baseUrl: 'https://github.com', issuer: 'https://github.com' }), dotCom);
    assert.deepEqual(loc({ baseUrl: 'https://ghe.acme.com/' }), {
      kind: 'endpoints',
      endpoints: {
        authorization: 'https://ghe.acme.com/login/oauth/authorize',
        token: 'https://ghe.acme.com/login/oauth/access_token',
        userinfo: 'https://ghe.acme.com/api/v3/user',
      },
    });
    const withApi = loc({ baseUrl: 'https://ghe.acme.com', apiUrl: 'https://api.ghe.acme.com/' });
    assert.equal(withApi.kind === 'endpoints' && withApi.endpoints.userinfo, 'https://api.ghe.acme.com/user');
  });

  test('where each type is discovered, and the issuer it must publish', () => {
    const loc = (raw: Record<string, unknown>) => providerKind(String(raw['type'])).locate(view(raw));
    const google = 'https://accounts.google.com';
    assert.deepEqual(loc({ type: 'google', issuer: google }), {
      kind: 'discovery',
      issuer: google,
      expected: google,
      setting: 'issuer',
    });
    assert.deepEqual(loc({ type: 'entra', tenant: 'contoso.onmicrosoft.com' }), {
      kind: 'discovery',
      issuer: 'https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0',
      expected: 'https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0',
      setting: undefined,
    });
    // Multi-tenant: the resolved issuer is the template Entra publishes.
    assert.deepEqual(
      loc({
        type: 'entra',
        tenant: 'organizations',
        authority: 'https://login.microsoftonline.us/',
        issuer: 'https://login.microsoftonline.us/{tenantid}/v2.0',
      }),
      {
        kind: 'discovery',
        issuer: 'https://login.microsoftonline.us/organizations/v2.0',
        expected: 'https://login.microsoftonline.us/{tenantid}/v2.0',
        setting: undefined,
      },
    );
    assert.deepEqual(
      loc({ type: 'gitlab', baseUrl: 'https://gitlab.acme.com/', issuer: 'https://gitlab.acme.com' }),
      {
        kind: 'discovery',
        issuer: 'https://gitlab.acme.com/',
        expected: 'https://gitlab.acme.com',
        setting: 'baseUrl',
      },
    );
    assert.deepEqual(loc({ type: 'keycloak', issuer: 'https://kc.acme.com/realms/staff' }).kind, 'discovery');
    assert.deepEqual(
      loc({ type: 'jupyterhub', url: 'https://hub.acme.com/hub/', issuer: 'https://hub.acme.com' }),
      {
        kind: 'endpoints',
        endpoints: {
          authorization: 'https://hub.acme.com/hub/api/oauth2/authorize',
          token: 'https://hub.acme.com/hub/api/oauth2/token',
          userinfo: 'https://hub.acme.com/hub/api/user',
        },
      },
    );
    // oauth2's issuer is only an identifier: never discovered.
    assert.deepEqual(
      loc({
        type: 'oauth2',
        issuer: 'https://sso.acme.com',
        authorizationUrl: 'https://sso.acme.com/a',
        tokenUrl: 'https://sso.acme.com/t',
      }),
      {
        kind: 'endpoints',
        endpoints: { authorization: 'https://sso.acme.com/a', token: 'https://sso.acme.com/t' },
      },
    );
    assert.deepEqual(
      loc({
        type: 'oidc',
        issuer: 'https://a',
        skipDiscovery: true,
        tokenUrl: 'https://a/t',
        jwksUrl: 'https://a/k',
      }),
      { kind: 'endpoints', endpoints: { token: 'https://a/t', jwks: 'https://a/k' } },
    );
    assert.equal(loc({ type: 'oidc', issuer: 'https://a', skipDiscovery: true }).kind, 'unknown');
  });

  test('Entra: a tenant given by domain publishes its GUID; the fix names tenant', () => {
    const fix = providerKind('entra').issuerFix!;
    assert.equal(
      fix(
        view({ type: 'entra' }),
        'https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0',
      ),
      'set providers[0].tenant: 72f988bf-86f1-41af-91ab-2d7cd011db47 (the directory id the IdP publishes in its issuer)',
    );
  });

  test('Entra’s multi-tenant issuer template matches a tenant, and nothing else', () => {
    const matches = providerKind('entra').issuerMatches!;
    const template = 'https://login.microsoftonline.com/{tenantid}/v2.0';
    assert.equal(matches('https://login.microsoftonline.com/common/v2.0', template), true);
    assert.equal(matches('https://login.microsoftonline.com/common/v2.0/', template), false);
    assert.equal(matches('https://evil.example/common/v2.0', template), false);
    assert.equal(matches('https://login.microsoftonline.com/a/b/v2.0', template), false);
  });

  test('the view reads the resolved secret and auth method, or their config spellings', () => {
    const v = view({ id: 'a', type: 'oidc', clientId: 'c', secret: 's', authMethod: 'client_secret_post' });
    assert.equal(v.secret, 's');
    assert.equal(v.authMethod, 'client_secret_post');
    assert.equal(v.subject, 'providers[0] a');
    assert.equal(view({ id: 'b', clientId: 'c', clientSecret: 't' }).authMethod, 'client_secret_basic');
    assert.equal(view({ id: 'b', clientId: 'c' }).authMethod, 'none');
  });
});
