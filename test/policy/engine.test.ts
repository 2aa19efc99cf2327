/**
 * The rule engine as configured (src/policy/compile.ts, engine.ts): the three layers — top-level `allow`,
 * the provider's `allow` and restrictions, the longest route prefix with an `allow` — reason codes in layer
 * order without repeats, per-request route rules, the decision cache, an `emailsFile` that changes,
 * disappears and comes back, and the configuration problems of access rules.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, describe, test } from 'node:test';
import { accessRuleProblems } from '../../src/config/access-rules.ts';
import { type ResolvedConfig, resolveConfig } from '../../src/config/load.ts';
import { createLogger } from '../../src/observability/log.ts';
import { compilePolicy, requiredClaims } from '../../src/policy/compile.ts';
import { EmailsFile } from '../../src/policy/criteria/emails.ts';
import { type AccessPolicy, allowSignedIn } from '../../src/policy/decision.ts';
import type { RulesPolicy } from '../../src/policy/engine.ts';
import type { Identity, Session } from '../../src/sessions/session.ts';

const BASE = {
  publicUrl: 'http://127.0.0.1:4180',
  cookie: { secret: 'k'.repeat(43) },
  upstreams: [{ path: '/', url: 'http://127.0.0.1:9' }],
};

const CORP = {
  id: 'corp',
  type: 'oidc',
  issuer: 'https://idp.example.com',
  clientId: 'c',
  clientSecret: 's',
};
const PARTNERS = { ...CORP, id: 'partners', issuer: 'https://partners.example.net' };

function config(extra: Record<string, unknown>): ResolvedConfig {
  return resolveConfig({ ...BASE, providers: [CORP, PARTNERS], ...extra });
}

function session(provider: string, identity: Partial<Identity>): Session {
  return {
    v: 1,
    provider,
    identity: { sub: 'u1', groups: [], ...identity },
    createdAt: 0,
    expiresAt: 1e10,
  };
}

interface Captured {
  readonly lines: Record<string, unknown>[];
}

function capture(): { log: ReturnType<typeof createLogger> } & Captured {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n')) if (l.trim()) lines.push(JSON.parse(l));
      cb();
    },
  });
  return { log: createLogger('debug', sink), lines };
}

/** The reason codes of one decision (empty: allowed). */
function decide(p: AccessPolicy, s: Session, path?: string): string[] {
  const d = p.decide(s, path);
  assert.equal(d.allow, d.reasons.length === 0, 'allow exactly when there is no reason');
  return [...d.reasons];
}

