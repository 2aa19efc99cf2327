/**
 * Table tests for each access criterion on its own (src/policy/criteria/*): the tricky inputs of e-mail
 * parsing and domains, requirement regexes and their anchors, claim shapes, and the case rules of groups,
 * GitHub organisations and teams and GitLab groups. Each row states the exact reason codes expected.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { allowSchema, requirementRegex } from '../../src/config/schema/policy.ts';
import { identityFromProfile, pickClaims } from '../../src/idp/claims.ts';
import { emailRule, parseEmail } from '../../src/policy/criteria/emails.ts';
import { githubOrgsRule, githubRestriction, githubTeamsRule } from '../../src/policy/criteria/github.ts';
import { gitlabGroupsRule, gitlabProjectsRule } from '../../src/policy/criteria/gitlab.ts';
import { groupsRule } from '../../src/policy/criteria/groups.ts';
import { type RequirementValue, requirementsRule } from '../../src/policy/criteria/requirements.ts';
import { hostedDomainRule, tenantRule } from '../../src/policy/criteria/tenant.ts';
import type { Criterion } from '../../src/policy/criterion.ts';
import type { Identity } from '../../src/sessions/session.ts';

function who(fields: Partial<Identity> = {}): Identity {
  return { sub: 'u1', groups: [], ...fields };
}

/** The reason codes a criterion gives (empty: it passes). */
function reasons(c: Criterion, identity: Identity, providerType = 'oidc'): string[] {
  return c.check({ identity, providerType }).map((f) => f.reason);
}

function explains(c: Criterion, identity: Identity, providerType = 'oidc'): string[] {
  return c.check({ identity, providerType }).map((f) => f.explain);
}

describe('parseEmail: exactly one @, no whitespace or control characters, no empty domain labels', () => {
  const cases: [string, { address: string; domain: string } | undefined][] = [
    ['alice@example.com', { address: 'alice@example.com', domain: 'example.com' }],
    ['Alice@EXAMPLE.COM', { address: 'alice@example.com', domain: 'example.com' }],
    ['user+tag@sub.example.com', { address: 'user+tag@sub.example.com', domain: 'sub.example.com' }],
    ['attacker@evil.com@example.com', undefined],
    ['"attacker@evil.com"@example.com', undefined],
    ['no-at-sign', undefined],
    ['no-at-sign.example.com', undefined],
    ['@example.com', undefined],
    ['user@', undefined],
    ['', undefined],
    ['user@example.com.', undefined],
    ['user@.example.com', undefined],
    ['user@example..com', undefined],
    ['user @example.com', undefined],
    ['user@example.com ', undefined],
    ['user@example.com\n', undefined],
    ['user@exam\u0000ple.com', undefined],
    ['user@example.com\u00a0', undefined],
    // Only A-Z are folded: the Kelvin sign (U+212A) must not become the ASCII k of keycloak.com.
    ['kate@\u212Aeycloak.com', { address: 'kate@\u212Aeycloak.com', domain: '\u212Aeycloak.com' }],
  ];
  for (const [input, expected] of cases) {
    test(JSON.stringify(input), () => assert.deepEqual(parseEmail(input), expected));
  }
});

