import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  compileRedirectPolicy,
  type RedirectPolicy,
  type RedirectRejection,
  redirectDomainProblems,
  validateRedirect,
} from '../../src/login/redirect.ts';

const ORIGIN = 'https://platform.example.com';
const policy = compileRedirectPolicy(new URL(`${ORIGIN}/`), []);
const withDomains = compileRedirectPolicy(new URL(`${ORIGIN}/`), [
  '.example.com',
  'Grafana.ACME.com',
  'ports.acme.com:8443',
  'tls.acme.com:443',
  'plain.acme.com:80',
  'exämple.org',
  '[::1]:9000',
]);
const httpPolicy = compileRedirectPolicy(new URL('http://localhost:4180'), ['.dev.test']);

type Case = readonly [name: string, rd: string | null | undefined, expected: string | RedirectRejection];
type PolicyCase = readonly [policy: RedirectPolicy, rd: string, expected: string | RedirectRejection];

/** Same-origin only (no allowedRedirectDomains): the open-redirect corpus. */
const corpus: readonly Case[] = [
  // accepted: same origin
  ['root', '/', `${ORIGIN}/`],
  ['path with query and fragment', '/app?x=1#h', `${ORIGIN}/app?x=1#h`],
  ['absolute same origin', 'https://platform.example.com/x', `${ORIGIN}/x`],
  ['absolute same origin, upper-case host', 'https://PLATFORM.Example.COM/x', `${ORIGIN}/x`],
  ['absolute same origin, explicit default port', 'https://platform.example.com:443/x', `${ORIGIN}/x`],
  ['dot segments stay on the origin', '/a/../b/./c', `${ORIGIN}/b/c`],
  ['encoded tab inside the path stays a path', '/%09/evil.com', `${ORIGIN}/%09/evil.com`],
  ['encoded slash later in the path', '/a%2fb', `${ORIGIN}/a%2fb`],
  ['@ in the query is not userinfo', '/login?next=@evil.com', `${ORIGIN}/login?next=@evil.com`],
  ['@ in the fragment is not userinfo', 'https://platform.example.com#@evil.com', `${ORIGIN}/#@evil.com`],
  ['fullwidth host normalises to the origin', 'https://ｐlatform．example．com/', `${ORIGIN}/`],
  ['upper-case scheme', 'HTTPS://platform.example.com/', `${ORIGIN}/`],
  ['unicode path is percent-encoded', '/café', `${ORIGIN}/caf%C3%A9`],
  // empty
  ['null', null, 'rd-empty'],
  ['undefined', undefined, 'rd-empty'],
  ['empty string', '', 'rd-empty'],
  // other hosts
  ['other host', 'https://evil.com', 'rd-host-not-allowed'],
  ['other host, http', 'http://evil.com', 'rd-http-downgrade'],
  ['suffix trick', 'https://platform.example.com.evil.com/', 'rd-host-not-allowed'],
  [
    'ideographic full stop suffix trick',
    'https://platform.example.com\u3002evil.com/',
    'rd-host-not-allowed',
  ],
  ['trailing dot is another origin', 'https://platform.example.com./', 'rd-host-not-allowed'],
  ['different port', 'https://platform.example.com:444/', 'rd-host-not-allowed'],
  ['http downgrade of own host', 'http://platform.example.com/', 'rd-http-downgrade'],
  ['IDN lookalike (Cyrillic a)', 'https://platform.ex\u0430mple.com/', 'rd-host-not-allowed'],
  ['IDN lookalike punycode', 'https://platform.xn--exmple-4nf.com/', 'rd-host-not-allowed'],
  ['IP literal', 'https://127.0.0.1/', 'rd-host-not-allowed'],
  ['percent-encoded host', 'https://evil%2Ecom/', 'rd-host-not-allowed'],
  // protocol-relative and relative
  ['protocol-relative', '//evil.com', 'rd-protocol-relative'],
  ['triple slash', '///evil.com', 'rd-protocol-relative'],
  ['encoded second slash', '/%2fevil.com', 'rd-protocol-relative'],
  ['encoded second slash, upper case', '/%2Fevil.com', 'rd-protocol-relative'],
  ['both slashes encoded', '%2f%2fevil.com', 'rd-protocol-relative'],
  ['double-encoded slash', '/%252f%252fevil.com', 'rd-protocol-relative'],
  ['dot segment collapsing to //', '/.//evil.com', 'rd-protocol-relative'],
  ['dot-dot segment collapsing to //', '/a/..//evil.com', 'rd-protocol-relative'],
  ['bare host name', 'evil.com', 'rd-relative-path'],
  ['relative path', 'app/x', 'rd-relative-path'],
  ['query only', '?x=1', 'rd-relative-path'],
  ['fragment only', '#x', 'rd-relative-path'],
  ['dot relative', './x', 'rd-relative-path'],
  // backslashes
  ['slash backslash', '/\\evil.com', 'rd-backslash'],
  ['double backslash', '\\\\evil.com', 'rd-backslash'],
  ['backslash slash', '\\/evil.com', 'rd-backslash'],
  ['encoded backslash', '/%5cevil.com', 'rd-backslash'],
  ['encoded backslash, upper case', '/%5Cevil.com', 'rd-backslash'],
  ['double-encoded backslash', '/%255cevil.com', 'rd-backslash'],
  ['backslash in absolute URL', 'https:\\\\evil.com', 'rd-backslash'],
  ['backslash later in the path', '/ok/path\\x', 'rd-backslash'],
  // whitespace and control characters
  ['space after the slash', '/ /evil.com', 'rd-control-characters'],
  ['tab after the slash', '/\t/evil.com', 'rd-control-characters'],
  ['newline after the slash', '/\n/evil.com', 'rd-control-characters'],
  ['CR LF header injection', '/x\r\nSet-Cookie: a=b', 'rd-control-characters'],
  ['NUL', '/\0/evil.com', 'rd-control-characters'],
  ['DEL', '/\x7f/evil.com', 'rd-control-characters'],
  ['C1 control (NEL)', '/\x85/evil.com', 'rd-control-characters'],
  ['leading space', ' https://evil.com', 'rd-control-characters'],
  ['trailing space', '/app ', 'rd-control-characters'],
  ['leading tab before //', '\t//evil.com', 'rd-control-characters'],
  ['no-break space', '/\u00a0/evil.com', 'rd-control-characters'],
  ['em space', '/\u2003/evil.com', 'rd-control-characters'],
  ['ideographic space', '/\u3000/evil.com', 'rd-control-characters'],
  ['line separator', '/\u2028/evil.com', 'rd-control-characters'],
  ['paragraph separator', '/\u2029/evil.com', 'rd-control-characters'],
  ['zero-width space', '/\u200b/evil.com', 'rd-control-characters'],
  ['byte-order mark', '\ufeff//evil.com', 'rd-control-characters'],
  ['right-to-left override', '/\u202emoc.live', 'rd-control-characters'],
  ['soft hyphen in host', 'https://platform.exam\u00adple.com/', 'rd-control-characters'],
  // schemes
  ['javascript', 'javascript:alert(1)', 'rd-not-http'],
  ['javascript, mixed case', 'JaVaScRiPt:alert(1)', 'rd-not-http'],
  ['javascript with slashes', 'javascript://platform.example.com/%0aalert(1)', 'rd-not-http'],
  ['data', 'data:text/html,x', 'rd-not-http'],
  ['vbscript', 'vbscript:msgbox(1)', 'rd-not-http'],
  ['file', 'file:///etc/passwd', 'rd-not-http'],
  ['ftp', 'ftp://platform.example.com/', 'rd-not-http'],
  ['host:port looks like a scheme', 'evil.com:443/x', 'rd-not-http'],
  ['scheme without slashes', 'https:evil.com', 'rd-malformed-absolute'],
  ['scheme with one slash', 'https:/evil.com', 'rd-malformed-absolute'],
  ['scheme with three slashes', 'https:///evil.com', 'rd-malformed-absolute'],
  ['scheme, slashes, encoded slash', 'https://%2fevil.com', 'rd-malformed-absolute'],
  // userinfo
  ['own host as userinfo', 'http://platform.example.com@evil.com', 'rd-userinfo'],
  ['own host as userinfo, https', 'https://platform.example.com@evil.com/', 'rd-userinfo'],
  ['evil host as userinfo', 'https://evil.com@platform.example.com', 'rd-userinfo'],
  ['user and password', 'https://user:pass@platform.example.com/', 'rd-userinfo'],
  ['password only', 'https://:pass@platform.example.com/', 'rd-userinfo'],
  ['encoded slash in userinfo', 'https://platform.example.com%2f@evil.com/', 'rd-userinfo'],
  // unparseable
  ['bad port', 'https://platform.example.com:99999/', 'rd-unparseable'],
  ['bad IPv6', 'https://[::1/', 'rd-unparseable'],
  ['forbidden host code point', 'https://evil<.com/', 'rd-unparseable'],
];

