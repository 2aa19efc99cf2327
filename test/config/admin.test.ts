/** The `admin` section (the operator console): off by default; enabled only with a rule saying who. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../../src/config/errors.ts';
import { resolveConfig } from '../../src/config/load.ts';

const base = {
  publicUrl: 'https://auth.example.com',
  cookie: { secret: 'c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3I' },
  providers: [
    { id: 'corp', type: 'oidc', issuer: 'https://login.example.com', clientId: 'p', clientSecret: 's' },
  ],
  upstreams: [{ path: '/', url: 'http://127.0.0.1:8080' }],
};

function problems(admin: unknown): string[] {
  try {
    resolveConfig({ ...base, admin });
    return [];
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems.filter((x) => !x.startsWith('(the checks that combine'));
  }
}

test('off by default, with the documented bounds', () => {
  const c = resolveConfig(base);
  assert.equal(c.admin.enabled, false);
  assert.equal(c.admin.decisions, 1000);
  assert.equal(c.admin.denials, 500);
});

test('enabled without a rule (or an empty one) is refused, naming the key and the fix', () => {
  for (const admin of [
    { enabled: true },
    { enabled: true, allow: {} },
    { enabled: true, allow: { groups: [] } },
  ]) {
    const p = problems(admin);
    assert.equal(p.length, 1, JSON.stringify(p));
    assert.match(p[0]!, /^admin\.allow: /);
    assert.match(p[0]!, /admin\.allow: \{ groups: \[portcullis-admins\] \}/);
  }
});

test('enabled with a rule loads; a rule of the allow vocabulary is checked as any other', () => {
  assert.deepEqual(problems({ enabled: true, allow: { groups: ['portcullis-admins'] } }), []);
  assert.deepEqual(problems({ enabled: true, allow: { emails: ['ops@example.com'] } }), []);
  const p = problems({ enabled: true, allow: { githubOrgs: ['acme'] } });
  assert.match(p.join('\n'), /admin\.allow\.githubOrgs: no github provider is configured/);
  assert.match(problems({ enabled: true, allow: { groupz: ['x'] } }).join('\n'), /admin\.allow/);
});