describe('emailDomains: example.com exactly, .example.com for it and its subdomains', () => {
  const exact = emailRule({ domains: ['Example.COM'] });
  const sub = emailRule({ domains: ['.example.com'] });
  const both = emailRule({ domains: ['example.com', '.corp.example.net'] });
  const OK: string[] = [];
  const NO = ['email-domain-not-allowed'];
  const INVALID = ['email-invalid'];
  // email | exact | .example.com | example.com + .corp.example.net
  const rows: [string, string[], string[], string[]][] = [
    ['alice@example.com', OK, OK, OK],
    ['user@EXAMPLE.COM', OK, OK, OK],
    ['USER@Example.Com', OK, OK, OK],
    ['user@sub.example.com', NO, OK, NO],
    ['user@a.b.example.com', NO, OK, NO],
    ['user@SUB.EXAMPLE.COM', NO, OK, NO],
    ['attacker@evil.com@example.com', INVALID, INVALID, INVALID],
    ['user@example.com.evil.com', NO, NO, NO],
    ['user@evilexample.com', NO, NO, NO],
    ['user@evil-example.com', NO, NO, NO],
    ['user@example.co', NO, NO, NO],
    ['user@com', NO, NO, NO],
    ['user@corp.example.net', NO, NO, OK],
    ['user@eu.corp.example.net', NO, NO, OK],
    ['user@example.net', NO, NO, NO],
    ['no-at-sign', INVALID, INVALID, INVALID],
    ['user@example.com.', INVALID, INVALID, INVALID],
    ['user@\u212Aeycloak.com', NO, NO, NO],
  ];
  for (const [email, e, s, b] of rows) {
    test(email, () => {
      assert.deepEqual(reasons(exact, who({ email })), e, 'example.com');
      assert.deepEqual(reasons(sub, who({ email })), s, '.example.com');
      assert.deepEqual(reasons(both, who({ email })), b, 'example.com, .corp.example.net');
    });
  }

  test('the denial names the domain in words; a bad address and a missing one say so', () => {
    assert.deepEqual(explains(exact, who({ email: 'user@sub.example.com' })), [
      'Accounts with an e-mail address at sub.example.com are not allowed here.',
    ]);
    assert.deepEqual(explains(exact, who({ email: 'a@b@example.com' })), [
      'Your account’s e-mail address is not a valid address.',
    ]);
    assert.deepEqual(reasons(exact, who()), ['email-missing']);
    assert.deepEqual(explains(exact, who()), [
      'Your account did not share an e-mail address with this site.',
    ]);
    // The provider drops an unverified address from the identity and keeps emailVerified: false.
    assert.deepEqual(reasons(exact, who({ emailVerified: false })), ['email-unverified']);
    // With the unverified address at hand: whether verifying it would be enough is said too.
    assert.deepEqual(reasons(exact, who({ emailVerified: false, unverifiedEmail: 'u@example.com' })), [
      'email-unverified',
    ]);
    assert.deepEqual(explains(exact, who({ emailVerified: false, unverifiedEmail: 'u@elsewhere.example' })), [
      'Your e-mail address is not verified at your identity provider; verify it and sign in again.',
      'Accounts with an e-mail address at elsewhere.example are not allowed here.',
    ]);
  });
});

describe('emails: a list of addresses, any case; with emailDomains either one suffices', () => {
  test('listed addresses pass in any case; others get email-not-allowed', () => {
    const rule = emailRule({ emails: ['Alice@Example.com', 'bob@contractor.example'] });
    assert.deepEqual(reasons(rule, who({ email: 'alice@example.com' })), []);
    assert.deepEqual(reasons(rule, who({ email: 'ALICE@EXAMPLE.COM' })), []);
    assert.deepEqual(reasons(rule, who({ email: 'bob@contractor.example' })), []);
    assert.deepEqual(reasons(rule, who({ email: 'carol@example.com' })), ['email-not-allowed']);
    assert.deepEqual(explains(rule, who({ email: 'carol@example.com' })), [
      'Your e-mail address is not on the list of addresses allowed here.',
    ]);
    // Not an address at all, even though a listed one is its suffix.
    assert.deepEqual(reasons(rule, who({ email: 'x@evil.com@alice@example.com' })), ['email-invalid']);
    assert.deepEqual(reasons(rule, who({ email: 'kate@\u212Aeycloak.com' })), ['email-not-allowed']);
  });

  test('emails and emailDomains together: on the list or in the domain', () => {
    const rule = emailRule({ emails: ['contractor@other.org'], domains: ['example.com'] });
    assert.deepEqual(reasons(rule, who({ email: 'contractor@other.org' })), []);
    assert.deepEqual(reasons(rule, who({ email: 'anyone@example.com' })), []);
    assert.deepEqual(reasons(rule, who({ email: 'eve@other.org' })), ['email-domain-not-allowed']);
  });
});

