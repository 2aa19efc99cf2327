/**
 * `portcullis check` against the real oidc-provider on loopback, in good and broken set-ups. Breakage
 * that a real deployment has in front of the IdP (a JWKS path that fails, a skewed clock, an IdP that
 * publishes another issuer) comes from a real reverse proxy (support.ts), never from a mocked IdP.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { Finding, Report } from '../../src/doctor/finding.ts';
import { runDoctor } from '../../src/doctor/run.ts';
import { closeAfter } from '../support/cleanup.ts';
import { startTestIdp, type TestIdp } from '../support/idp.ts';
import {
  type ConfigDir,
  closedPort,
  configDir,
  configYaml,
  type IdpProxy,
  type ProviderYaml,
  type ProxyOptions,
  REDIRECT_URI,
  startApp,
  startIdpProxy,
} from './support.ts';

const SECRET = randomBytes(24).toString('base64url');
const POST_SECRET = randomBytes(24).toString('base64url');
/** A secret with characters client_secret_basic form-encodes (RFC 6749 §2.3.1: `-` is sent as %2D). */
const DASHED_SECRET = `sec-ret-${randomBytes(12).toString('hex')}`;

/**
 * An IdP that compares Basic credentials without form-decoding them, as glewlwyd 2.7 does: in front of
 * the real IdP, which decodes, the proxy encodes once more, so only unencoded credentials arrive intact.
 */