test('open-redirect corpus (same origin only)', async (t) => {
  assert.ok(corpus.length >= 40);
  for (const [name, rd, expected] of corpus) {
    await t.test(`${name}: ${JSON.stringify(rd)}`, () => {
      const verdict = validateRedirect(rd, policy);
      if (expected.startsWith('rd-')) {
        assert.deepEqual(verdict, { ok: false, reason: expected, fallback: '/' });
      } else {
        assert.deepEqual(verdict, { ok: true, target: expected });
      }
    });
  }
});

const domainCases: readonly PolicyCase[] = [
  [withDomains, 'https://example.com/', 'https://example.com/'],
  [withDomains, 'https://EXAMPLE.com/x', 'https://example.com/x'],
  [withDomains, 'https://a.example.com/', 'https://a.example.com/'],
  [withDomains, 'https://a.b.example.com/deep?q=1', 'https://a.b.example.com/deep?q=1'],
  [withDomains, 'https://evilexample.com/', 'rd-host-not-allowed'],
  [withDomains, 'https://example.com.evil.com/', 'rd-host-not-allowed'],
  [withDomains, 'https://a.example.com:8443/', 'rd-host-not-allowed'],
  [withDomains, 'https://a.example.com:443/', 'https://a.example.com/'],
  [withDomains, 'http://a.example.com/', 'rd-http-downgrade'],
  [withDomains, 'https://user@a.example.com/', 'rd-userinfo'],
  [withDomains, 'https://grafana.acme.com/d/1', 'https://grafana.acme.com/d/1'],
  [withDomains, 'https://x.grafana.acme.com/', 'rd-host-not-allowed'],
  [withDomains, 'https://acme.com/', 'rd-host-not-allowed'],
  [withDomains, 'https://ports.acme.com:8443/', 'https://ports.acme.com:8443/'],
  [withDomains, 'https://ports.acme.com/', 'rd-host-not-allowed'],
  [withDomains, 'https://ports.acme.com:8444/', 'rd-host-not-allowed'],
  [withDomains, 'https://tls.acme.com/', 'https://tls.acme.com/'],
  [withDomains, 'https://tls.acme.com:443/', 'https://tls.acme.com/'],
  [withDomains, 'https://plain.acme.com/', 'rd-host-not-allowed'],
  [withDomains, 'https://plain.acme.com:80/', 'https://plain.acme.com:80/'],
  [withDomains, 'https://exämple.org/', 'https://xn--exmple-cua.org/'],
  [withDomains, 'https://xn--exmple-cua.org/', 'https://xn--exmple-cua.org/'],
  [withDomains, 'https://ex\u0430mple.org/', 'rd-host-not-allowed'],
  [withDomains, 'https://[::1]:9000/', 'https://[::1]:9000/'],
  [withDomains, 'https://[::1]/', 'rd-host-not-allowed'],
  [withDomains, '//a.example.com/', 'rd-protocol-relative'],
  [withDomains, 'https://platform.example.com/x', 'https://platform.example.com/x'],
  [withDomains, 'https://platform.example.com:444/', 'rd-host-not-allowed'],
  [httpPolicy, '/', 'http://localhost:4180/'],
  [httpPolicy, 'http://localhost:4180/app', 'http://localhost:4180/app'],
  [httpPolicy, 'http://localhost/app', 'rd-host-not-allowed'],
  [httpPolicy, 'http://app.dev.test/', 'http://app.dev.test/'],
  [httpPolicy, 'https://app.dev.test/', 'https://app.dev.test/'],
  [httpPolicy, 'http://app.dev.test:8080/', 'rd-host-not-allowed'],
  [httpPolicy, 'http://evil.test/', 'rd-host-not-allowed'],
];

