/** Provenance: every value's origin (default, file:line, env, flag, …File), overrides and their errors. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { describeConfig } from '../../src/config/describe.ts';
import { ConfigError } from '../../src/config/errors.ts';
import { loadConfig } from '../../src/config/load.ts';
import { isServiceLink } from '../../src/config/sources.ts';

const dir = mkdtempSync(join(tmpdir(), 'pcl-sources-'));
const secret = randomBytes(32).toString('base64url');
const secretFile = join(dir, 'cookie');
writeFileSync(secretFile, `${secret}\n`);
const clientSecretFile = join(dir, 'client');
writeFileSync(clientSecretFile, 'from-a-file\n');

function file(text: string): string {
  const f = join(dir, `${randomBytes(4).toString('hex')}.yaml`);
  writeFileSync(f, text);
  return f;
}

const BASE = `publicUrl: https://platform.example.com
cookie:
  secret: \${SRC_SECRET}
providers:
  - id: corp
    type: oidc
    issuer: https://login.example.com
    clientId: abc
    clientSecretFile: ${clientSecretFile}
upstreams:
  - path: /
    url: http://127.0.0.1:8080
`;

function origin(loaded: ReturnType<typeof loadConfig>, key: string): string | undefined {
  return describeConfig(loaded).find((s) => s.key === key)?.origin;
}

function problems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems];
    throw err;
  }
  assert.fail('expected a ConfigError');
}

describe('configuration sources and provenance', () => {
  test('file values carry file:line, interpolated ones name the variable, the rest are defaults', () => {
    const f = file(BASE);
    const loaded = loadConfig({ file: f, env: { SRC_SECRET: secret } });
    assert.equal(origin(loaded, 'publicUrl'), `${f}:1`);
    assert.equal(origin(loaded, 'cookie.secret'), `${f}:3 (\${SRC_SECRET})`);
    assert.equal(origin(loaded, 'providers[0].clientId'), `${f}:8`);
    assert.equal(origin(loaded, 'upstreams[0].url'), `${f}:12`);
    assert.equal(origin(loaded, 'listen'), 'default');
    assert.equal(origin(loaded, 'providers[0].scopes'), 'default');
    assert.deepEqual(loaded.files, [f, clientSecretFile]);
    assert.equal(loaded.config.providers[0]!.secret, 'from-a-file', 'secret read from its …File');
  });

  test('secrets are redacted in the description, with their origin kept', () => {
    const loaded = loadConfig({ file: file(BASE), env: { SRC_SECRET: secret } });
    const s = describeConfig(loaded).find((x) => x.key === 'cookie.secret');
    assert.equal(s?.value, '[redacted]');
    assert.ok(!JSON.stringify(describeConfig(loaded)).includes(secret));
  });

  test('PORTCULLIS_ variables override the file, entries by id or index', () => {
    const loaded = loadConfig({
      file: file(BASE),
      env: {
        SRC_SECRET: secret,
        PORTCULLIS_LISTEN: '0.0.0.0:9000',
        PORTCULLIS_PROVIDERS_CORP_CLIENT_ID: 'by-id',
        PORTCULLIS_UPSTREAMS_0_TIMEOUT: '5s',
        PORTCULLIS_TRUSTED_PROXIES: '10.0.0.0/8, 192.168.0.0/16',
        PORTCULLIS_COOKIE_SECURE: 'true',
        PORTCULLIS_SESSIONS_LIFETIME: '3600',
      },
    });
    const c = loaded.config;
    assert.equal(c.listen, '0.0.0.0:9000');
    assert.equal(c.providers[0]!.clientId, 'by-id');
    assert.equal(c.upstreams[0]!.timeout, 5);
    assert.deepEqual(c.trustedProxies, ['10.0.0.0/8', '192.168.0.0/16']);
    assert.equal(c.cookieSecure, true);
    assert.equal(c.sessions.lifetime, 3600);
    assert.equal(origin(loaded, 'providers[0].clientId'), 'env PORTCULLIS_PROVIDERS_CORP_CLIENT_ID');
    assert.equal(origin(loaded, 'trustedProxies'), 'env PORTCULLIS_TRUSTED_PROXIES');
  });

  test('flags override the environment', () => {
    const loaded = loadConfig({
      file: file(BASE),
      env: { SRC_SECRET: secret, PORTCULLIS_LISTEN: '0.0.0.0:9000' },
      sets: [
        { flag: '--listen', spec: 'listen=127.0.0.1:7000' },
        { flag: '--set', spec: 'providers.corp.displayName=Corporate SSO' },
        { flag: '--set', spec: 'providers[0].userinfo=true' },
      ],
    });
    assert.equal(loaded.config.listen, '127.0.0.1:7000');
    assert.equal(origin(loaded, 'listen'), 'flag --listen');
    assert.equal(loaded.config.providers[0]!.displayName, 'Corporate SSO');
    assert.equal(origin(loaded, 'providers[0].displayName'), 'flag --set providers.corp.displayName');
    const provider = loaded.config.providers[0]!;
    assert.equal(provider.type === 'oidc' && provider.userinfo, true);
  });

  test('a …File secret is a source too', () => {
    const f = file(BASE.replace('  secret: ${SRC_SECRET}', `  secretFile: ${secretFile}`));
    const loaded = loadConfig({ file: f, env: {} });
    assert.equal(origin(loaded, 'cookie.secretFile'), `${f}:3`);
    assert.equal(loaded.config.cookieKeys.length, 1);
    assert.ok(loaded.files.includes(secretFile));
  });

  test('unknown variables and flags are errors with a suggestion; values are checked', () => {
    const p = problems(() =>
      loadConfig({
        file: file(BASE),
        env: {
          SRC_SECRET: secret,
          PORTCULLIS_COOKIE_SECRTE: 'x',
          PORTCULLIS_PROVIDERS_NOPE_CLIENT_ID: 'x',
          PORTCULLIS_COOKIE_SECURE: 'maybe',
          PORTCULLIS_CONFIG: '/ignored/here',
        },
        sets: [
          { flag: '--set', spec: 'cookie.nmae=x' },
          { flag: '--set', spec: 'providers.other.clientId=x' },
          { flag: '--set', spec: 'novalue' },
        ],
      }),
    );
    assert.ok(
      p.some((l) => l.startsWith('PORTCULLIS_COOKIE_SECRTE:') && l.includes('PORTCULLIS_COOKIE_SECRET')),
      p.join('\n'),
    );
    assert.ok(p.some((l) => l.startsWith('PORTCULLIS_PROVIDERS_NOPE_CLIENT_ID:')));
    assert.ok(p.some((l) => l.startsWith('PORTCULLIS_COOKIE_SECURE:') && l.includes('not a boolean')));
    assert.ok(p.some((l) => l.includes('cookie.nmae') && l.includes('cookie.name')));
    assert.ok(p.some((l) => l.includes('no entry "other"')));
    assert.ok(p.some((l) => l.includes('expected key=value')));
    assert.ok(!p.some((l) => l.includes('PORTCULLIS_CONFIG')));
  });

  test('Kubernetes service-link variables are neither errors nor warnings, whatever the Service is called', () => {
    // kubernetes.io/docs/concepts/services-networking/service/#environment-variables, for Services named
    // portcullis (port 4180, named http) and portcullis-metrics (port 9180, UDP and SCTP too).
    const links: Record<string, string> = {
      PORTCULLIS_SERVICE_HOST: '10.0.0.11',
      PORTCULLIS_SERVICE_PORT: '4180',
      PORTCULLIS_SERVICE_PORT_HTTP: '4180',
      PORTCULLIS_PORT: 'tcp://10.0.0.11:4180',
      PORTCULLIS_PORT_4180_TCP: 'tcp://10.0.0.11:4180',
      PORTCULLIS_PORT_4180_TCP_PROTO: 'tcp',
      PORTCULLIS_PORT_4180_TCP_PORT: '4180',
      PORTCULLIS_PORT_4180_TCP_ADDR: '10.0.0.11',
      PORTCULLIS_METRICS_SERVICE_HOST: '10.0.0.12',
      PORTCULLIS_METRICS_SERVICE_PORT_METRICS: '9180',
      PORTCULLIS_METRICS_PORT: 'udp://10.0.0.12:9180',
      PORTCULLIS_METRICS_PORT_9180_UDP_ADDR: '10.0.0.12',
      PORTCULLIS_METRICS_PORT_9180_SCTP_PROTO: 'sctp',
    };
    for (const name of Object.keys(links)) assert.ok(isServiceLink(name), name);
    const loaded = loadConfig({ file: file(BASE), env: { SRC_SECRET: secret, ...links } });
    assert.deepEqual(loaded.warnings, []);
  });

  test('not service links: other shapes, and real settings that look alike', () => {
    for (const name of [
      'PORTCULLIS_PORT_4180_HTTP',
      'PORTCULLIS_PORT_X_TCP',
      'PORTCULLIS_SERVICE_HOSTS',
      'PORTCULLIS_LISTEN',
      'PORTCULLIS_PORT_4180_TCP_HOST',
    ])
      assert.equal(isServiceLink(name), false, name);
  });

  test('an unknown variable is a warning (with a hint when there is one); a near miss of a setting is an error', () => {
    const cases: { env: string; outcome: 'error' | 'warning'; hint?: string }[] = [
      { env: 'PORTCULLIS_COOKIE_SECRTE', outcome: 'error', hint: 'PORTCULLIS_COOKIE_SECRET' },
      { env: 'PORTCULLIS_LISTN', outcome: 'error', hint: 'PORTCULLIS_LISTEN' },
      { env: 'PORTCULLIS_LOGGING_LEVL', outcome: 'error', hint: 'PORTCULLIS_LOGGING_LEVEL' },
      { env: 'PORTCULLIS_PUBLICURL', outcome: 'error', hint: 'PORTCULLIS_PUBLIC_URL' },
      { env: 'PORTCULLIS_SERVER_IDLE_TIMOUT', outcome: 'error', hint: 'PORTCULLIS_SERVER_IDLE_TIMEOUT' },
      { env: 'PORTCULLIS_LOG_LEVEL', outcome: 'warning', hint: 'PORTCULLIS_LOGGING_LEVEL' },
      { env: 'PORTCULLIS_IMAGE_TAG', outcome: 'warning' },
      { env: 'PORTCULLIS_VERSION', outcome: 'warning' },
      { env: 'PORTCULLIS_HELM_RELEASE_NAME', outcome: 'warning' },
    ];
    for (const c of cases) {
      const env = { SRC_SECRET: secret, [c.env]: 'x' };
      if (c.outcome === 'error') {
        const p = problems(() => loadConfig({ file: file(BASE), env }));
        assert.equal(p.length, 1, `${c.env}: ${p.join('; ')}`);
        assert.ok(p[0]!.startsWith(`${c.env}: not a Portcullis setting — did you mean ${c.hint}?`), p[0]);
        continue;
      }
      const loaded = loadConfig({ file: file(BASE), env });
      assert.equal(loaded.warnings.length, 1, c.env);
      const w = loaded.warnings[0]!;
      assert.ok(w.startsWith(`${c.env}: not a Portcullis setting, ignored`), w);
      if (c.hint) assert.ok(w.includes(`did you mean ${c.hint}?`), w);
    }
  });

  test('variables used through ${…} in the file are not mistaken for overrides', () => {
    const f = file(BASE.replace('${SRC_SECRET}', '${PORTCULLIS_MY_COOKIE}'));
    const loaded = loadConfig({ file: f, env: { PORTCULLIS_MY_COOKIE: secret } });
    assert.equal(loaded.config.cookieKeys.length, 1);
  });

  test('YAML syntax errors name the file, line and column', () => {
    const f = file('publicUrl: [unclosed\n');
    const p = problems(() => loadConfig({ file: f, env: {} }));
    assert.match(p[0]!, new RegExp(`^${f.replace(/[.]/g, '\\.')}:\\d+:\\d+: not valid YAML`));
  });
});