describe('layers: top-level, provider, longest route prefix', () => {
  const policy = compilePolicy(
    config({
      allow: { emailDomains: ['example.com'] },
      providers: [{ ...CORP, allow: { groups: ['staff'] } }, PARTNERS],
      routes: [
        { path: '/public/', public: true },
        { path: '/api/', api: true },
        { path: '/admin/', allow: { groups: ['admins'] } },
        { path: '/admin/reports/', allow: { groups: ['auditors'] } },
        { path: '/admin/reports/docs/', api: true },
        { path: '/hd', allow: { requirements: { hd: 'example.com' }, emailDomains: ['example.com'] } },
      ],
    }),
  );
  const alice = session('corp', { email: 'alice@example.com', groups: ['staff', 'admins'] });
  const bob = session('corp', { email: 'bob@example.com', groups: ['staff'] });
  const auditor = session('corp', { email: 'ann@example.com', groups: ['staff', 'auditors'] });
  const partner = session('partners', { email: 'pat@example.com', groups: [] });
  const outsider = session('corp', { email: 'eve@evil.com', groups: [] });

  // session | path | reasons
  const rows: [string, Session, string | undefined, string[]][] = [
    ['alice at sign-in', alice, undefined, []],
    ['alice /', alice, '/', []],
    ['alice /admin/x', alice, '/admin/x', []],
    ['alice /admin (the prefix itself)', alice, '/admin', []],
    // The longest prefix replaces the shorter one's rules; it does not add to them.
    ['alice /admin/reports/q1', alice, '/admin/reports/q1', ['group-missing']],
    // A longer route without `allow` does not drop the rules of the one it is under.
    ['alice /admin/reports/docs/x', alice, '/admin/reports/docs/x', ['group-missing']],
    ['auditor /admin/reports/q1', auditor, '/admin/reports/q1', []],
    ['auditor /admin/x', auditor, '/admin/x', ['group-missing']],
    ['bob at sign-in', bob, undefined, []],
    ['bob /', bob, '/', []],
    ['bob /api/x', bob, '/api/x', []],
    ['bob /admin/x', bob, '/admin/x', ['group-missing']],
    ['bob /admin', bob, '/admin', ['group-missing']],
    ['bob /admin/', bob, '/admin/', ['group-missing']],
    // Prefixes match whole segments.
    ['bob /administrator', bob, '/administrator', []],
    ['bob /adminx/y', bob, '/adminx/y', []],
    ['bob /hd/x: the claim is missing', bob, '/hd/x', ['requirement-failed:hd']],
    ['bob /hdx: not under /hd', bob, '/hdx', []],
    // Provider rules apply to that provider's users only.
    ['partner at sign-in', partner, undefined, []],
    ['partner /admin/x', partner, '/admin/x', ['group-missing']],
    // Global then provider then route, each failure once, in that order.
    ['outsider at sign-in', outsider, undefined, ['email-domain-not-allowed', 'group-missing']],
    // The two group-missing name different groups (staff, admins), so both stay.
    [
      'outsider /admin/x',
      outsider,
      '/admin/x',
      ['email-domain-not-allowed', 'group-missing', 'group-missing'],
    ],
    [
      'outsider /hd (the same emailDomains rule in two layers fails once)',
      outsider,
      '/hd',
      ['email-domain-not-allowed', 'group-missing', 'requirement-failed:hd'],
    ],
    ['an unknown provider', session('gone', { email: 'alice@example.com' }), '/', ['provider-unknown']],
  ];
  for (const [label, s, path, expected] of rows) {
    test(label, () => assert.deepEqual(decide(policy, s, path), expected));
  }

  test('explanations match the reasons one to one, in words', () => {
    const d = policy.decide(outsider, '/admin/x');
    assert.equal(d.allow, false);
    assert.deepEqual(d.explanations, [
      'Accounts with an e-mail address at evil.com are not allowed here.',
      'You need to be in one of these groups: staff.',
      'You need to be in one of these groups: admins.',
    ]);
    assert.deepEqual(policy.decide(session('gone', {}), '/').explanations, [
      'The sign-in method you used is no longer offered here. Sign out and sign in again.',
    ]);
  });

  test('route rules apply per request; decisions are cached per session and route', () => {
    const first = policy.decide(bob, '/admin/x');
    assert.equal(policy.decide(bob, '/admin/other'), first, 'same route, same cached decision');
    assert.equal(policy.decide(bob, '/').allow, true);
    assert.equal(policy.decide(bob, '/admin/x').allow, false);
    // A session with more groups (e.g. after a refresh) is another object: decided afresh.
    const promoted = session('corp', { email: 'bob@example.com', groups: ['staff', 'admins'] });
    assert.equal(policy.decide(promoted, '/admin/x').allow, true);
  });
});