test('allowedRedirectDomains: exact, subdomain, ports, case, IDN, scheme', async (t) => {
  for (const [p, rd, expected] of domainCases) {
    await t.test(`${p.origin} ${p.allowed.join(',')} ${rd}`, () => {
      const verdict = validateRedirect(rd, p);
      if (expected.startsWith('rd-')) {
        assert.deepEqual(verdict, { ok: false, reason: expected, fallback: '/' });
      } else {
        assert.deepEqual(verdict, { ok: true, target: expected });
      }
    });
  }
});

test('compileRedirectPolicy normalises the origin and the entries', () => {
  const p = compileRedirectPolicy(new URL('https://Platform.Example.com:443/base/path?x'), [
    'Example.COM',
    '.Sub.Example.com',
    'exämple.org',
    'tls.acme.com:443',
    'plain.acme.com:80',
    'example.com',
    ' spaced.example.com ',
  ]);
  assert.equal(p.origin, 'https://platform.example.com');
  assert.deepEqual(p.allowed, [
    'example.com',
    '.sub.example.com',
    'xn--exmple-cua.org',
    'tls.acme.com:443',
    'plain.acme.com:80',
    'spaced.example.com',
  ]);
  assert.ok(Object.isFrozen(p));
  assert.throws(() => compileRedirectPolicy(new URL('https://a.test'), ['*.example.com']), {
    name: 'TypeError',
    message: /\*\.example\.com.*"\.example\.com"/,
  });
  assert.throws(() => compileRedirectPolicy(new URL('ftp://a.test'), []), TypeError);
});

