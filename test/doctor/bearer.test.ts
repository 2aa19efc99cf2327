/**
 * `portcullis check` for bearer sources (provider.bearer, bearer.jwks) against the real oidc-provider on
 * loopback with RFC 7662 introspection enabled; breakage comes from a real reverse proxy (support.ts).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
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
  REDIRECT_URI,
  startApp,
  startIdpProxy,
} from './support.ts';

const SECRET = randomBytes(24).toString('base64url');
let idp: TestIdp;
let app: { url: string; close(): Promise<void> };
let dir: ConfigDir;
const proxies: IdpProxy[] = [];
const parts = closeAfter();

before(async () => {
  idp = parts.add(
    await startTestIdp({
      providerConfig: { features: { introspection: { enabled: true } } } as never,
      clients: [{ client_id: 'conf', client_secret: SECRET, redirect_uris: [REDIRECT_URI] }],
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
function check(issuer: string, bearer: string | undefined, extra = ''): Promise<Report> {
  const file = dir.write(
    `b${n++}.yaml`,
    configYaml(
      { issuer, clientId: 'conf', clientSecret: SECRET, ...(bearer ? { extra: `bearer: ${bearer}` } : {}) },
      [app.url],
      extra,
    ),
  );
  return runDoctor({ file, env: {} }, { timeoutMs: 3000 });
}

const of = (r: Report, id: string): Finding[] => r.findings.filter((f) => f.id === id);

test('introspection and the JWKS answer; a bearer issuer’s discovered JWKS answers: all ok, exit 0', async () => {
  const r = await check(
    idp.issuer,
    '{ opaque: introspection, audiences: [api] }',
    `bearer:\n  issuers:\n    - { id: ci, issuer: ${JSON.stringify(idp.issuer)}, audiences: [api] }\n`,
  );
  assert.equal(r.summary.exitCode, 0, JSON.stringify(r.findings, null, 2));
  const b = of(r, 'provider.bearer');
  assert.equal(b.length, 2);
  assert.match(b[0]!.message, /verified with the provider’s JWKS \(RS256\)/);
  assert.match(b[1]!.message, /introspection endpoint .* answers \(a made-up token is inactive\)/);
  const j = of(r, 'bearer.jwks');
  assert.equal(j.length, 1);
  assert.equal(j[0]!.status, 'ok');
  assert.equal(j[0]!.subject, 'bearer.issuers[0] ci');
  assert.ok(!JSON.stringify(r).includes(SECRET));
});

test('without a bearer section the check says nothing', async () => {
  const r = await check(idp.issuer, undefined);
  assert.deepEqual(of(r, 'provider.bearer'), []);
  assert.equal(r.summary.exitCode, 0);
});

test('an introspection endpoint that fails behind a proxy: provider.bearer fails, exit 1', async () => {
  const p = await startIdpProxy(idp.issuer, { fail: { '/token/introspection': 503 } });
  proxies.push(p);
  const r = await check(p.url, '{ opaque: introspection }');
  const b = of(r, 'provider.bearer');
  assert.equal(b[1]?.status, 'fail');
  assert.match(b[1]!.message, /answered HTTP 503/);
  assert.equal(r.summary.exitCode, 1);
});

test('an IdP without introspection: fail naming userinfo as the alternative', async () => {
  const p = await startIdpProxy(idp.issuer, {
    json: {
      '/.well-known/openid-configuration': (doc) => {
        const { introspection_endpoint: _, ...rest } = doc;
        return rest;
      },
    },
  });
  proxies.push(p);
  const b = of(await check(p.url, '{ opaque: introspection }'), 'provider.bearer');
  assert.equal(b[1]?.status, 'fail');
  assert.match(b[1]!.fix ?? '', /bearer\.opaque: userinfo/);
});

test('bearer.opaque: userinfo: a made-up token gets 401 there, ok', async () => {
  const b = of(await check(idp.issuer, '{ opaque: userinfo }'), 'provider.bearer');
  assert.equal(b[1]?.status, 'ok', JSON.stringify(b));
  assert.match(b[1]!.message, /HTTP 401/);
});

test('bearer issuers: a dead jwksUrl and a wrong issuer each fail', async () => {
  const dead = `http://127.0.0.1:${await closedPort()}/jwks`;
  const r = await check(
    idp.issuer,
    undefined,
    `bearer:\n  issuers:\n    - { id: dead, issuer: ${JSON.stringify(idp.issuer)}, jwksUrl: ${dead}, audiences: [api] }\n    - { id: wrong, issuer: ${JSON.stringify(`${idp.issuer}/other`)}, audiences: [api] }\n`,
  );
  const j = of(r, 'bearer.jwks');
  assert.equal(j.length, 2);
  assert.equal(j[0]!.status, 'fail');
  assert.match(j[0]!.message, /connection refused/);
  assert.equal(j[1]!.status, 'fail');
  assert.match(j[1]!.fix ?? '', /bearer\.issuers\[1\]/);
  assert.equal(r.summary.exitCode, 1);
});