describe('compilePolicy', () => {
  test('without any rule every signed-in user passes, with no per-request work', () => {
    const p = compilePolicy(config({ routes: [{ path: '/api/', api: true }] }));
    assert.equal(p, allowSignedIn);
    assert.equal(p.decide(session('anything', {}), '/x').allow, true);
  });

  test('provider restrictions are rules of that provider: github orgs, gitlab groups', () => {
    const p = compilePolicy(
      resolveConfig({
        ...BASE,
        providers: [
          { id: 'gh', type: 'github', clientId: 'a', clientSecret: 's', orgs: ['Acme'] },
          { id: 'gl', type: 'gitlab', clientId: 'b', clientSecret: 's', groups: ['acme/platform'] },
          CORP,
        ],
      }),
    );
    assert.deepEqual(decide(p, session('gh', { orgs: ['acme'] })), []);
    assert.deepEqual(decide(p, session('gh', { orgs: ['other'] })), ['org-missing']);
    assert.deepEqual(decide(p, session('gl', { groups: ['acme/platform'] })), []);
    assert.deepEqual(decide(p, session('gl', { groups: ['acme'] })), ['gitlab-group-missing']);
    assert.deepEqual(decide(p, session('corp', { groups: ['acme/platform'] })), []);
  });

  test('requiredClaims: the requirement keys that may apply to a provider’s users', () => {
    const c = config({
      allow: { requirements: { hd: 'example.com' } },
      providers: [{ ...CORP, allow: { requirements: { 'realm_access.roles': 'admin' } } }, PARTNERS],
      routes: [{ path: '/x/', allow: { requirements: { department: '/^sre$/' } } }],
    });
    assert.deepEqual(requiredClaims(c, 'corp').sort(), ['department', 'hd', 'realm_access.roles']);
    assert.deepEqual(requiredClaims(c, 'partners').sort(), ['department', 'hd']);
  });
});

describe('configuration problems of access rules', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pcl-rules-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('each problem names the key and what is wrong', () => {
    const bad = join(dir, 'bad.txt');
    writeFileSync(bad, 'alice@example.com\nnot an address\nx@y@z\n');
    const problems = accessRuleProblems({
      allow: { githubOrgs: ['acme'], emailsFile: join(dir, 'missing.txt') },
      providers: [{ ...CORP, type: 'oidc', allow: { gitlabGroups: ['acme'], emailsFile: bad } }] as never,
      routes: [{ path: '/open/', public: true, api: false, bearer: false, allow: { groups: ['x'] } }],
    });
    assert.deepEqual(problems, [
      `allow.emailsFile: cannot read ${join(dir, 'missing.txt')} (ENOENT)`,
      'allow.githubOrgs: no github provider is configured, so nobody could pass',
      `providers[0].allow.emailsFile: ${bad}:2 "not an address" is not one e-mail address`,
      `providers[0].allow.emailsFile: ${bad}:3 "x@y@z" is not one e-mail address`,
      'providers[0].allow.gitlabGroups: only users of a gitlab provider have these; this provider is oidc',
      'routes[0].allow: a public route needs no sign-in, so its rules would never apply',
    ]);
  });

  test('resolveConfig reports them with the rest', () => {
    assert.throws(
      () => config({ allow: { githubTeams: ['acme/sre'] } }),
      /allow\.githubTeams: no github provider is configured/,
    );
  });
});