test('a hand-built policy (not compiled) works too', () => {
  const p: RedirectPolicy = { origin: ORIGIN, allowed: ['.Example.org'] };
  assert.deepEqual(validateRedirect('https://a.example.org/', p), {
    ok: true,
    target: 'https://a.example.org/',
  });
  assert.equal(validateRedirect('https://example.net/', p).ok, false);
});

test('redirectDomainProblems explains unusable entries', async (t) => {
  const cases: readonly [entry: string, problem: RegExp | null][] = [
    ['example.com', null],
    ['.example.com', null],
    ['EXAMPLE.com:8443', null],
    ['exämple.org', null],
    ['[::1]:9000', null],
    ['10.0.0.1', null],
    ['*.example.com', /wildcards are not supported; use "\.example\.com"/],
    ['*', /wildcards are not supported/],
    ['example.com:*', /port wildcard/],
    ['https://example.com', /has a scheme/],
    ['example.com/path', /without scheme, path/],
    ['example.com?x', /without scheme, path/],
    ['user@example.com', /user info/],
    ['exa mple.com', /spaces/],
    ['example.com\\x', /without scheme, path/],
    ['', /is empty/],
    ['   ', /is empty/],
    ['.', /no host name/],
    ['..example.com', /no host name/],
    ['example.com:99999', /not a valid host name or host:port/],
    ['example.com:abc', /not a valid host name or host:port/],
    ['example.com:', /empty port/],
    ['exa<mple.com', /not a valid host name/],
  ];
  for (const [entry, problem] of cases) {
    await t.test(JSON.stringify(entry), () => {
      const problems = redirectDomainProblems([entry]);
      if (problem === null) {
        assert.deepEqual(problems, []);
      } else {
        assert.equal(problems.length, 1);
        assert.match(problems[0] ?? '', problem);
        assert.ok(problems[0]?.startsWith(`allowedRedirectDomains[0] "${entry}"`));
      }
    });
  }
  assert.deepEqual(redirectDomainProblems(['ok.com', 'https://bad.com', 'fine.org', '*.x.com']).length, 2);
  assert.match(
    redirectDomainProblems(['ok.com', 'https://bad.com'])[0] ?? '',
    /^allowedRedirectDomains\[1\]/,
  );
});

test('verdicts always fall back to "/"', () => {
  for (const [, rd, expected] of corpus) {
    const verdict = validateRedirect(rd, policy);
    if (!verdict.ok) {
      assert.equal(verdict.fallback, '/');
      assert.equal(verdict.reason, expected);
    } else {
      // an accepted target is absolute and on the public origin
      assert.equal(new URL(verdict.target).origin, ORIGIN);
    }
  }
});