function glewlwydBasic(value: string): string {
  const enc = (v: string) =>
    encodeURIComponent(v).replace(/[-_.!~*'()]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  const [id = '', secret = ''] = Buffer.from(value.replace(/^Basic /, ''), 'base64')
    .toString()
    .split(':');
  return `Basic ${Buffer.from(`${enc(id)}:${enc(secret)}`).toString('base64')}`;
}

let idp: TestIdp;
let app: { url: string; close(): Promise<void> };
let dir: ConfigDir;
const proxies: IdpProxy[] = [];

const parts = closeAfter();

before(async () => {
  idp = parts.add(
    await startTestIdp({
      clients: [
        { client_id: 'conf', client_secret: SECRET, redirect_uris: [REDIRECT_URI] },
        {
          client_id: 'post',
          client_secret: POST_SECRET,
          redirect_uris: [REDIRECT_URI],
          token_endpoint_auth_method: 'client_secret_post',
        },
        { client_id: 'pub', redirect_uris: [REDIRECT_URI] },
        { client_id: 'pc-alnum', client_secret: DASHED_SECRET, redirect_uris: [REDIRECT_URI] },
        {
          client_id: 'elsewhere',
          client_secret: SECRET,
          redirect_uris: ['http://127.0.0.1:4999/oauth2/callback'],
        },
      ],
    }),
  );
  app = parts.add(await startApp());
  dir = configDir();
});

after(async () => {
  await Promise.allSettled(proxies.map((p) => p.close()));
  dir?.remove();
});

let n = 0;
async function check(
  p: Partial<ProviderYaml>,
  o: { upstreams?: string[]; extra?: string; offline?: boolean } = {},
): Promise<Report> {
  const file = dir.write(
    `c${n++}.yaml`,
    configYaml(
      { issuer: idp.issuer, clientId: 'conf', clientSecret: SECRET, ...p },
      o.upstreams ?? [app.url],
      o.extra,
    ),
  );
  return runDoctor({ file, env: {} }, { offline: o.offline === true, timeoutMs: 3000 });
}

async function proxy(o?: ProxyOptions): Promise<IdpProxy> {
  const p = await startIdpProxy(idp.issuer, o);
  proxies.push(p);
  return p;
}

function one(r: Report, id: string): Finding {
  const found = r.findings.filter((f) => f.id === id);
  assert.equal(found.length, 1, `expected one ${id} finding, got ${JSON.stringify(r.findings, null, 2)}`);
  return found[0]!;
}

function statuses(r: Report): Record<string, string> {
  return Object.fromEntries(r.findings.map((f) => [`${f.subject} ${f.id}`, f.status]));
}

const LIVE_PROVIDER_CHECKS = [
  'provider.discovery',
  'provider.issuer',
  'provider.code-flow',
  'provider.auth-method',
  'provider.pkce',
  'provider.scopes',
  'provider.jwks',
  'provider.signing-algs',
  'provider.endpoints',
  'provider.credentials',
  'provider.redirect-uri',
  'provider.clock-skew',
];

describe('a good set-up', () => {
  test('confidential client (client_secret_basic): every check is ok, exit 0', async () => {
    const r = await check({});
    assert.equal(r.mode, 'live');
    assert.deepEqual(
      r.findings.filter((f) => f.status !== 'ok'),
      [],
    );
    for (const id of [...LIVE_PROVIDER_CHECKS, 'config.load', 'upstream.reach', 'sessions.store']) one(r, id);
    assert.deepEqual(r.summary, { ok: r.findings.length, warn: 0, fail: 0, skip: 0, exitCode: 0 });
    assert.match(one(r, 'provider.issuer').message, /exactly as configured/);
    assert.match(one(r, 'provider.credentials').message, /accepts the client credentials.*invalid_grant/);
    assert.match(one(r, 'provider.redirect-uri').message, /sent the browser on to sign in \(HTTP 303/);
    assert.match(one(r, 'provider.signing-algs').message, /RS256/);
    assert.match(one(r, 'upstream.reach').message, /HTTP 200/);
    assert.equal(one(r, 'provider.credentials').subject, 'providers[0] corp');
    assert.ok(!JSON.stringify(r).includes(SECRET), 'the client secret is never in the report');
  });

  test('client_secret_post', async () => {
    const r = await check({
      clientId: 'post',
      clientSecret: POST_SECRET,
      extra: 'tokenEndpointAuthMethod: client_secret_post',
    });
    assert.equal(one(r, 'provider.credentials').status, 'ok');
    assert.match(one(r, 'provider.auth-method').message, /client_secret_post is supported/);
    assert.equal(r.summary.exitCode, 0);
    assert.ok(!JSON.stringify(r).includes(POST_SECRET));
  });

  test('public client with PKCE: the IdP knows the client id', async () => {
    const r = await check({ clientId: 'pub', clientSecret: undefined });
    assert.equal(r.summary.exitCode, 0, JSON.stringify(r.findings, null, 2));
    assert.match(one(r, 'provider.credentials').message, /knows public client pub/);
    assert.match(one(r, 'provider.auth-method').message, /^none is supported/);
  });

  test('the same IdP behind a proxy that presents it under its own origin is still all ok', async () => {
    const p = await proxy();
    const r = await check({ issuer: p.url });
    assert.equal(r.summary.exitCode, 0, JSON.stringify(r.findings, null, 2));
    assert.ok(p.paths.includes('/.well-known/openid-configuration') && p.paths.includes('/jwks'));
  });
});

describe('the issuer', () => {
  test('a bare host with a trailing slash the IdP does not publish: ok, it is the same URL serve accepts', async () => {
    const r = await check({ issuer: `${idp.issuer}/` });
    const f = one(r, 'provider.issuer');
    assert.equal(f.status, 'ok', f.message);
    assert.match(f.message, /the same URL, as serve compares them/);
    assert.equal(r.summary.exitCode, 0);
  });

  test('a bare host published with a trailing slash, configured without: ok, the same URL', async () => {
    const p = await proxy({
      json: {
        '/.well-known/openid-configuration': (doc) => ({ ...doc, issuer: `${String(doc['issuer'])}/` }),
      },
    });
    const f = one(await check({ issuer: p.url }), 'provider.issuer');
    assert.equal(f.status, 'ok', f.message);
  });

  test('a path published with a trailing slash, configured without: fail, explained, with the exact value', async () => {
    const p = await proxy({
      json: {
        '/.well-known/openid-configuration': (doc) => ({ ...doc, issuer: `${String(doc['issuer'])}/x/` }),
      },
    });
    const r = await check({ issuer: p.url });
    const f = one(r, 'provider.issuer');
    assert.equal(f.status, 'fail');
    assert.match(
      f.message,
      new RegExp(`the IdP publishes issuer "${p.url}/x/", not the configured "${p.url}"`),
    );
    assert.match(f.message, /every sign-in would fail/);
    assert.equal(f.fix?.startsWith(`set providers[0].issuer: ${p.url}/x/ `), true, f.fix);
    assert.equal(r.summary.exitCode, 1);
    // The rest still ran on the document that was found.
    assert.equal(one(r, 'provider.credentials').status, 'ok');
  });

  test('published on another origin (an IdP that does not know its public URL): fail naming both', async () => {
    const p = await proxy({
      json: {
        '/.well-known/openid-configuration': (doc) => ({ ...doc, issuer: 'http://keycloak.internal:8080' }),
      },
    });
    const f = one(await check({ issuer: p.url }), 'provider.issuer');
    assert.equal(f.status, 'fail');
    assert.match(f.message, /another origin \(http:\/\/keycloak.internal:8080, configured http:\/\/127/);
    assert.match(f.fix ?? '', /KC_HOSTNAME/);
  });

  test('a wrong path: discovery answers 404 and the later checks say why they did not run', async () => {
    const r = await check({ issuer: `${idp.issuer}/realms/acme` });
    const f = one(r, 'provider.discovery');
    assert.equal(f.status, 'fail');
    assert.match(f.message, /answered HTTP 404/);
    assert.match(f.fix ?? '', /realms/);
    for (const id of ['provider.issuer', 'provider.jwks', 'provider.credentials', 'provider.redirect-uri']) {
      assert.equal(one(r, id).status, 'skip', id);
    }
    assert.equal(r.summary.exitCode, 1);
  });

  test('an IdP that does not answer at all', async () => {
    const port = await closedPort();
    const r = await check({ issuer: `http://127.0.0.1:${port}` });
    const f = one(r, 'provider.discovery');
    assert.equal(f.status, 'fail');
    assert.match(f.message, /connection refused/);
    assert.equal(one(r, 'provider.clock-skew').status, 'skip');
  });
});

describe('token endpoint authentication methods the IdP lists', () => {
  test('only none: the fix says to use none, not that the IdP supports none of them', async () => {
    const p = await proxy({
      json: {
        '/.well-known/openid-configuration': (doc) => ({
          ...doc,
          token_endpoint_auth_methods_supported: ['none'],
        }),
      },
    });
    const f = one(await check({ issuer: p.url }), 'provider.auth-method');
    assert.equal(f.status, 'fail');
    assert.match(
      f.fix ?? '',
      /^the IdP takes public clients only: set providers\[0\]\.tokenEndpointAuthMethod: none/,
    );
  });

  test('only methods Portcullis does not send: the fix names them', async () => {
    const p = await proxy({
      json: {
        '/.well-known/openid-configuration': (doc) => ({
          ...doc,
          token_endpoint_auth_methods_supported: ['private_key_jwt'],
        }),
      },
    });
    const f = one(await check({ issuer: p.url }), 'provider.auth-method');
    assert.match(f.fix ?? '', /the IdP lists only private_key_jwt: enable one of those/);
  });
});

describe('client_secret_basic and an IdP that does not form-decode it', () => {
  test('the probe tries the credentials unencoded and with client_secret_post, and says which works', async () => {
    const p = await proxy({ authorization: glewlwydBasic });
    const r = await check({ issuer: p.url, clientId: 'pc-alnum', clientSecret: DASHED_SECRET });
    const f = one(r, 'provider.credentials');
    assert.equal(f.status, 'fail');
    assert.match(
      f.message,
      /accepts the client credentials only without the form-encoding of client_secret_basic/,
    );
    assert.equal(
      f.fix,
      'set providers[0].tokenEndpointAuthMethod: client_secret_post (the IdP accepted it just now)',
    );
    assert.ok(!JSON.stringify(r).includes(DASHED_SECRET));
  });

  test('unauthorized_client (glewlwyd’s answer to bad credentials) is not read as a grant problem alone', async () => {
    const p = await proxy({
      authorization: glewlwydBasic,
      status: { '/token': 403 },
      json: {
        '/token': (b) => (b['error'] === 'invalid_client' ? { ...b, error: 'unauthorized_client' } : b),
      },
    });
    const f = one(
      await check({ issuer: p.url, clientId: 'pc-alnum', clientSecret: DASHED_SECRET }),
      'provider.credentials',
    );
    assert.equal(f.status, 'fail');
    assert.match(f.fix ?? '', /client_secret_post/);
  });

  test('the same client straight at an IdP that decodes: accepted, no retry', async () => {
    const f = one(await check({ clientId: 'pc-alnum', clientSecret: DASHED_SECRET }), 'provider.credentials');
    assert.equal(f.status, 'ok', f.message);
  });
});

describe('client credentials and redirect URI', () => {
  test('wrong client secret: fail, the IdP said invalid_client, and no secret is printed', async () => {
    const wrong = randomBytes(24).toString('base64url');
    const r = await check({ clientSecret: wrong });
    const f = one(r, 'provider.credentials');
    assert.equal(f.status, 'fail');
    assert.match(f.message, /rejects the client id or secret \(HTTP 401 invalid_client/);
    assert.match(f.fix ?? '', /clientSecret/);
    assert.equal(r.summary.exitCode, 1);
    const text = JSON.stringify(r);
    assert.ok(!text.includes(wrong) && !text.includes(SECRET), 'secrets never appear');
  });

  test('unknown public client id: both probes say the IdP does not know it', async () => {
    const r = await check({ clientId: 'nobody', clientSecret: undefined });
    assert.match(one(r, 'provider.credentials').message, /rejects client id "nobody" as a public client/);
    const redirect = one(r, 'provider.redirect-uri');
    assert.equal(redirect.status, 'fail');
    assert.match(redirect.message, /does not know client id "nobody"/);
  });

  test('unregistered redirect URI: fail, register exactly <uri>', async () => {
    const r = await check({ clientId: 'elsewhere' });
    const f = one(r, 'provider.redirect-uri');
    assert.equal(f.status, 'fail');
    assert.match(
      f.message,
      /does not accept the redirect URI http:\/\/127.0.0.1:4180\/oauth2\/callback \(HTTP 400\)/,
    );
    assert.match(
      f.fix ?? '',
      /^register exactly http:\/\/127.0.0.1:4180\/oauth2\/callback as a redirect URI of client elsewhere/,
    );
    assert.match(f.detail ?? '', /invalid_redirect_uri/);
    // The credentials are right: only the redirect URI is wrong.
    assert.equal(one(r, 'provider.credentials').status, 'ok');
  });

  test('an IdP that does not list the configured auth method: fail with the one to set', async () => {
    const p = await proxy({
      json: {
        '/.well-known/openid-configuration': (doc) => ({
          ...doc,
          token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt'],
        }),
      },
    });
    const f = one(await check({ issuer: p.url }), 'provider.auth-method');
    assert.equal(f.status, 'fail');
    assert.equal(f.fix, 'set providers[0].tokenEndpointAuthMethod: client_secret_post');
  });
});

describe('optional endpoints the configuration relies on', () => {
  const without = (key: string) =>
    proxy({
      json: {
        '/.well-known/openid-configuration': (doc) => {
          const { [key]: _, ...rest } = doc;
          return rest;
        },
      },
    });

  test('logoutAtIdp: ok with an end_session_endpoint, warn without one', async () => {
    const withIt = one(await check({ extra: 'logoutAtIdp: true' }), 'provider.logout');
    assert.equal(withIt.status, 'ok');
    assert.match(withIt.message, /sign-out continues at http:\/\/127.0.0.1:\d+\/session\/end/);
    const p = await without('end_session_endpoint');
    const r = await check({ issuer: p.url, extra: 'logoutAtIdp: true' });
    assert.equal(one(r, 'provider.logout').status, 'warn');
    assert.equal(r.summary.exitCode, 0);
    assert.equal(r.findings.filter((f) => f.id === 'provider.logout').length, 1);
    assert.equal((await check({})).findings.filter((f) => f.id === 'provider.logout').length, 0);
  });

  test('userinfo: true but the IdP advertises no userinfo endpoint: fail', async () => {
    const p = await without('userinfo_endpoint');
    const f = one(await check({ issuer: p.url, extra: 'userinfo: true' }), 'provider.endpoints');
    assert.equal(f.status, 'fail');
    assert.match(f.message, /no userinfo endpoint is known/);
    assert.match(f.fix ?? '', /remove providers\[0\]\.userinfo: true/);
    // Without userinfo: true the same IdP is fine.
    assert.equal(one(await check({ issuer: p.url }), 'provider.endpoints').status, 'ok');
  });
});

describe('signing keys', () => {
  test('JWKS unreachable (the proxy answers 503 for /jwks): fail, and the key check is skipped', async () => {
    const p = await proxy({ fail: { '/jwks': 503 } });
    const r = await check({ issuer: p.url });
    const f = one(r, 'provider.jwks');
    assert.equal(f.status, 'fail');
    assert.match(f.message, new RegExp(`the JWKS at ${p.url}/jwks answered HTTP 503`));
    assert.equal(one(r, 'provider.signing-algs').status, 'skip');
    assert.equal(r.summary.exitCode, 1);
  });

  test('JWKS connection dropped: fail with what happened', async () => {
    const p = await proxy({ fail: { '/jwks': 'reset' } });
    const f = one(await check({ issuer: p.url }), 'provider.jwks');
    assert.equal(f.status, 'fail');
    assert.match(f.message, /cannot fetch the JWKS .*(closed|reset|socket)/i);
  });

  test('a JWKS that publishes the private key: fail', async () => {
    const p = await proxy({ json: { '/jwks': () => ({ keys: [idp.signingKey] }) } });
    const f = one(await check({ issuer: p.url }), 'provider.jwks');
    assert.equal(f.status, 'fail');
    assert.match(f.message, /private or symmetric key material .*anyone can forge/);
  });

  test('idTokenSigningAlgs ES256 with only an RSA key: no key can verify, fail', async () => {
    const r = await check({ extra: 'idTokenSigningAlgs: [ES256]' });
    const f = one(r, 'provider.signing-algs');
    assert.equal(f.status, 'fail');
    assert.match(f.message, /no key in the JWKS can verify any allowed ID token algorithm \(ES256\)/);
    assert.match(f.fix ?? '', /idTokenSigningAlgs/);
  });

  test('advertised algorithms without a key, and alg none: warn', async () => {
    const p = await proxy({
      json: {
        '/.well-known/openid-configuration': (doc) => ({
          ...doc,
          id_token_signing_alg_values_supported: ['RS256', 'ES256', 'none'],
        }),
      },
    });
    const r = await check({ issuer: p.url });
    const f = one(r, 'provider.signing-algs');
    assert.equal(f.status, 'warn');
    assert.match(f.message, /alg "none"/);
    assert.match(f.message, /no key verifies ES256/);
    assert.equal(r.summary.exitCode, 0, 'warnings alone do not fail the check');
  });
});

describe('clock skew, from the Date header', () => {
  test('IdP 5 minutes ahead: fail', async () => {
    const p = await proxy({ dateOffsetMs: 5 * 60_000 });
    const r = await check({ issuer: p.url });
    const f = one(r, 'provider.clock-skew');
    assert.equal(f.status, 'fail');
    assert.match(f.message, /the IdP’s clock is 30\d s ahead of this host’s/);
    assert.match(f.fix ?? '', /NTP/);
    assert.equal(r.summary.exitCode, 1);
  });

  test('IdP 20 s behind: warn', async () => {
    const p = await proxy({ dateOffsetMs: -20_000 });
    const r = await check({ issuer: p.url });
    const f = one(r, 'provider.clock-skew');
    assert.equal(f.status, 'warn');
    assert.match(f.message, /(19|20|21) s behind this host’s/);
    assert.equal(r.summary.exitCode, 0);
  });

  test('the local clock is an argument: a frozen clock an hour late is a skew too', async () => {
    const file = dir.write(
      'frozen.yaml',
      configYaml({ issuer: idp.issuer, clientId: 'conf', clientSecret: SECRET }, [app.url]),
    );
    const r = await runDoctor({ file, env: {} }, { now: () => Date.now() - 3_600_000 });
    assert.match(one(r, 'provider.clock-skew').message, /3600 s ahead/);
  });
});

describe('scopes, upstreams and stores', () => {
  test('a scope the IdP does not advertise: warn, exit 0', async () => {
    const r = await check({ extra: 'scopes: [openid, email, wat]' });
    const f = one(r, 'provider.scopes');
    assert.equal(f.status, 'warn');
    assert.match(f.message, /does not advertise scope wat/);
    assert.equal(r.summary.exitCode, 0);
  });

  test('upstream down: fail naming its id and URL', async () => {
    const port = await closedPort();
    const r = await check({}, { upstreams: [app.url, `http://127.0.0.1:${port}`] });
    const down = r.findings.filter((f) => f.id === 'upstream.reach' && f.status === 'fail');
    assert.equal(down.length, 1);
    assert.equal(down[0]!.subject, 'upstreams[1] app1');
    assert.match(
      down[0]!.message,
      new RegExp(`upstream app1 at http://127.0.0.1:${port} does not answer: connection refused`),
    );
    assert.equal(statuses(r)['upstreams[0] app0 upstream.reach'], 'ok');
    assert.equal(r.summary.exitCode, 1);
  });

  const issuerSection = (storage: string) => `issuer:
  clients:
    - { id: svc, secret: ${randomBytes(24).toString('base64url')}, redirectUris: [https://svc.example.com/cb] }
storage: ${storage}`;

  test('issuer storage in redis: PING answered', async () => {
    const r = await check({}, { extra: issuerSection('{ type: redis, url: "redis://127.0.0.1:6379/0" }') });
    const f = one(r, 'storage.reach');
    assert.equal(f.status, 'ok', JSON.stringify(f));
    assert.match(f.message, /answers PING/);
  });

  test('issuer storage in redis that is down: fail, with the password kept out of the message', async () => {
    const port = await closedPort();
    const r = await check(
      {},
      { extra: issuerSection(`{ type: redis, url: "redis://:hunter2@127.0.0.1:${port}/0" }`) },
    );
    const f = one(r, 'storage.reach');
    assert.equal(f.status, 'fail');
    assert.match(f.message, new RegExp(`redis at redis://127.0.0.1:${port}/0 does not answer`));
    assert.ok(!JSON.stringify(r).includes('hunter2'));
    assert.equal(r.summary.exitCode, 1);
  });

  test('without an issuer, storage is not checked; cookie sessions have nothing to reach', async () => {
    const r = await check({});
    assert.equal(r.findings.filter((f) => f.id === 'storage.reach').length, 0);
    assert.match(one(r, 'sessions.store').message, /encrypted cookie/);
  });
});