describe('requirements: key: value, key: /regex/ (whole value), lists, missing claims', () => {
  type Row = [label: string, value: RequirementValue, claim: string | string[] | undefined, pass: boolean];
  const rows: Row[] = [
    ['plain equal', 'example.com', 'example.com', true],
    ['plain is case-sensitive', 'example.com', 'EXAMPLE.COM', false],
    ['plain is not a substring match', 'example.com', 'evil-example.com', false],
    ['missing claim', 'example.com', undefined, false],
    ['empty claim list', 'example.com', [], false],
    ['regex anchored: exact', '/example\\.com/', 'example.com', true],
    ['regex anchored: prefix junk', '/example\\.com/', 'evil-example.com', false],
    ['regex anchored: both sides', '/example\\.com/', 'evil-example.com.attacker', false],
    ['regex anchored: suffix junk', '/example\\.com/', 'example.com.attacker', false],
    ['regex anchored: trailing newline', '/example\\.com/', 'example.com\n', false],
    ['regex: unescaped dot matches any character', '/example.com/', 'exampleXcom', true],
    ['regex with its own anchors', '/^platform-.*$/', 'platform-sre', true],
    ['regex with its own anchors, no match', '/^platform-.*$/', 'xplatform-sre', false],
    ['regex alternation stays anchored', '/platform|sre/', 'sre', true],
    ['regex alternation: no prefix match', '/platform|sre/', 'platform-evil', false],
    ['regex alternation: no suffix match', '/platform|sre/', 'not-sre', false],
    ['regex flag i', '/EXAMPLE\\.COM/i', 'example.com', true],
    ['regex without i', '/EXAMPLE\\.COM/', 'example.com', false],
    ['regex flag s: . matches a newline', '/a.b/s', 'a\nb', true],
    ['regex without s', '/a.b/', 'a\nb', false],
    [
      'regex flag m is dropped: anchors hold for the whole value',
      '/example\\.com/m',
      'evil\nexample.com',
      false,
    ],
    ['regex flag m, whole value', '/example\\.com/m', 'example.com', true],
    ['regex flag u', '/\\p{Lu}+/u', 'ÄB', true],
    ['list of values: any', ['eng', '/^ops-.*/'], 'ops-1', true],
    ['list of values: none', ['eng', '/^ops-.*/'], 'sales', false],
    ['claim list: any element', 'admin', ['viewer', 'admin'], true],
    ['claim list: regex on any element', '/adm.*/', ['viewer', 'administrator'], true],
    ['claim list: none', 'admin', ['viewer', 'editor'], false],
    ['number vs string claim', 3, '3', true],
    ['number vs other spelling', 3, '03', false],
    ['number vs 3.0', 3, '3.0', false],
    ['boolean vs string claim', true, 'true', true],
    ['boolean vs other case', true, 'True', false],
    ['false vs "false"', false, 'false', true],
    ['string "3" vs claim "3"', '3', '3', true],
  ];
  for (const [label, value, claim, pass] of rows) {
    test(label, () => {
      const rule = requirementsRule({ k: value });
      const identity = who(claim === undefined ? {} : { claims: { k: claim } });
      assert.deepEqual(reasons(rule, identity), pass ? [] : ['requirement-failed:k']);
    });
  }

  test('a g or y flag does not make matching stateful', () => {
    for (const flags of ['g', 'y', 'gy']) {
      const rule = requirementsRule({ team: `/sre/${flags}` });
      for (let i = 0; i < 3; i++) assert.deepEqual(reasons(rule, who({ claims: { team: 'sre' } })), []);
    }
  });

  test('every failed key has its own reason, in order, with words naming the claim', () => {
    const rule = requirementsRule({ hd: 'example.com', department: '/^(platform|sre)$/', level: 3 });
    const identity = who({ claims: { hd: 'gmail.com', level: '3' } });
    assert.deepEqual(reasons(rule, identity), ['requirement-failed:hd', 'requirement-failed:department']);
    assert.deepEqual(explains(rule, identity), [
      'Your account’s “hd” does not have a value allowed here.',
      'Your account’s “department” does not have a value allowed here.',
    ]);
    assert.deepEqual(reasons(rule, who()), [
      'requirement-failed:hd',
      'requirement-failed:department',
      'requirement-failed:level',
    ]);
  });

  test('keys that name Object.prototype members read nothing from it', () => {
    // Parsed from JSON, as from YAML, `__proto__` is an own key like any other.
    const rule = requirementsRule(JSON.parse('{"constructor":"/.*/","__proto__":"/.*/","toString":"/.*/"}'));
    assert.deepEqual(reasons(rule, who({ claims: { other: 'x' } })), [
      'requirement-failed:constructor',
      'requirement-failed:__proto__',
      'requirement-failed:toString',
    ]);
    const own = requirementsRule({ constructor: 'yes' });
    assert.deepEqual(reasons(own, who({ claims: JSON.parse('{"constructor":"yes"}') })), []);
  });

  test('claim values of other shapes (from an old or odd session) fail without throwing', () => {
    const rule = requirementsRule({ k: '/.*/' });
    const odd = { k: { nested: 'x' } } as unknown as Record<string, string>;
    assert.deepEqual(reasons(rule, who({ claims: odd })), ['requirement-failed:k']);
    const mixed = { k: [1, 'x'] } as unknown as Record<string, string[]>;
    assert.deepEqual(reasons(rule, who({ claims: mixed })), []);
  });

  test('claims as providers keep them: numbers and booleans as strings, dot paths, lists', () => {
    const profile = {
      hd: 'example.com',
      level: 3,
      admin: true,
      org: { team: 'sre', id: 7 },
      roles: ['viewer', 2, false, { no: 1 }, null],
      'dotted.key': 'whole',
      object: { a: 1 },
    };
    const claims = pickClaims(profile, [
      'hd',
      'level',
      'admin',
      'org.team',
      'roles',
      'dotted.key',
      'object',
      'gone',
    ]);
    assert.deepEqual(claims, {
      hd: 'example.com',
      level: '3',
      admin: 'true',
      'org.team': 'sre',
      roles: ['viewer', '2', 'false'],
      'dotted.key': 'whole',
    });
    const rule = requirementsRule({ level: 3, admin: true, 'org.team': 'sre', roles: 'viewer' });
    assert.deepEqual(reasons(rule, who({ claims: claims! })), []);
    assert.deepEqual(reasons(requirementsRule({ object: '/.*/' }), who({ claims: claims! })), [
      'requirement-failed:object',
    ]);
  });

  test('requirementRegex anchors the whole value and keeps only harmless flags', () => {
    assert.equal(requirementRegex('/a|b/gimsuy')?.source, '^(?:a|b)$');
    assert.equal(requirementRegex('/a|b/gimsuy')?.flags, 'isu');
    assert.equal(requirementRegex('a|b'), undefined);
    assert.equal(requirementRegex('/a'), undefined);
  });
});

