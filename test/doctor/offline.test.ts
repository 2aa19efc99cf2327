/**
 * `--offline` runs only the static checks and contacts nothing: every address in the configuration (IdP,
 * upstream, redis) points at a listener that counts connections, and fetch itself is a trap.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { checkList } from '../../src/doctor/checks.ts';
import { runDoctor } from '../../src/doctor/run.ts';
import { type ConfigDir, configDir, configYaml, type Listener, startCountingListener } from './support.ts';

let listener: Listener;
let dir: ConfigDir;

before(async () => {
  listener = await startCountingListener();
  dir = configDir();
});

after(async () => {
  await listener.close();
  dir.remove();
});

const STATIC_IDS = new Set(
  checkList()
    .filter((c) => c.when !== 'live')
    .map((c) => c.id),
);

test('--offline: only static findings, no connection, no fetch', async () => {
  const file = dir.write(
    'offline.yaml',
    configYaml(
      { issuer: `${listener.url}/`, clientId: 'c', clientSecret: 's', extra: 'insecureSkipAtHash: true' },
      [listener.url],
      `autoLogin: true
issuer:
  clients:
    - { id: svc, secret: ${randomBytes(24).toString('base64url')}, redirectUris: [https://svc.example.com/cb] }
storage: { type: redis, url: "redis://127.0.0.1:${listener.port}/0" }`,
    ),
  );
  let fetched = 0;
  const trap: typeof fetch = async () => {
    fetched++;
    throw new Error('offline checks must not fetch');
  };
  const r = await runDoctor({ file, env: {} }, { offline: true, fetch: trap });
  assert.equal(r.mode, 'offline');
  assert.equal(fetched, 0);
  assert.equal(listener.connections, 0);
  for (const f of r.findings) assert.ok(STATIC_IDS.has(f.id), `${f.id} is not a static check`);
  const ids = r.findings.map((f) => `${f.status} ${f.id}`);
  assert.deepEqual(ids, ['ok config.load', 'warn provider.issuer-slash', 'warn provider.insecure']);
  assert.equal(r.summary.exitCode, 0);
});

test('the same configuration checked live does contact the listener (the trap above is real)', async () => {
  const file = dir.write(
    'live.yaml',
    configYaml({ issuer: listener.url, clientId: 'c', clientSecret: 's' }, [listener.url]),
  );
  const r = await runDoctor({ file, env: {} }, { timeoutMs: 2000 });
  assert.ok(listener.connections > 0);
  assert.equal(r.summary.exitCode, 1);
  assert.equal(r.findings.find((f) => f.id === 'provider.discovery')?.status, 'fail');
  assert.equal(
    r.findings.find((f) => f.id === 'provider.issuer-slash'),
    undefined,
    'offline-only check',
  );
});

test('a configuration that does not load: every problem a fail finding, exit 2, offline or not', async () => {
  const file = dir.write(
    'broken.yaml',
    `publicUrl: http://127.0.0.1:4180
cookie: { secret: short }
providers:
  - { id: corp, type: oidc, issuer: ${listener.url}, clientld: c }
upstreams: [{ path: /, url: ${listener.url} }]
`,
  );
  const before = listener.connections;
  for (const offline of [true, false]) {
    const r = await runDoctor({ file, env: {} }, { offline });
    assert.equal(r.summary.exitCode, 2);
    assert.ok(r.findings.length >= 2);
    for (const f of r.findings) {
      assert.equal(f.id, 'config.load');
      assert.equal(f.status, 'fail');
      assert.equal(f.subject, 'configuration');
    }
    assert.ok(r.findings.some((f) => /providers\[0\]\.clientld: unknown key/.test(f.message)));
  }
  assert.equal(listener.connections, before, 'nothing is contacted when the configuration does not load');
});

test('what waits for the problems to be fixed is a skipped finding, not one more failure', async () => {
  const file = dir.write(
    'shape.yaml',
    `publicUrl: http://127.0.0.1:4180
cookie: { secret: short }
trustedProxies: 10.0.0.0/8
providers:
  - { id: corp, type: oidc, issuer: ${listener.url}, clientId: c }
upstreams: [{ path: /, url: ${listener.url} }]
`,
  );
  const r = await runDoctor({ file, env: {} }, { offline: true });
  assert.deepEqual(
    r.findings.map((f) => `${f.status} ${f.message}`),
    [
      'fail trustedProxies: found "10.0.0.0/8", expected a list of strings; write e.g. trustedProxies: [10.0.0.0/8]',
      'skip the checks that combine settings run once the problems above are fixed',
    ],
  );
  assert.equal(r.summary.exitCode, 2);
});

test('static warnings: autoLogin with two providers, a redirect URI on another host, plain http to the IdP', async () => {
  const file = dir.write(
    'static.yaml',
    `publicUrl: https://platform.example.com
redirectUrl: https://login.example.net/oauth2/callback
cookie: { secret: ${randomBytes(32).toString('base64url')} }
autoLogin: true
providers:
  - { id: a, type: oidc, issuer: "http://idp.example.com", clientId: a, insecureAllowHttp: true }
  - { id: b, type: oidc, issuer: "https://idp.example.org", clientId: b }
upstreams: [{ path: /, url: "https://platform.example.com" }]
`,
  );
  const r = await runDoctor({ file, env: {} }, { offline: true });
  const by = (id: string) => r.findings.filter((f) => f.id === id);
  assert.match(by('config.auto-login')[0]?.message ?? '', /no effect with 2 providers/);
  assert.match(by('config.redirect-host')[0]?.message ?? '', /another origin than publicUrl/);
  assert.equal(by('provider.plain-http').length, 1);
  assert.equal(by('provider.plain-http')[0]?.subject, 'providers[0] a');
  const loop = by('config.upstream-loop');
  assert.equal(loop[0]?.status, 'fail');
  assert.equal(r.summary.exitCode, 1);
});

test('config.forward-auth-path names the header a forward-auth proxy must send, only when routes have rules', async () => {
  const base = `publicUrl: https://platform.example.com
cookie: { secret: ${randomBytes(32).toString('base64url')} }
providers: [{ id: a, type: oidc, issuer: "https://idp.example.org", clientId: a }]
upstreams: [{ path: /, url: "http://127.0.0.1:9" }]
`;
  const withRules = dir.write(
    'fa-rules.yaml',
    `${base}routes: [{ path: /admin/, allow: { groups: [admins] } }]\n`,
  );
  const r = await runDoctor({ file: withRules, env: {} }, { offline: true });
  const f = r.findings.filter((x) => x.id === 'config.forward-auth-path');
  assert.equal(f.length, 1);
  assert.equal(f[0]?.status, 'ok');
  assert.match(f[0]?.message ?? '', /\/admin\/.*PCL_FORWARD_AUTH_NO_PATH/);
  assert.match(f[0]?.fix ?? '', /X-Original-URI \$request_uri/);
  const plain = dir.write('fa-plain.yaml', `${base}routes: [{ path: /api/, api: true }]\n`);
  const r2 = await runDoctor({ file: plain, env: {} }, { offline: true });
  assert.equal(r2.findings.filter((x) => x.id === 'config.forward-auth-path').length, 0);
});

test('static warning: /metrics served on the main listener by opt-in', async () => {
  const yaml = (metrics: string) => `publicUrl: https://platform.example.com
cookie: { secret: ${randomBytes(32).toString('base64url')} }
providers: [{ id: a, type: oidc, issuer: "https://idp.example.org", clientId: a }]
upstreams: [{ path: /, url: "https://app.internal.example.com" }]
${metrics}
`;
  const exposed = await runDoctor(
    { file: dir.write('metrics-main.yaml', yaml('metrics: { insecureOnMainListener: true }')), env: {} },
    { offline: true },
  );
  const hit = exposed.findings.filter((f) => f.id === 'config.metrics-exposed');
  assert.equal(hit[0]?.status, 'warn');
  assert.match(hit[0]?.message ?? '', /without signing in/);
  const own = await runDoctor({ file: dir.write('metrics-own.yaml', yaml('')), env: {} }, { offline: true });
  assert.equal(own.findings.filter((f) => f.id === 'config.metrics-exposed').length, 0);
});

test('unknown PORTCULLIS_ variables are warnings of config.load; Kubernetes service links are nothing; a misspelling fails', async () => {
  const file = dir.write(
    'env.yaml',
    `publicUrl: https://platform.example.com
cookie: { secret: ${randomBytes(32).toString('base64url')} }
providers: [{ id: a, type: oidc, issuer: "https://idp.example.org", clientId: a }]
upstreams: [{ path: /, url: "https://app.internal.example.com" }]
`,
  );
  const links = { PORTCULLIS_SERVICE_HOST: '10.0.0.11', PORTCULLIS_PORT_4180_TCP_ADDR: '10.0.0.11' };
  const r = await runDoctor({ file, env: { ...links, PORTCULLIS_IMAGE_TAG: 'v1' } }, { offline: true });
  const load = r.findings.filter((f) => f.id === 'config.load');
  assert.deepEqual(
    load.map((f) => f.status),
    ['ok', 'warn'],
  );
  assert.match(load[1]!.message, /^PORTCULLIS_IMAGE_TAG: not a Portcullis setting, ignored/);
  assert.equal(r.summary.exitCode, 0);
  const bad = await runDoctor(
    { file, env: { ...links, PORTCULLIS_LISTN: '0.0.0.0:4180' } },
    { offline: true },
  );
  assert.equal(bad.summary.exitCode, 2);
  assert.match(
    bad.findings[0]!.message,
    /PORTCULLIS_LISTN: not a Portcullis setting — did you mean PORTCULLIS_LISTEN\?/,
  );
});