describe('emailsFile: re-read when it changes; missing or unreadable fails closed and is logged', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pcl-emails-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const alice = session('corp', { email: 'Alice@Example.com' });
  const bob = session('corp', { email: 'bob@example.com' });
  const carol = session('corp', { email: 'carol@contractor.example' });

  function setup(name: string, text: string | undefined, extraAllow: Record<string, unknown> = {}) {
    const file = join(dir, name);
    if (text !== undefined) writeFileSync(file, text);
    const cap = capture();
    // Not watched: the test triggers each look itself (what the directory watcher does on a change).
    const policy = compilePolicy(
      {
        ...config({}),
        allow: { emailsFile: file, ...extraAllow },
      } as ResolvedConfig,
      { log: cap.log, watch: false },
    ) as RulesPolicy;
    return {
      file,
      policy,
      lines: cap.lines,
      /** The watcher's look at the file. */
      tick() {
        policy.checkFiles();
      },
    };
  }

  test('addresses one per line, any case, comments and blank lines skipped, bad lines logged', () => {
    const t = setup(
      'list.txt',
      '# who may come in\n\n  ALICE@example.com  \nbob@example.com # until March\r\nnot-an-address\n',
    );
    assert.deepEqual(decide(t.policy, alice), []);
    assert.deepEqual(decide(t.policy, bob), []);
    assert.deepEqual(decide(t.policy, carol), ['email-not-allowed']);
    const warned = t.lines.filter((l) => l['msg'] === 'emailsFile: not an e-mail address; line skipped');
    assert.deepEqual(
      warned.map((l) => l['line']),
      [5],
    );
  });

  test('a change is seen at the next look (the watcher’s), not by requests before it', () => {
    const t = setup('change.txt', 'alice@example.com\nbob@example.com\n');
    assert.deepEqual(decide(t.policy, bob), []);
    writeFileSync(t.file, 'alice@example.com\ncarol@contractor.example\n');
    assert.deepEqual(decide(t.policy, bob), [], 'requests do not look at the file: the list as read');
    t.tick();
    assert.deepEqual(decide(t.policy, bob), ['email-not-allowed']);
    assert.deepEqual(decide(t.policy, carol), []);
    assert.equal(t.lines.filter((l) => l['event'] === 'emails-file.reload').length, 1);
    // Unchanged file: no re-read.
    t.tick();
    decide(t.policy, carol);
    assert.equal(t.lines.filter((l) => l['event'] === 'emails-file.reload').length, 1);
  });

  test('a file that disappears denies everyone on it, logs once, and is back when the file is', () => {
    const t = setup('gone.txt', 'alice@example.com\n');
    assert.deepEqual(decide(t.policy, alice), []);
    unlinkSync(t.file);
    t.tick();
    assert.deepEqual(decide(t.policy, alice), ['email-not-allowed', 'emails-file-unavailable']);
    assert.deepEqual(t.policy.decide(alice, undefined).explanations, [
      'Your e-mail address is not on the list of addresses allowed here.',
      'The list of addresses allowed here cannot be read at the moment; tell your administrator.',
    ]);
    for (let i = 0; i < 3; i++) {
      t.tick();
      decide(t.policy, alice);
    }
    const errors = t.lines.filter((l) => l['event'] === 'emails-file.unavailable');
    assert.equal(errors.length, 1, 'logged once, not on every look');
    assert.equal(errors[0]!['level'], 50);
    assert.equal(errors[0]!['code'], 'ENOENT');
    assert.equal(errors[0]!['file'], t.file);
    writeFileSync(t.file, 'alice@example.com\n');
    t.tick();
    assert.deepEqual(decide(t.policy, alice), []);
    const back = t.lines.filter((l) => l['event'] === 'emails-file.reload');
    assert.equal(back.length, 1);
    assert.equal(back[0]!['was'], 'ENOENT');
  });

  test('an unreadable path (a directory, a symlink loop) denies without throwing', () => {
    const t = setup('turns-dir.txt', 'alice@example.com\n');
    assert.deepEqual(decide(t.policy, alice), []);
    unlinkSync(t.file);
    mkdirSync(t.file);
    t.tick();
    assert.deepEqual(decide(t.policy, alice), ['email-not-allowed', 'emails-file-unavailable']);
    assert.equal(t.lines.find((l) => l['event'] === 'emails-file.unavailable')?.['code'], 'EISDIR');

    // A symlink loop makes stat itself throw (ELOOP), where a missing file only reads as absent.
    const loop = setup('loop.txt', 'alice@example.com\n');
    assert.deepEqual(decide(loop.policy, alice), []);
    unlinkSync(loop.file);
    symlinkSync(loop.file, loop.file);
    loop.tick();
    assert.deepEqual(decide(loop.policy, alice), ['email-not-allowed', 'emails-file-unavailable']);
    loop.tick();
    assert.deepEqual(decide(loop.policy, alice), ['email-not-allowed', 'emails-file-unavailable']);
    const logged = loop.lines.filter((l) => l['event'] === 'emails-file.unavailable');
    assert.deepEqual(
      logged.map((l) => l['code']),
      ['ELOOP'],
    );
  });

  test('missing at start: no throw, denied and logged (the configuration check refuses it first)', () => {
    const cap = capture();
    const f = new EmailsFile(join(dir, 'never.txt'), cap.log);
    assert.equal(f.available, false);
    assert.equal(f.has('alice@example.com'), false);
    assert.equal(cap.lines.filter((l) => l['event'] === 'emails-file.unavailable').length, 1);
    const t = setup('never2.txt', undefined);
    assert.deepEqual(decide(t.policy, alice), ['email-not-allowed', 'emails-file-unavailable']);
  });

  test('other rules of the same block still admit while the file is gone; emails add to it', () => {
    const t = setup('with-domains.txt', 'carol@contractor.example\n', {
      emails: ['dave@elsewhere.example'],
      emailDomains: ['example.com'],
    });
    assert.deepEqual(decide(t.policy, carol), []);
    unlinkSync(t.file);
    t.tick();
    assert.deepEqual(decide(t.policy, alice), []);
    assert.deepEqual(decide(t.policy, session('corp', { email: 'dave@elsewhere.example' })), []);
    assert.deepEqual(decide(t.policy, carol), ['email-domain-not-allowed', 'emails-file-unavailable']);
  });
});