describe('groups: any of the listed groups, exact and case-sensitive', () => {
  const rule = groupsRule(['admins', 'sre']);
  const rows: [string[], string[]][] = [
    [['admins'], []],
    [['users', 'sre'], []],
    [['Admins'], ['group-missing']],
    [['admins-readonly'], ['group-missing']],
    [[], ['group-missing']],
  ];
  for (const [groups, expected] of rows) {
    test(JSON.stringify(groups), () => assert.deepEqual(reasons(rule, who({ groups })), expected));
  }

  test('the denial lists the groups', () => {
    assert.deepEqual(explains(rule, who()), ['You need to be in one of these groups: admins or sre.']);
    const many = groupsRule(['g1', 'g2', 'g3', 'g4', 'g5', 'g6', 'g7', 'g8', 'g9', 'g10', 'g11', 'g12']);
    assert.deepEqual(explains(many, who()), [
      'You need to be in one of these groups: g1, g2, g3, g4, g5, g6, g7, g8, g9 or g10 (or 2 more).',
    ]);
  });

  test('the groups claim as a list, a single string, a number, empty or of another type', () => {
    const map = { sub: ['sub'], email: 'email', groups: 'groups' };
    const opts = { keepClaims: [], allowUnverifiedEmail: false };
    const rows: [unknown, string[], string[]][] = [
      [['admins', 'users'], ['admins', 'users'], []],
      ['admins', ['admins'], []],
      ['admins,users', ['admins,users'], ['group-missing']],
      ['', [], ['group-missing']],
      [[], [], ['group-missing']],
      // Numeric group ids count as their strings (src/idp/claims.ts strings()).
      [7, ['7'], ['group-missing']],
      [['admins', 7, null, '', { id: 1 }], ['admins', '7'], []],
      [true, [], ['group-missing']],
      [undefined, [], ['group-missing']],
    ];
    for (const [claim, groups, expected] of rows) {
      const identity = identityFromProfile({ sub: 'u', groups: claim }, map, opts)!;
      assert.deepEqual(identity.groups, groups, JSON.stringify(claim));
      assert.deepEqual(reasons(rule, identity), expected, JSON.stringify(claim));
    }
  });
});

