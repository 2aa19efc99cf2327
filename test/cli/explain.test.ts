/**
 * `portcullis explain`: the flags, the exit codes (0 allowed, 1 denied, 2 usage or configuration error),
 * the human table, and the what-if form with a decisions file. The decisions themselves are held against
 * a running gateway in test/policy/explain-differential.test.ts.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { runExplain } from '../../src/cli/explain.ts';
import { UsageError } from '../../src/cli/options.ts';
import { ConfigError } from '../../src/config/errors.ts';
import type { DecisionRecord } from '../../src/policy/record.ts';

const dir = mkdtempSync(join(tmpdir(), 'pcl-explain-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const BASE = `publicUrl: https://platform.example.com
cookie: { secret: "${'k'.repeat(43)}" }
upstreams: [{ path: /, url: "http://127.0.0.1:8080" }]
allow: { emailDomains: [example.com] }
routes:
  - { path: /public/, public: true }
  - { path: /admin/, allow: { groups: [admins] } }
`;
const CORP =
  '  - { id: corp, type: oidc, issuer: "https://login.example.com", clientId: c, clientSecret: s }\n';
const ONE = file('one.yaml', `${BASE}providers:\n${CORP}`);
const TWO = file('two.yaml', `${BASE}providers:\n${CORP}${CORP.replace('corp', 'partners')}`);

function thrown(args: string[]): Error {
  try {
    runExplain(args);
  } catch (err) {
    return err as Error;
  }
  assert.fail('expected an error');
}

test('the human table: who, target, outcome, each layer and criterion; exit 1 denied, 0 allowed', () => {
  const denied = runExplain([
    '--config',
    ONE,
    '--email',
    'bob@example.com',
    '--groups',
    'eng',
    '--path',
    '/admin/x',
  ]);
  assert.equal(denied.code, 1);
  assert.match(denied.out, /^outcome: DENIED \(group-missing\)$/m);
  assert.match(denied.out, /^ {2}route \/admin\/ +FAILED$/m);
  assert.match(
    denied.out,
    /^ {4}FAILED {2}groups: admins\n {12}group-missing: You need to be in one of these groups: admins\.$/m,
  );
  const allowed = runExplain([
    '--config',
    ONE,
    '--email',
    'al@example.com',
    '--groups',
    'a,admins',
    '--path',
    '/admin/x',
  ]);
  assert.equal(allowed.code, 0);
  assert.match(allowed.out, /^outcome: ALLOWED$/m);
  const open = runExplain(['--config', ONE, '--email', 'x@evil.com', '--path', '/public/x']);
  assert.equal(open.code, 0);
  assert.match(open.out, /note: \/public\/x: public route/);
});

test('usage errors name what is wrong: the provider, the path, the client, the flags', () => {
  const who = ['--email', 'bob@example.com'];
  assert.match(thrown(['--config', TWO, ...who]).message, /--provider is needed, one of: corp, partners/);
  assert.match(
    thrown(['--config', ONE, ...who, '--provider', 'x']).message,
    /no provider "x"; the providers are: corp/,
  );
  assert.match(thrown(['--config', ONE, ...who, '--path', '/a/../admin']).message, /refuses it with 400/);
  assert.match(thrown(['--config', ONE, ...who, '--client', 'hub']).message, /not an issuer client/);
  assert.match(thrown(['--config', ONE, ...who, '--machine', 'svc']).message, /--machine needs an issuer/);
  assert.match(thrown(['--config', ONE, ...who, '--claim', 'nokey']).message, /--claim takes KEY=VALUE/);
  assert.match(thrown(['--config', ONE]).message, /--email/);
  assert.ok(thrown(['--config', ONE, '--bogus']) instanceof UsageError);
  assert.ok(thrown(['--config', file('bad.yaml', 'publicUrl: 3\n'), ...who]) instanceof ConfigError);
});

test('the real command: exit 1 denied with --json on stdout, 2 for a bad configuration, help names it', () => {
  const run = (args: string[]) =>
    spawnSync(process.execPath, ['src/cli/main.ts', ...args], { encoding: 'utf8', timeout: 60_000 });
  const denied = run(['explain', '--config', ONE, '--email', 'x@evil.com', '--json']);
  assert.equal(denied.status, 1, denied.stderr);
  assert.deepEqual(JSON.parse(denied.stdout).reasons, ['email-domain-not-allowed']);
  const bad = run([
    'explain',
    '--config',
    file('bad2.yaml', `${BASE}providers: []\nalow: {}\n`),
    '--email',
    'a@b.c',
  ]);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /alow: unknown key — did you mean "allow"\?/);
  const help = run(['--help']);
  assert.match(help.stdout, /explain \[options\].*\n[\s\S]*exit 0 allowed, 1 denied, 2 usage\/config error/);
});

test('--what-if with --decisions: which recorded decisions turn; a bad paste is a key-named error', () => {
  const record = (email: string, groups: string[], allow: boolean, reasons: string[]): DecisionRecord => ({
    time: 1,
    surface: 'request',
    principal: { provider: 'corp', identity: { sub: email, email, groups } },
    paths: ['/admin/x'],
    allow,
    reasons,
  });
  const decisions = file(
    'decisions.json',
    JSON.stringify([
      record('al@example.com', ['admins'], true, []),
      record('bob@example.com', ['eng'], false, ['group-missing']),
    ]),
  );
  const change = file('change.yaml', 'routes:\n  - { path: /admin/, allow: { groups: [eng] } }\n');
  const r = runExplain(['--config', ONE, '--what-if', change, '--decisions', decisions]);
  assert.equal(r.code, 1);
  assert.match(r.out, /^2 decisions and 0 known principals replayed; 2 would change$/m);
  assert.match(r.out, /al@example\.com +\/admin\/x: allowed -> denied \(group-missing\)/);
  assert.match(r.out, /bob@example\.com +\/admin\/x: denied \(group-missing\) -> allowed/);
  const same = file('same.yaml', 'allow: { emailDomains: [example.com] }\n');
  assert.equal(
    runExplain(['--config', ONE, '--what-if', same, '--decisions', decisions, '--json']).out,
    '[]',
  );
  const bad = file('bad-change.yaml', 'allow: { emailDomain: [example.org] }\n');
  const err = thrown(['--config', ONE, '--what-if', bad, '--decisions', decisions]);
  assert.ok(err instanceof ConfigError);
  assert.match(err.message, /allow\.emailDomain: unknown key — did you mean "emailDomains"\?/);
  const user = runExplain([
    '--config',
    ONE,
    '--what-if',
    change,
    '--email',
    'e@example.com',
    '--groups',
    'eng',
  ]);
  assert.equal(user.code, 1);
  assert.match(user.out, /^ {2}principal e@example\.com +\/admin\/: denied \(group-missing\) -> allowed$/m);
  assert.match(thrown(['--config', ONE, '--what-if', change]).message, /needs --decisions FILE, or a user/);
  assert.match(
    thrown(['--config', ONE, '--what-if', same, '--decisions', file('x.json', '{}')]).message,
    /expected a list of decision records/,
  );
});

test('docs/console.md: the example configuration and command give exactly the output shown', () => {
  const doc = readFileSync('docs/console.md', 'utf8').split('## Explain a decision')[1]!.split('\n## ')[0]!;
  const yaml = /```yaml\n([\s\S]*?)```/.exec(doc)![1]!;
  const shown = /```\n\$ portcullis explain ([^\n]*)\n([\s\S]*?)\n\$ echo \$\?\n(\d)\n```/.exec(doc)!;
  const config = file('console-doc.yaml', yaml);
  const env = { PORTCULLIS_COOKIE_SECRET: 'c'.repeat(43), CORP_CLIENT_SECRET: 's' };
  Object.assign(process.env, env);
  try {
    const args = shown[1]!.split(' ').map((a) => (a === 'portcullis.yaml' ? config : a));
    const r = runExplain(args);
    assert.equal(r.out, shown[2]);
    assert.equal(String(r.code), shown[3]);
  } finally {
    for (const k of Object.keys(env)) delete process.env[k];
  }
});
