/** readTarget: one path per request target, or a refusal naming why (src/http/target.ts). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readTargetInFull } from '../../src/config/paths.ts';
import { ownPath, readTarget, reservedPath } from '../../src/http/target.ts';

// target | path (or refusal) | other readings
const rows: [string, string, string[]?][] = [
  ['/', '/'],
  ['/admin/x?y=1#', 'fragment'],
  ['/admin/x', '/admin/x'],
  ['/admin/x?next=/../public/', '/admin/x'],
  ['/%61dmin/x', '/admin/x'],
  ['/a%20b/', '/a b/'],
  ['/admin/x#/../../x', 'fragment'],
  ['/admin/x?q#f', 'fragment'],
  ['/public/../admin', 'dot-segment'],
  ['/public/./x', 'dot-segment'],
  ['/public/x/..', 'dot-segment'],
  ['/public/%2e%2E/admin', 'dot-segment'],
  ['/public/.%2e/admin', 'dot-segment'],
  ['/public/..%2fadmin', 'dot-segment'],
  ['/public/..%5cadmin', 'dot-segment'],
  ['/public\\..\\admin', 'dot-segment'],
  ['/public/..;/admin', 'dot-segment'],
  ['/public/.;x/admin', 'dot-segment'],
  ['/public/.../x', '/public/.../x', ['/public/x']],
  ['/p/%00/x', 'control-character'],
  ['/p/%0a/x', 'control-character'],
  ['/p/\x01/x', 'bad-bytes'],
  ['/p/ /x', 'bad-bytes'],
  ['/p/\u00e9/x', 'bad-bytes'],
  ['/p/%zz', 'bad-encoding'],
  ['/p/%ff', 'bad-encoding'],
  ['/p/%c0%ae%c0%ae/x', 'bad-encoding'],
  ['/p/%e0%80%ae/x', 'bad-encoding'],
  ['/p/%252e%252e/x', 'double-encoding'],
  ['/p/%252F', 'double-encoding'],
  ['/p/%2525', 'double-encoding'],
  ['/p/%25', '/p/%'],
  ['admin/x', 'not-a-path'],
  ['javascript:alert(1)', 'not-a-path'],
  ['http://h.test/a/../b?q=1', '/b'],
  // Allowed, but read differently by some servers: every reading is listed.
  ['/admin%2Fx', '/admin/x', ['/admin%2Fx']],
  ['/admin%5cx', '/admin/x', ['/admin%5Cx']],
  ['/admin\\x', '/admin/x', ['/admin\\x']],
  ['//admin//x', '/admin/x', ['//admin//x']],
  ['/admin;jsessionid=1/x', '/admin;jsessionid=1/x', ['/admin/x']],
  ['/admin./x', '/admin./x', ['/admin/x']],
  ['/admin%20/x', '/admin /x', ['/admin/x']],
  ['/admin%2e/x', '/admin./x', ['/admin/x']],
];

for (const [target, want, readings] of rows) {
  test(`${JSON.stringify(target)} → ${want}`, () => {
    const t = readTarget(target);
    if (typeof t === 'string') {
      assert.equal(t, want);
      return;
    }
    assert.equal(t.path, want);
    assert.deepEqual([...t.readings].sort(), [...(readings ?? [])].sort());
    assert.equal(
      t.rawPath + t.query,
      target.startsWith('/') ? target : new URL(target).pathname + new URL(target).search,
    );
  });
}

test('reserved prefixes are whole segments', () => {
  for (const p of ['/oauth2', '/oauth2/', '/oauth2/x', '/oidc', '/oidc/.well-known/x'])
    assert.ok(reservedPath(p), p);
  for (const p of ['/oauth2x', '/oidcx/y', '/', '/app/oauth2/']) assert.ok(!reservedPath(p), p);
});

test('under a base path, the reserved prefixes are <base>/oauth2 and <base>/oidc, whole segments', () => {
  for (const p of ['/auth/oauth2', '/auth/oauth2/x', '/auth/oidc', '/auth/oidc/.well-known/x'])
    assert.ok(reservedPath(p, '/auth'), p);
  for (const p of [
    '/oauth2/x',
    '/oidc/x',
    '/auth',
    '/auth/',
    '/authx/oauth2/x',
    '/auth/oauth2x',
    '/x/auth/oauth2/',
  ])
    assert.ok(!reservedPath(p, '/auth'), p);
  assert.equal(ownPath('/auth', '/auth/ping'), '/ping');
  assert.equal(ownPath('/auth', '/auth'), '');
  assert.equal(ownPath('/auth', '/authx/ping'), undefined);
  assert.equal(ownPath('/auth', '/ping'), undefined);
  assert.equal(ownPath('', '/ping'), '/ping');
});

test('the plain-path shortcut reads every target as the full reading does (exhaustive to 4 characters, then random)', () => {
  // Every character the shortcut or the full reading treats apart, and a plain one of each kind.
  const alphabet = [
    '/',
    '.',
    'a',
    'Z',
    '0',
    '-',
    '_',
    '~',
    '%',
    '2',
    'e',
    'f',
    '5',
    'c',
    ';',
    '\\',
    ' ',
    '#',
    '?',
    '\x00',
    '\u00e9',
  ];
  const check = (raw: string) => {
    const target = `/${raw}`;
    assert.deepEqual(readTarget(target), readTargetInFull(target), JSON.stringify(target));
  };
  const grow = (prefix: string, left: number) => {
    check(prefix);
    if (left > 0) for (const c of alphabet) grow(prefix + c, left - 1);
  };
  grow('', 4);
  // Longer ones from a seeded generator (deterministic: a failure names its target).
  let seed = 14;
  const next = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed;
  };
  for (let i = 0; i < 100_000; i++) {
    let raw = '';
    const n = 5 + (next() % 20);
    for (let j = 0; j < n; j++) raw += alphabet[next() % alphabet.length];
    check(raw);
  }
  // The shortcut did answer the usual paths (same object shape as the full reading, no other readings).
  for (const p of ['/', '/app/page', '/static/app.js', '/a.b/c~d_e-f?q=1'])
    assert.deepEqual(readTarget(p), { ...(readTargetInFull(p) as object), readings: [] });
});