describe('GitHub organisations and teams: any case', () => {
  test('githubOrgs', () => {
    const rule = githubOrgsRule(['Acme', 'other-org']);
    assert.deepEqual(reasons(rule, who({ orgs: ['acme'] }), 'github'), []);
    assert.deepEqual(reasons(rule, who({ orgs: ['ACME'] }), 'github'), []);
    assert.deepEqual(reasons(rule, who({ orgs: ['acme-evil'] }), 'github'), ['org-missing']);
    assert.deepEqual(reasons(rule, who({ orgs: [] }), 'github'), ['org-missing']);
    assert.deepEqual(reasons(rule, who(), 'github'), ['org-missing']);
    // Another provider's users have no GitHub memberships; `groups` never counts as organisations.
    assert.deepEqual(reasons(rule, who({ groups: ['acme'] }), 'oidc'), ['org-missing']);
    assert.deepEqual(explains(rule, who()), [
      'You need to be a member of one of these GitHub organisations: Acme or other-org.',
    ]);
  });

  test('githubTeams', () => {
    const rule = githubTeamsRule(['Acme/Platform']);
    assert.deepEqual(reasons(rule, who({ teams: ['acme/platform'] }), 'github'), []);
    assert.deepEqual(reasons(rule, who({ teams: ['ACME/PLATFORM'] }), 'github'), []);
    assert.deepEqual(reasons(rule, who({ teams: ['acme/platform-old'] }), 'github'), ['team-missing']);
    assert.deepEqual(reasons(rule, who({ teams: ['other/platform'] }), 'github'), ['team-missing']);
    assert.deepEqual(reasons(rule, who({ orgs: ['acme'] }), 'github'), ['team-missing']);
    assert.deepEqual(explains(rule, who()), ['You need to be in one of these GitHub teams: Acme/Platform.']);
  });

  test('the github provider’s orgs, teams and users (a listed user passes regardless)', () => {
    const both = githubRestriction({ orgs: ['acme'], teams: ['acme/sre'], users: ['Octocat'] })!;
    assert.deepEqual(reasons(both, who({ preferredUsername: 'octocat' }), 'github'), []);
    assert.deepEqual(reasons(both, who({ preferredUsername: 'hubot' }), 'github'), [
      'org-missing',
      'team-missing',
    ]);
    assert.deepEqual(reasons(both, who({ orgs: ['acme'] }), 'github'), ['team-missing']);
    assert.deepEqual(reasons(both, who({ orgs: ['acme'], teams: ['acme/sre'] }), 'github'), []);
    const users = githubRestriction({ users: ['octocat'] })!;
    assert.deepEqual(reasons(users, who({ preferredUsername: 'OctoCat' }), 'github'), []);
    assert.deepEqual(reasons(users, who({ preferredUsername: 'hubot', orgs: ['acme'] }), 'github'), [
      'user-not-allowed',
    ]);
    assert.deepEqual(reasons(users, who(), 'github'), ['user-not-allowed']);
    assert.equal(githubRestriction({}), undefined);
  });
});

describe('GitLab groups: full paths, exact, subgroups not implied, gitlab users only', () => {
  const rule = gitlabGroupsRule(['acme/platform', 'ops']);
  const rows: [string, string[], string[]][] = [
    ['gitlab', ['acme/platform'], []],
    ['gitlab', ['Acme/Platform'], ['gitlab-group-missing']],
    ['gitlab', ['ops'], []],
    ['gitlab', ['acme'], ['gitlab-group-missing']],
    ['gitlab', ['acme/platform/sub'], ['gitlab-group-missing']],
    ['gitlab', ['acme/platform-old'], ['gitlab-group-missing']],
    ['gitlab', [], ['gitlab-group-missing']],
    // The same names from another provider's groups claim are not GitLab groups.
    ['oidc', ['acme/platform'], ['gitlab-group-missing']],
    ['keycloak', ['ops'], ['gitlab-group-missing']],
  ];
  for (const [type, groups, expected] of rows) {
    test(`${type} ${JSON.stringify(groups)}`, () =>
      assert.deepEqual(reasons(rule, who({ groups }), type), expected));
  }

  test('a parent group does not admit a member of a subgroup only', () => {
    assert.deepEqual(reasons(gitlabGroupsRule(['acme']), who({ groups: ['acme/platform'] }), 'gitlab'), [
      'gitlab-group-missing',
    ]);
    assert.deepEqual(explains(gitlabGroupsRule(['acme']), who(), 'gitlab'), [
      'You need to be a member of one of these GitLab groups: acme.',
    ]);
  });

  test('projects: the ones the provider found the user can access', () => {
    const p = gitlabProjectsRule(['acme/website', 'acme/infra=developer']);
    assert.deepEqual(reasons(p, who({ projects: ['acme/infra'] }), 'gitlab'), []);
    assert.deepEqual(reasons(p, who({ projects: ['acme/other'] }), 'gitlab'), ['project-missing']);
    assert.deepEqual(reasons(p, who(), 'gitlab'), ['project-missing']);
    assert.deepEqual(explains(p, who(), 'gitlab'), [
      'You need access to one of these GitLab projects: acme/website or acme/infra.',
    ]);
  });
});

