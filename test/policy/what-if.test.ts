/**
 * what-if (src/policy/what-if.ts, src/config/rules-change.ts): a pasted `allow`/`routes` change read as the
 * configuration file is (same key-named problems), and the recorded decisions and known principals whose
 * outcome it would change — before (current rules) and after, with reasons.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError } from '../../src/config/errors.ts';
import { type ResolvedConfig, resolveConfig } from '../../src/config/load.ts';
import { parseRulesChange } from '../../src/config/rules-change.ts';
import type { Principal } from '../../src/policy/decision.ts';
import type { DecisionRecord } from '../../src/policy/record.ts';
import { whatIf } from '../../src/policy/what-if.ts';

const CONFIG: ResolvedConfig = resolveConfig({
  publicUrl: 'http://127.0.0.1:4180',
  cookie: { secret: 'k'.repeat(43) },
  upstreams: [{ path: '/', url: 'http://127.0.0.1:9' }],
  providers: [
    { id: 'corp', type: 'oidc', issuer: 'https://idp.example.com', clientId: 'c', clientSecret: 's' },
  ],
  allow: { emailDomains: ['example.com'] },
  routes: [
    { path: '/public/', public: true },
    { path: '/admin/', allow: { groups: ['admins'] } },
  ],
});

const person = (email: string, groups: string[]): Principal => ({
  provider: 'corp',
  identity: { sub: email, email, groups },
});
const ALICE = person('alice@example.com', ['admins']);
const BOB = person('bob@example.com', ['eng']);
const ORG = person('olga@example.org', ['admins']);

function record(p: Principal, paths: string[], allow: boolean, reasons: string[] = []): DecisionRecord {
  return {
    time: 1,
    surface: 'request',
    requestId: `r-${p.identity.sub}`,
    principal: p,
    paths,
    allow,
    reasons,
  };
}

const RECORDS = [
  record(ALICE, ['/admin/x'], true),
  record(BOB, ['/admin/x'], false, ['group-missing']),
  record(BOB, ['/'], true),
  record(ORG, [], false, ['email-domain-not-allowed']),
];

function problems(fn: () => unknown): readonly string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems;
  }
  assert.fail('expected a ConfigError');
}

describe('reading a pasted change', () => {
  test('a misspelt key: the same problem, key path and did-you-mean as the configuration file', () => {
    const paste = 'routes:\n  - path: /admin/\n    allow: { grups: [eng] }\n';
    assert.deepEqual(
      problems(() => parseRulesChange(paste)),
      ['routes[0].allow.grups: unknown key — did you mean "groups"?'],
    );
    const file = problems(() =>
      resolveConfig({ ...rawOf(), routes: [{ path: '/admin/', allow: { grups: ['eng'] } }] }),
    );
    assert.equal(file[0], 'routes[0].allow.grups: unknown key — did you mean "groups"?');
  });

  test('other settings cannot be tried; YAML errors name the line; a bare list is routes', () => {
    assert.match(
      problems(() => parseRulesChange('cookie: { secret: x }'))[0]!,
      /^cookie: only allow and routes/,
    );
    assert.match(problems(() => parseRulesChange('allow: { groups: [a'))[0]!, /the pasted rules/);
    assert.deepEqual(parseRulesChange('- { path: /x/, allow: { groups: [a] } }').routes?.[0]?.path, '/x/');
    assert.deepEqual(parseRulesChange('allow: ~'), { allow: null });
  });

  test('a rule that does not hold together is refused as at start-up', () => {
    const p = problems(() =>
      whatIf(CONFIG, 'routes:\n  - { path: /public/, public: true, allow: { groups: [a] } }', []),
    );
    assert.match(p[0]!, /routes\[0\]\.allow: a public route needs no sign-in/);
  });
});

describe('which decisions and users would change', () => {
  test('nothing changes: nothing listed', () => {
    const r = whatIf(CONFIG, 'allow: { emailDomains: [example.com] }', RECORDS, [ALICE, BOB]);
    assert.deepEqual(r.changed, []);
  });

  test('a changed route: the decisions on it turn, with before and after reasons', () => {
    const r = whatIf(CONFIG, 'routes:\n  - { path: /admin/, allow: { groups: [eng] } }', RECORDS);
    assert.deepEqual(
      r.changed.map((c) => [c.who, c.paths.join(), c.before.allow, c.after.allow, c.after.reasons.join()]),
      [
        ['alice@example.com', '/admin/x', true, false, 'group-missing'],
        ['bob@example.com', '/admin/x', false, true, ''],
      ],
    );
    assert.equal(r.changed[0]!.requestId, 'r-alice@example.com');
    assert.deepEqual(r.changed[1]!.recorded, { allow: false, reasons: ['group-missing'] });
  });

  test('a changed top-level allow: users let in and shut out, at sign-in and on each ruled route', () => {
    const r = whatIf(CONFIG, 'allow: { emailDomains: [example.org] }', RECORDS, [ALICE, ORG]);
    const decisions = r.changed.filter((c) => c.kind === 'decision').map((c) => `${c.who} ${c.paths}`);
    assert.deepEqual(decisions, [
      'alice@example.com /admin/x',
      'bob@example.com /admin/x',
      'bob@example.com /',
      'olga@example.org ',
    ]);
    assert.deepEqual(r.probes, [undefined, '/admin/']);
    const users = r.changed.filter((c) => c.kind === 'principal');
    assert.deepEqual(
      users.map((c) => [c.who, c.paths.join(), c.after.allow]),
      [
        ['alice@example.com', '', false],
        ['alice@example.com', '/admin/', false],
        ['olga@example.org', '', true],
        ['olga@example.org', '/admin/', true],
      ],
    );
    assert.deepEqual(users[0]!.after.reasons, ['email-domain-not-allowed']);
  });

  test('a new route is added, the others kept; removing the top-level block lets everyone in', () => {
    const added = whatIf(CONFIG, 'routes: [{ path: /ops/, allow: { groups: [ops] } }]', [], [BOB]);
    assert.deepEqual(
      added.changed.map((c) => [c.paths.join(), c.after.reasons.join()]),
      [['/ops/', 'group-missing']],
    );
    const open = whatIf(CONFIG, 'allow: ~', RECORDS);
    assert.deepEqual(
      open.changed.map((c) => c.who),
      ['olga@example.org'],
    );
  });

  test('pure: the configuration given is not changed', () => {
    const before = JSON.stringify(CONFIG.routes);
    whatIf(CONFIG, 'routes: [{ path: /admin/, allow: { groups: [x] } }]', RECORDS, [ALICE]);
    assert.equal(JSON.stringify(CONFIG.routes), before);
  });
});

function rawOf(): Record<string, unknown> {
  return {
    publicUrl: 'http://127.0.0.1:4180',
    cookie: { secret: 'k'.repeat(43) },
    upstreams: [{ path: '/', url: 'http://127.0.0.1:9' }],
    providers: [
      { id: 'corp', type: 'oidc', issuer: 'https://idp.example.com', clientId: 'c', clientSecret: 's' },
    ],
  };
}
