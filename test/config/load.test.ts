import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../../src/config/errors.ts';
import { loadConfigFile, NOT_CHECKED, type ResolvedConfig, resolveConfig } from '../../src/config/load.ts';

const SECRET = randomBytes(32).toString('base64url');
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'portcullis-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

type Doc = Record<string, unknown>;

/** `${NAME}`, spelt out so that it does not read as a misplaced template literal. */
const ref = (name: string) => '$' + '{' + name + '}';

function minimal(): Doc {
  return {
    publicUrl: 'https://platform.example.com',
    cookie: { secret: SECRET },
    providers: [{ id: 'corp', type: 'oidc', issuer: 'https://login.example.com', clientId: 'abc' }],
    upstreams: [{ path: '/', url: 'http://127.0.0.1:8080' }],
  };
}

function provider(over: Doc = {}): Doc {
  return { id: 'corp', type: 'oidc', issuer: 'https://login.example.com', clientId: 'abc', ...over };
}

/** The problems resolveConfig reports (it must throw a ConfigError, nothing else). */
function problems(raw: unknown, env: NodeJS.ProcessEnv = {}): readonly string[] {
  try {
    resolveConfig(raw, env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    assert.ok(err.message.startsWith('invalid configuration:\n'));
    assert.equal(err.message.split('\n').length, err.problems.length + 1, 'one line per problem');
    // The note that the cross-setting checks wait is asserted by the corpus (test/config/corpus.test.ts).
    return err.problems.filter((p) => p !== NOT_CHECKED);
  }
  assert.fail('expected the configuration to be rejected');
}

describe('resolveConfig', () => {
  test('a minimal valid configuration, with its defaults and derived values', () => {
    const c: ResolvedConfig = resolveConfig(minimal(), {});
    assert.equal(c.public.href, 'https://platform.example.com/');
    assert.equal(c.redirectUri.href, 'https://platform.example.com/oauth2/callback');
    assert.equal(c.cookieSecure, true);
    assert.equal(c.cookie.name, 'portcullis');
    assert.equal(c.cookieKeys.length, 1);
    assert.equal(c.cookieKeys[0]!.length, 32);
    assert.equal(c.host, '127.0.0.1');
    assert.equal(c.port, 4180);
    assert.deepEqual(c.trustedProxies, []);
    assert.equal(c.sessions.lifetime, 12 * 3600);
    assert.equal(c.providers[0]!.authMethod, 'none', 'no secret: a public client');
    assert.deepEqual(c.providers[0]!.scopes, ['openid', 'email', 'profile']);
    assert.equal(c.upstreams[0]!.name, '/');
    assert.equal(c.upstreams[0]!.timeout, 30);
    assert.equal(c.upstreams[0]!.preserveHost, true);
  });

  test('publicUrl with a path: the base path without its slash, the callback and the issuer under it', () => {
    const issuer = {
      clients: [{ id: 'svc', secret: 'x'.repeat(32), redirectUris: ['https://svc.example.com/cb'] }],
    };
    for (const publicUrl of ['https://platform.example.com/auth/', 'https://platform.example.com/auth']) {
      const c = resolveConfig({ ...minimal(), publicUrl, issuer }, {});
      assert.equal(c.basePath, '/auth', publicUrl);
      assert.equal(c.redirectUri.href, 'https://platform.example.com/auth/oauth2/callback');
      assert.equal(c.issuer?.url.href, 'https://platform.example.com/auth/oidc');
    }
    const deep = resolveConfig({ ...minimal(), publicUrl: 'https://h.example.com/services/portcullis/' }, {});
    assert.equal(deep.basePath, '/services/portcullis');
    const root = resolveConfig({ ...minimal(), issuer }, {});
    assert.equal(root.basePath, '');
    assert.equal(root.issuer?.url.href, 'https://platform.example.com/oidc');
    // A path that does not read as itself (src/config/paths.ts) is refused.
    for (const path of ['/a%20b/', '/a;x/', '/a//b/', '/a%2Fb/', '/a./']) {
      assert.deepEqual(
        problems({ ...minimal(), publicUrl: `https://platform.example.com${path}` }),
        [
          `publicUrl: the path ${path} must be plain segments of letters, digits and - . _ ~ (such as https://host/auth/)`,
        ],
        path,
      );
    }
  });

  test('http on loopback is allowed and turns Secure cookies off', () => {
    const c = resolveConfig(
      {
        ...minimal(),
        publicUrl: 'http://127.0.0.1:4180',
        providers: [provider({ issuer: 'http://localhost:9000' })],
      },
      {},
    );
    assert.equal(c.cookieSecure, false);
  });

  const cases: readonly [name: string, doc: () => unknown, expected: readonly RegExp[]][] = [
    ['not a mapping', () => ['a'], [/^\(top level\): the configuration must be a mapping/]],
    [
      'missing publicUrl',
      () => ({ ...minimal(), publicUrl: undefined }),
      [
        /^publicUrl: is required \(the URL users open; .*\); write e\.g\. publicUrl: https:\/\/platform\.example\.com$/,
      ],
    ],
    [
      'publicUrl not a URL',
      () => ({ ...minimal(), publicUrl: 'platform' }),
      [/^publicUrl: found "platform"; must be an absolute URL/],
    ],
    [
      'missing providers',
      () => ({ ...minimal(), providers: undefined }),
      [
        /^providers: is required \(the identity providers .*\); write e\.g\. providers: \[\{ id: corp, type: oidc, /,
      ],
    ],
    [
      'no providers',
      () => ({ ...minimal(), providers: [] }),
      [/^providers: configure at least one identity provider$/],
    ],
    [
      'missing upstreams',
      () => ({ ...minimal(), upstreams: undefined }),
      [
        /^upstreams: is required \(the applications behind .*\); write e\.g\. upstreams: \[\{ path: \/, url: /,
      ],
    ],
    [
      'no upstreams',
      () => ({ ...minimal(), upstreams: [] }),
      [/^upstreams: configure at least one upstream$/],
    ],
    [
      'unknown key cookies:',
      () => ({ ...minimal(), cookies: { secret: SECRET } }),
      [/^cookies: unknown key — did you mean "cookie"\?$/],
    ],
    [
      'unknown key provider:',
      () => ({ ...minimal(), provider: [] }),
      [/^provider: unknown key — did you mean "providers"\?$/],
    ],
    [
      'unknown key clientID',
      () => ({ ...minimal(), providers: [{ ...provider({ clientId: undefined }), clientID: 'abc' }] }),
      [
        // clientId is missing because it is misspelt: one problem, not two.
        /^providers\[0\]\.clientID: unknown key — did you mean "clientId"\?$/,
      ],
    ],
    [
      'unknown key without a close match lists the valid ones',
      () => ({ ...minimal(), cookie: { secret: SECRET, zzzzzzzz: 1 } }),
      [/^cookie\.zzzzzzzz: unknown key \(valid here: name, secret, secretFile, domain, secure\)$/],
    ],
    [
      'cookie secret too short, hex',
      () => ({ ...minimal(), cookie: { secret: randomBytes(16).toString('hex') } }),
      [/^cookie\.secret: 16 bytes \(read as hex\); at least 32 are needed/],
    ],
    [
      'cookie secret too short, hex (20 bytes)',
      () => ({ ...minimal(), cookie: { secret: randomBytes(20).toString('hex') } }),
      [/^cookie\.secret: 20 bytes \(read as hex\); at least 32 are needed/],
    ],
    [
      'cookie secret too short, base64',
      () => ({ ...minimal(), cookie: { secret: randomBytes(16).toString('base64') } }),
      [/^cookie\.secret: 16 bytes \(read as base64\); at least 32 are needed/],
    ],
    [
      'cookie secret too short, raw',
      () => ({ ...minimal(), cookie: { secret: 'correct horse' } }),
      [
        /^cookie\.secret: 13 bytes \(read as raw\); at least 32 are needed — generate one with `portcullis secret`$/,
      ],
    ],
    [
      'one short secret in a rotation list is named by index',
      () => ({ ...minimal(), cookie: { secret: [SECRET, 'tiny'] } }),
      [/^cookie\.secret\[1\]: 4 bytes \(read as raw\)/],
    ],
    [
      'no cookie secret',
      () => ({ ...minimal(), cookie: {} }),
      [/^cookie\.secret: is required — generate one with `portcullis secret`$/],
    ],
    [
      'secret and secretFile together',
      () => ({ ...minimal(), cookie: { secret: SECRET, secretFile: join(dir, 'x') } }),
      [/^cookie: set either secret or secretFile, not both$/],
    ],
    [
      'secretFile that cannot be read',
      () => ({ ...minimal(), cookie: { secretFile: join(dir, 'missing') } }),
      [/^cookie\.secretFile: cannot read .*missing \(ENOENT\)$/],
    ],
    [
      'a client secret file that cannot be read: the cause, not a second "needs the client secret"',
      () => ({
        ...minimal(),
        providers: [
          { id: 'gh', type: 'github', clientId: 'x', clientSecretFile: join(dir, 'missing-secret') },
          provider({ id: 'corp2', clientSecretFile: join(dir, 'missing-secret') }),
        ],
      }),
      [
        /^providers\[0\]\.clientSecretFile: cannot read .*missing-secret \(ENOENT\)$/,
        /^providers\[1\]\.clientSecretFile: cannot read .*missing-secret \(ENOENT\)$/,
      ],
    ],
    [
      'duplicate provider ids',
      () => ({ ...minimal(), providers: [provider(), provider({ clientId: 'other' })] }),
      [/^providers\[1\]\.id: "corp" is used by another provider; ids must be unique$/],
    ],
    [
      'http issuer off loopback',
      () => ({ ...minimal(), providers: [provider({ issuer: 'http://login.example.com' })] }),
      [/^providers\[0\]\.issuer: http:\/\/login\.example\.com is plain http; use https/],
    ],
    [
      'http publicUrl off loopback',
      () => ({ ...minimal(), publicUrl: 'http://platform.example.com' }),
      [/^publicUrl: http:\/\/platform\.example\.com is plain http off loopback/],
    ],
    [
      'redirectUrl not ending in /oauth2/callback',
      () => ({ ...minimal(), redirectUrl: 'https://platform.example.com/callback' }),
      [/^redirectUrl: must end with \/oauth2\/callback \(got \/callback\)$/],
    ],
    [
      'cookie domain not covering the host',
      () => ({ ...minimal(), cookie: { secret: SECRET, domain: 'example.org' } }),
      [/^cookie\.domain: example\.org does not cover the publicUrl host platform\.example\.com$/],
    ],
    [
      'bad trustedProxies entries',
      () => ({ ...minimal(), trustedProxies: ['10.0.0.0/8', 'localhost', '10.0.0.0/33'] }),
      [
        /^trustedProxies\[1\] "localhost" is not an IP address or CIDR/,
        /^trustedProxies\[2\] "10\.0\.0\.0\/33" has an invalid prefix length/,
      ],
    ],
    [
      'bad allowedRedirectDomains entry',
      () => ({ ...minimal(), allowedRedirectDomains: ['.example.com', 'https://evil.example/'] }),
      [/^allowedRedirectDomains\[1\] "https:\/\/evil\.example\/" has a scheme/],
    ],
    [
      'a missing environment variable names the key, once',
      () => ({ ...minimal(), cookie: { secret: ref('PORTCULLIS_TEST_UNSET') } }),
      [
        /^cookie\.secret: environment variable PORTCULLIS_TEST_UNSET is not set \(referenced as \$\{PORTCULLIS_TEST_UNSET\}\)$/,
      ],
    ],
    [
      'a missing environment variable deep in a list',
      () => ({ ...minimal(), providers: [provider({ clientSecret: `x${ref('NOPE')}` })] }),
      [/^providers\[0\]\.clientSecret: environment variable NOPE is not set/],
    ],
    [
      'route and upstream paths not in the form requests are matched on',
      () => ({
        ...minimal(),
        upstreams: [{ path: '/a/../b/', url: 'http://127.0.0.1:1' }],
        routes: [{ path: '/docs%20site/' }, { path: '/x/%2e%2e/y' }],
      }),
      [
        /^upstreams\[0\]\.path: found "\/a\/..\/b\/"; is not a usable path \(a dot segment .*: such requests are refused\); write it as \/b\/$/,
        /^routes\[0\]\.path: found "\/docs%20site\/"; requests are matched on the decoded, normalised path: write it as \/docs site\/$/,
        /^routes\[1\]\.path: found .*; is not a usable path/,
      ],
    ],
    [
      'a malformed reference',
      () => ({ ...minimal(), upstreams: [{ path: '/', url: `http://${ref('1BAD')}:80` }] }),
      [/^upstreams\[0\]\.url: "\$\{1BAD\}" is not a valid environment variable reference$/],
    ],
  ];
  for (const [name, doc, expected] of cases) {
    test(`rejects: ${name}`, () => {
      const got = problems(doc());
      assert.equal(got.length, expected.length, got.join('\n'));
      for (const [i, re] of expected.entries()) assert.match(got[i]!, re);
    });
  }

  test('environment interpolation, anywhere in a string; a doubled $ escapes it', () => {
    const c = resolveConfig(
      {
        ...minimal(),
        publicUrl: `https://${ref('HOST')}`,
        cookie: { secret: ref('COOKIE_SECRET') },
        providers: [
          provider({ clientSecret: `pre-${ref('CS')}-post`, displayName: `Cost $${ref('PRICE')}` }),
        ],
      },
      { HOST: 'gw.example.com', COOKIE_SECRET: SECRET, CS: 's3cret' },
    );
    assert.equal(c.public.host, 'gw.example.com');
    assert.deepEqual(c.cookieKeys[0], Buffer.from(SECRET, 'base64url'));
    assert.equal(c.providers[0]!.secret, 'pre-s3cret-post');
    assert.equal(c.providers[0]!.authMethod, 'client_secret_basic');
    assert.equal(c.providers[0]!.displayName, `Cost ${ref('PRICE')}`);
  });

  test('cookie secrets: 64 hex digits, base64 and base64url of 32 bytes, raw text of 32+ bytes', () => {
    const bytes = randomBytes(32);
    for (const [secret, expected] of [
      [bytes.toString('hex'), bytes],
      [bytes.toString('base64'), bytes],
      [bytes.toString('base64url'), bytes],
      ['a passphrase of at least thirty-two bytes', Buffer.from('a passphrase of at least thirty-two bytes')],
    ] as const) {
      const c = resolveConfig({ ...minimal(), cookie: { secret } }, {});
      assert.deepEqual(c.cookieKeys[0], expected, secret);
    }
  });

  test('secretFile: one secret per line, the first seals (rotation), blank lines ignored', () => {
    const a = randomBytes(32);
    const b = randomBytes(32);
    const file = join(dir, 'cookie-secrets');
    writeFileSync(file, `${a.toString('base64url')}\n\n${b.toString('hex')}\n`);
    const c = resolveConfig({ ...minimal(), cookie: { secretFile: file } }, {});
    assert.deepEqual(c.cookieKeys, [a, b]);

    const clientSecretFile = join(dir, 'client-secret');
    writeFileSync(clientSecretFile, 'from-a-file\n');
    const p = resolveConfig({ ...minimal(), providers: [provider({ clientSecretFile })] }, {});
    assert.equal(p.providers[0]!.secret, 'from-a-file');

    const short = join(dir, 'short');
    writeFileSync(short, 'tiny\n');
    assert.match(problems({ ...minimal(), cookie: { secretFile: short } })[0]!, /^cookie\.secret: 4 bytes/);
  });

  test('every problem is reported at once: a config with 4 problems yields 4 lines', () => {
    const got = problems({
      ...minimal(),
      cookie: { secret: 'short' },
      providers: [provider({ issuer: 'http://login.example.com' })],
      trustedProxies: ['proxy.internal'],
      redirectUrl: 'https://platform.example.com/cb',
    });
    assert.equal(got.length, 4, got.join('\n'));
  });

  test('a misspelt key does not hide the other problems', () => {
    const got = problems({
      ...minimal(),
      cookie: { secret: 'short' },
      provider: [],
      providers: [provider({ issuer: 'http://login.example.com' }), provider()],
      trustedProxies: ['proxy.internal'],
    });
    assert.deepEqual(
      got.map((p) => p.slice(0, p.indexOf(' '))),
      ['provider:', 'cookie.secret:', 'providers[0].issuer:', 'providers[1].id:', 'trustedProxies[0]'],
      got.join('\n'),
    );
  });

  test('schema problems are all reported together too', () => {
    const got = problems({
      publicUrl: 'nope',
      cookie: { secret: SECRET, secure: 'yes' },
      providers: [{ id: 'Bad Id', type: 'saml', issuer: 'https://x', clientId: '' }],
      upstreams: [{ path: 'relative', url: 'http://127.0.0.1:1', timeout: 'soon' }],
      listen: 'everywhere',
    });
    const keys = got.map((p) => p.slice(0, p.indexOf(':')));
    for (const k of [
      'publicUrl',
      'listen',
      'cookie.secure',
      'providers[0].id',
      'providers[0].type',
      'providers[0].clientId',
      'upstreams[0].path',
      'upstreams[0].timeout',
    ]) {
      assert.ok(keys.includes(k), `${k} missing from:\n${got.join('\n')}`);
    }
  });

  test('loadConfigFile: YAML with a line number for syntax errors, and a missing file', () => {
    const good = join(dir, 'good.yaml');
    writeFileSync(
      good,
      [
        'publicUrl: https://platform.example.com',
        'cookie:',
        `  secret: ${ref('COOKIE')}`,
        'providers:',
        '  - { id: corp, type: oidc, issuer: https://login.example.com, clientId: abc }',
        'upstreams: [{ path: /, url: "http://127.0.0.1:8080", timeout: 1m30s }]',
        '',
      ].join('\n'),
    );
    const c = loadConfigFile(good, { COOKIE: SECRET });
    assert.equal(c.upstreams[0]!.timeout, 90);

    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'publicUrl: https://x\ncookie: { secret: [\n');
    assert.throws(
      () => loadConfigFile(bad, {}),
      (e: unknown) => e instanceof ConfigError && /bad\.yaml:\d+:\d+: not valid YAML/.test(e.problems[0]!),
    );
    assert.throws(
      () => loadConfigFile(join(dir, 'nope.yaml'), {}),
      (e: unknown) =>
        e instanceof ConfigError && /^--config: cannot read .*nope\.yaml \(ENOENT\)$/.test(e.problems[0]!),
    );
  });
});

describe('portcullis CLI exit codes', () => {
  const cli = (...args: string[]) =>
    spawnSync(process.execPath, ['src/cli/main.ts', ...args], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 30_000,
      env: { PATH: process.env['PATH'] ?? '' },
    });

  test('serve with an invalid configuration exits 2 with "invalid configuration:" on stderr', () => {
    const file = join(dir, 'invalid.yaml');
    writeFileSync(
      file,
      'publicUrl: http://platform.example.com\ncookies: {}\nproviders: []\nupstreams: []\n',
    );
    const r = cli('serve', '--config', file);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /^invalid configuration:\n/);
    assert.match(r.stderr, /cookies: unknown key — did you mean "cookie"\?/);
    assert.match(r.stderr, /providers: configure at least one identity provider/);
    assert.match(r.stderr, /upstreams: configure at least one upstream/);
  });

  test('serve with a missing file exits 2', () => {
    const r = cli('serve', '--config', join(dir, 'does-not-exist.yaml'));
    assert.equal(r.status, 2, r.stderr);
    assert.match(
      r.stderr,
      /invalid configuration:\n\s+- --config: cannot read .*does-not-exist\.yaml \(ENOENT\)/,
    );
  });

  test('a usage error exits 2 with one line and a pointer to --help, not the whole help', () => {
    const expected: [string[], string][] = [
      [[], 'a command is needed: serve, config, check, demo, secret or keys'],
      [['serve'], 'needs --config FILE (or PORTCULLIS_CONFIG)'],
      [['serve', '--nope'], "Unknown option '--nope'"],
      [['frobnicate'], 'unknown command "frobnicate"'],
      [['--version'], 'unknown command "--version"'],
      [['secret', '--bogus'], 'secret takes only --client, not "--bogus"'],
      [['demo', '--port', 'x'], '--port must be a port number (0-65535), got "x"'],
    ];
    for (const [args, message] of expected) {
      const r = cli(...args);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr, `portcullis: ${message} (see portcullis --help)\n`, args.join(' '));
      assert.equal(r.stdout, '');
    }
  });

  test('--help prints the help on stdout, exit 0', () => {
    for (const args of [['--help'], ['-h'], ['help']]) {
      const r = cli(...args);
      assert.equal(r.status, 0);
      assert.match(r.stdout, /^usage: portcullis <command> \[options\]/);
    }
  });

  test('secret prints a fresh 32-byte base64url secret that the config accepts', () => {
    const r = cli('secret');
    assert.equal(r.status, 0, r.stderr);
    const secret = r.stdout.trim();
    assert.match(secret, /^[A-Za-z0-9_-]{43}$/);
    assert.notEqual(secret, cli('secret').stdout.trim());
    assert.equal(resolveConfig({ ...minimal(), cookie: { secret } }, {}).cookieKeys[0]!.length, 32);
  });
});

describe('URL-valued options take only the schemes they are for', () => {
  test('icons: https or data:image; publicUrl, redirectUrl, upstreams and provider URLs: http(s)', () => {
    const p = problems({
      ...minimal(),
      redirectUrl: 'javascript:/oauth2/callback',
      providers: [
        provider({ icon: 'javascript:alert(1)' }),
        provider({ id: 'b', icon: 'data:text/html,<script>alert(1)</script>' }),
        provider({ id: 'c', issuer: 'file:///etc/passwd' }),
        { id: 'd', type: 'github', clientId: 'x', clientSecret: 'y', baseUrl: 'javascript:x' },
      ],
      upstreams: [{ path: '/', url: 'file:///srv' }],
    });
    const expected = [
      /^redirectUrl: found "javascript:\/oauth2\/callback"; the javascript: scheme is not allowed here: use an https:\/\/ URL/,
      /^providers\[0\]\.icon: found .*; the javascript: scheme is not allowed here: use an https:\/\/ URL or a data:image\/… URL/,
      /^providers\[1\]\.icon: found .*; the data: scheme is not allowed here/,
      /^providers\[2\]\.issuer: found .*; the file: scheme is not allowed here/,
      /^providers\[3\]\.baseUrl: found .*; the javascript: scheme is not allowed here/,
      /^upstreams\[0\]\.url: found .*; the file: scheme is not allowed here/,
    ];
    for (const re of expected)
      assert.ok(
        p.some((x) => re.test(x)),
        `${re}\n${p.join('\n')}`,
      );
    assert.match(
      problems({ ...minimal(), publicUrl: 'javascript:alert(1)' }).join('\n'),
      /^publicUrl: found "javascript:alert\(1\)"; the javascript: scheme/m,
    );
    // Control: the icons the sign-in page can show.
    const ok = resolveConfig(
      {
        ...minimal(),
        providers: [
          provider({ icon: 'https://cdn.example.com/sso.svg' }),
          provider({ id: 'b', icon: 'data:image/svg+xml;base64,PHN2Zy8+' }),
        ],
      },
      {},
    );
    assert.equal(ok.providers.length, 2);
  });
});
