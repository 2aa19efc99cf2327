/** The pure parts of `portcullis check`: issuer explanations, skew arithmetic, key matching, output. */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { test } from 'node:test';
import { exportJWK, generateKeyPair } from 'jose';
import { estimateSkew } from '../../src/doctor/clock.ts';
import { discoveryUrl, explainIssuer } from '../../src/doctor/discovery.ts';
import type { Report } from '../../src/doctor/finding.ts';
import { describeNetworkError, excerpt } from '../../src/doctor/http.ts';
import { canVerify } from '../../src/doctor/jwks.ts';
import { redactUrl } from '../../src/doctor/reach.ts';
import { formatHuman, formatJson, wantsColour } from '../../src/doctor/report.ts';

test('discovery URL: OIDC Discovery §4, the trailing slash of the issuer removed first', () => {
  assert.equal(discoveryUrl('https://a.example'), 'https://a.example/.well-known/openid-configuration');
  assert.equal(discoveryUrl('https://a.example/'), 'https://a.example/.well-known/openid-configuration');
  assert.equal(
    discoveryUrl('https://kc.example/realms/x'),
    'https://kc.example/realms/x/.well-known/openid-configuration',
  );
});

test('issuer differences are named: slash either way, letter case, path, origin', () => {
  assert.match(explainIssuer('https://a', 'https://a/').why, /publishes its issuer with a trailing slash/);
  assert.match(explainIssuer('https://a/', 'https://a').why, /configured issuer ends with a slash/);
  assert.match(explainIssuer('https://A.example', 'https://a.example').why, /letter case/);
  const path = explainIssuer('https://kc.example/realms/a', 'https://kc.example/realms/b');
  assert.match(path.why, /same host, different path: configured \/realms\/a, the IdP publishes \/realms\/b/);
  assert.equal(path.fixValue, 'https://kc.example/realms/b');
  assert.match(
    explainIssuer('https://sso.example', 'http://kc:8080').why,
    /another origin \(http:\/\/kc:8080/,
  );
});

test('skew: the fastest round trip wins; Date has second precision', () => {
  const sample = (serverMs: number, sentMs: number, receivedMs: number) => ({
    url: 'x',
    serverMs,
    sentMs,
    receivedMs,
  });
  // Server clock 300 s ahead; its Date header truncated to the second.
  const t = 1_700_000_000_000;
  const { skewMs, uncertaintyMs } = estimateSkew([
    sample(t + 300_000, t - 5_000, t + 5_000), // slow: 10 s round trip
    sample(t + 300_000, t + 100, t + 140),
  ]);
  assert.ok(Math.abs(skewMs - (300_000 + 500 - 120)) < 1, String(skewMs));
  assert.equal(uncertaintyMs, 520);
  assert.throws(() => estimateSkew([]), TypeError);
});

test('canVerify: key type, curve, use, alg and key_ops all have to fit', async () => {
  const rsa = { ...(await exportJWK((await generateKeyPair('RS256', { extractable: true })).publicKey)) };
  const ec = { ...(await exportJWK((await generateKeyPair('ES256', { extractable: true })).publicKey)) };
  const ed = { ...(await exportJWK((await generateKeyPair('Ed25519', { extractable: true })).publicKey)) };
  assert.equal(await canVerify(rsa, 'RS256'), true);
  assert.equal(await canVerify(rsa, 'PS384'), true);
  assert.equal(await canVerify(rsa, 'ES256'), false);
  assert.equal(await canVerify(ec, 'ES256'), true);
  assert.equal(await canVerify(ec, 'ES384'), false, 'P-256 cannot verify ES384');
  assert.equal(await canVerify(ed, 'EdDSA'), true);
  assert.equal(await canVerify(ed, 'Ed25519'), true);
  assert.equal(await canVerify({ ...rsa, use: 'enc' }, 'RS256'), false);
  assert.equal(await canVerify({ ...rsa, alg: 'RS512' }, 'RS256'), false);
  assert.equal(await canVerify({ ...rsa, key_ops: ['encrypt'] }, 'RS256'), false);
  const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' });
  assert.equal(await canVerify(small, 'RS256'), false, 'RSA under 2048 bits is refused when verifying');
  assert.equal(await canVerify({ ...rsa, n: 'AQAB' }, 'RS256'), false, 'nor is a broken key');
  assert.equal(await canVerify(rsa, 'HS256'), false, 'HMAC is never verified with a JWKS key');
});

test('network errors in words', () => {
  const fetchError = (code: string) => Object.assign(new TypeError('fetch failed'), { cause: { code } });
  assert.match(describeNetworkError(fetchError('ECONNREFUSED'), 5000), /connection refused/);
  assert.match(describeNetworkError(fetchError('ENOTFOUND'), 5000), /DNS/);
  assert.match(describeNetworkError(fetchError('SELF_SIGNED_CERT_IN_CHAIN'), 5000), /NODE_EXTRA_CA_CERTS/);
  assert.match(
    describeNetworkError(Object.assign(new Error('x'), { name: 'TimeoutError' }), 1234),
    /no answer within 1234 ms/,
  );
  assert.match(
    describeNetworkError(Object.assign(new Error('connect'), { code: 'ECONNREFUSED' }), 1),
    /refused/,
  );
});

test('excerpts drop markup and styles; redacted URLs drop credentials', () => {
  assert.equal(
    excerpt('<html><style>p{}</style><p>error: &#39;x&#39;</p>\n\n<b>bad</b></html>'),
    "error: 'x' bad",
  );
  assert.equal(excerpt('x'.repeat(300)).length, 201);
  assert.equal(redactUrl('redis://user:pw@127.0.0.1:6379/0'), 'redis://127.0.0.1:6379/0');
});

const report: Report = {
  config: 'portcullis.yaml',
  mode: 'live',
  findings: [
    { id: 'config.load', status: 'ok', subject: 'configuration', message: 'loads' },
    {
      id: 'provider.issuer',
      status: 'fail',
      subject: 'providers[0] corp',
      message: 'issuer mismatch',
      fix: 'set providers[0].issuer: https://a',
      detail: 'configured "https://a/"',
    },
    { id: 'provider.pkce', status: 'warn', subject: 'providers[0] corp', message: 'not advertised' },
    { id: 'provider.jwks', status: 'skip', subject: 'providers[0] corp', message: 'needs discovery' },
  ],
  summary: { ok: 1, warn: 1, fail: 1, skip: 1, exitCode: 1 },
};

test('human output: grouped by subject, one mark per finding, fix and detail under it, a summary', () => {
  const text = formatHuman(report, false);
  assert.equal(
    text,
    `portcullis check portcullis.yaml

configuration
  ✓ load    loads

providers[0] corp
  ✗ issuer  issuer mismatch
            fix: set providers[0].issuer: https://a
            configured "https://a/"
  ! pkce    not advertised
  - jwks    needs discovery

1 ok, 1 warning, 1 failed, 1 skipped: something is wrong (exit 1)`,
  );
  assert.ok(!text.includes('\x1b['));
  assert.ok(formatHuman(report, true).includes('\x1b[31m✗\x1b[0m'));
});

test('colour only on a terminal and without NO_COLOR', () => {
  assert.equal(wantsColour({ isTTY: true }, {}), true);
  assert.equal(wantsColour({ isTTY: true }, { NO_COLOR: '1' }), false);
  assert.equal(wantsColour({ isTTY: false }, {}), false);
  assert.equal(wantsColour({}, {}), false);
});

test('JSON output: findings and summary, config null when there is no file', () => {
  const parsed = JSON.parse(formatJson({ ...report, config: undefined })) as Record<string, unknown>;
  assert.deepEqual(Object.keys(parsed), ['config', 'mode', 'findings', 'summary']);
  assert.equal(parsed['config'], null);
  assert.deepEqual(parsed['summary'], report.summary);
});