describe('emailsFile watching: off the request path, released on close', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pcl-emails-watch-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const bob = session('corp', { email: 'bob@example.com' });

  async function until(condition: () => boolean, ms = 5_000): Promise<boolean> {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      if (condition()) return true;
      await new Promise((r) => setTimeout(r, 20));
    }
    return condition();
  }

  test('a change is picked up by the directory watcher, with no request and no trigger', async (t) => {
    const file = join(dir, 'watched.txt');
    writeFileSync(file, 'bob@example.com\n');
    const policy = compilePolicy({ ...config({}), allow: { emailsFile: file } } as ResolvedConfig);
    t.after(() => policy.close?.());
    assert.deepEqual(decide(policy, bob), []);
    writeFileSync(file, 'alice@example.com\n');
    assert.ok(await until(() => decide(policy, bob).length > 0), 'the new list applies');
    assert.deepEqual(decide(policy, bob), ['email-not-allowed']);
    // Deleted: fails closed.
    unlinkSync(file);
    assert.ok(await until(() => decide(policy, bob).includes('emails-file-unavailable')));
  });

  test('requests never look at the file: unwatched, a change stays unseen however long it waits', async () => {
    const file = join(dir, 'unwatched.txt');
    writeFileSync(file, 'bob@example.com\n');
    const policy = compilePolicy({ ...config({}), allow: { emailsFile: file } } as ResolvedConfig, {
      watch: false,
    });
    assert.deepEqual(decide(policy, bob), []);
    writeFileSync(file, 'alice@example.com\n');
    // Longer than the once-a-second stat the request path used to make.
    await new Promise((r) => setTimeout(r, 1_100));
    assert.deepEqual(decide(policy, bob), [], 'no stat on the request path');
  });

  test('close() stops the watcher and the fallback timer: later changes are not read', async () => {
    const file = join(dir, 'closed.txt');
    writeFileSync(file, 'bob@example.com\n');
    const f = new EmailsFile(file);
    f.watch(30);
    assert.equal(f.has('bob@example.com'), true);
    f.close();
    writeFileSync(file, 'alice@example.com\n');
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(f.has('bob@example.com'), true, 'neither watcher nor timer looked');
    // Watching again: the deletion is seen (fails closed) without any request.
    const g = new EmailsFile(file);
    g.watch(30);
    try {
      writeFileSync(join(dir, 'unrelated.txt'), 'x');
      unlinkSync(file);
      assert.ok(await until(() => !g.available, 2_000));
    } finally {
      g.close();
    }
  });
});