describe('Google hosted domain and Entra tenant: from the signed claim only', () => {
  test('hostedDomains', () => {
    const rule = hostedDomainRule(['Example.com']);
    assert.deepEqual(reasons(rule, who({ tenant: 'example.com' })), []);
    assert.deepEqual(reasons(rule, who({ tenant: 'EXAMPLE.COM' })), []);
    assert.deepEqual(reasons(rule, who({ tenant: 'sub.example.com' })), ['hosted-domain-not-allowed']);
    // A personal account has no hd claim, whatever its e-mail address says.
    assert.deepEqual(reasons(rule, who({ email: 'someone@example.com' })), ['hosted-domain-not-allowed']);
    assert.deepEqual(explains(rule, who()), [
      'Only Google Workspace accounts of an allowed organisation may sign in here, not personal Google accounts.',
    ]);
    assert.deepEqual(explains(rule, who({ tenant: 'other.com' })), [
      'Google Workspace accounts of other.com are not allowed here.',
    ]);
  });

  test('allowedTenants', () => {
    const tid = '9188040d-6c67-4c5b-b112-36a304b66dad';
    const rule = tenantRule([tid.toUpperCase()]);
    assert.deepEqual(reasons(rule, who({ tenant: tid })), []);
    assert.deepEqual(reasons(rule, who({ tenant: 'f8cdef31-a31e-4b4a-93e4-5f571e91255a' })), [
      'tenant-not-allowed',
    ]);
    assert.deepEqual(reasons(rule, who()), ['tenant-not-allowed']);
  });
});

describe('the allow schema refuses what the rules could not mean', () => {
  const rows: [string, unknown, RegExp | undefined][] = [
    [
      'a valid block',
      { emails: ['a@example.com'], emailDomains: ['example.com', '.corp.example.com'] },
      undefined,
    ],
    ['two @', { emails: ['attacker@evil.com@example.com'] }, /one e-mail address/],
    ['no @', { emails: ['alice'] }, /one e-mail address/],
    ['whitespace', { emails: ['alice @example.com'] }, /one e-mail address/],
    ['a domain with @', { emailDomains: ['@example.com'] }, /must be a domain/],
    ['a wildcard domain', { emailDomains: ['*.example.com'] }, /must be a domain/],
    ['a trailing dot', { emailDomains: ['example.com.'] }, /must be a domain/],
    ['a team without org', { githubTeams: ['platform'] }, /org\/team-slug/],
    ['an invalid regex', { requirements: { hd: '/[a-/' } }, /not a valid regular expression/],
    ['an invalid regex in a list', { requirements: { hd: ['ok', '/(/'] } }, /not a valid regular expression/],
    ['an unknown flag', { requirements: { hd: '/x/q' } }, undefined],
    ['an empty list', { requirements: { hd: [] } }, /too small|>=1/i],
    ['an unknown key', { emailDomain: ['example.com'] }, /unrecognized|Unrecognized/],
  ];
  for (const [label, value, problem] of rows) {
    test(label, () => {
      const r = allowSchema.safeParse(value);
      if (problem === undefined) assert.ok(r.success, JSON.stringify(r.error?.issues));
      else {
        assert.ok(!r.success, 'refused');
        assert.match(JSON.stringify(r.error.issues), problem);
      }
    });
  }

  test('`/x/q` is not a regex (q is no flag): it is compared as the plain string', () => {
    const rule = requirementsRule({ hd: '/x/q' });
    assert.deepEqual(reasons(rule, who({ claims: { hd: '/x/q' } })), []);
    assert.deepEqual(reasons(rule, who({ claims: { hd: 'x' } })), ['requirement-failed:hd']);
  });
});
