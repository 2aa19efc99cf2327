/**
 * explain (src/policy/explain.ts): the layers of a decision, each criterion held, failed or skipped with
 * its reasons, and an outcome that is `authorize`'s for the same input — checked over every combination
 * of a set of principals and targets against the real Authorizer.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { type ResolvedConfig, resolveConfig } from '../../src/config/load.ts';
import { createLogger } from '../../src/observability/log.ts';
import { Metrics } from '../../src/observability/metrics.ts';
import { Authorizer } from '../../src/policy/authorize.ts';
import { compilePolicy } from '../../src/policy/compile.ts';
import type { Principal } from '../../src/policy/decision.ts';
import { explain } from '../../src/policy/explain.ts';
import type { Identity } from '../../src/sessions/session.ts';

const CORP = {
  id: 'corp',
  type: 'oidc',
  issuer: 'https://idp.example.com',
  clientId: 'c',
  clientSecret: 's',
};
const GH = { id: 'gh', type: 'github', clientId: 'g', clientSecret: 's', orgs: ['acme'] };

function config(extra: Record<string, unknown> = {}): ResolvedConfig {
  return resolveConfig({
    publicUrl: 'http://127.0.0.1:4180',
    cookie: { secret: 'k'.repeat(43) },
    upstreams: [{ path: '/', url: 'http://127.0.0.1:9' }],
    providers: [{ ...CORP, allow: { requirements: { dept: ['eng', 'ops'] } } }, GH],
    allow: { emailDomains: ['example.com'] },
    routes: [
      { path: '/public/', public: true },
      { path: '/admin/', allow: { groups: ['admins'] } },
      { path: '/svc/', bearer: ['issuer'], allow: { clients: ['svc'] } },
    ],
    issuer: { clients: [{ id: 'svc', secret: 's'.repeat(43), clientCredentials: true, scopes: ['openid'] }] },
    storage: { type: 'memory' },
    ...extra,
  });
}

const who = (provider: string, identity: Partial<Identity>): Principal => ({
  provider,
  identity: { sub: 'u', groups: [], ...identity },
});

const BOB = who('corp', { email: 'bob@example.com', groups: ['eng'], claims: { dept: 'eng' } });

describe('layers', () => {
  test('a route denial: both steps, every layer, the failed criterion with its reason and words', () => {
    const e = explain(config(), BOB, { paths: ['/admin/x'] });
    assert.equal(e.allow, false);
    assert.deepEqual(e.reasons, ['group-missing']);
    assert.deepEqual(
      e.steps.map((s) => [s.path, s.allow]),
      [
        [undefined, true],
        ['/admin/x', false],
      ],
    );
    const last = e.steps[1]!;
    assert.deepEqual(
      last.layers.map((l) => [l.layer, l.route, l.held]),
      [
        ['allow', undefined, true],
        ['provider', undefined, true],
        ['route', '/admin/', false],
      ],
    );
    assert.deepEqual(last.layers[0]!.criteria, [
      {
        label: 'emailDomains: example.com',
        outcome: 'held',
        why: 'example.com is an allowed domain',
        reasons: [],
        explanations: [],
      },
    ]);
    assert.equal(last.layers[1]!.criteria[0]!.label, 'requirements: dept = eng | ops');
    assert.equal(last.layers[1]!.criteria[0]!.why, 'dept is eng');
    assert.deepEqual(last.layers[2]!.criteria[0], {
      label: 'groups: admins',
      outcome: 'failed',
      why: 'You need to be in one of these groups: admins.',
      reasons: ['group-missing'],
      explanations: ['You need to be in one of these groups: admins.'],
    });
  });

  test('a top-level denial stops before the paths, and says they were not decided', () => {
    const e = explain(config(), who('corp', { email: 'x@evil.com', claims: { dept: 'ops' } }), {
      paths: ['/admin/x'],
    });
    assert.deepEqual(e.reasons, ['email-domain-not-allowed']);
    assert.equal(e.steps.length, 1);
    assert.deepEqual(e.notes, ['/admin/x: not decided, an earlier step refused']);
  });

  test('a provider restriction (github orgs) is its own criterion of the provider layer', () => {
    const e = explain(config(), who('gh', { email: 'a@example.com', orgs: ['other'] }), {});
    assert.deepEqual(e.reasons, ['org-missing']);
    const provider = e.steps[0]!.layers[1]!;
    assert.equal(provider.held, false);
    assert.equal(provider.criteria[0]!.label, 'github provider: orgs acme');
  });

  test('a machine: person rules skipped, allow.clients decides; unlisted elsewhere', () => {
    const svc = who('issuer', { sub: 'client:svc', client: 'svc' });
    const ok = explain(config(), svc, { paths: ['/svc/x'] });
    assert.equal(ok.allow, true);
    assert.equal(ok.steps[1]!.layers[0]!.criteria[0]!.outcome, 'skipped');
    assert.equal(ok.steps[1]!.layers[0]!.criteria[0]!.why, 'person rules do not apply to services');
    assert.equal(ok.steps[1]!.layers[2]!.criteria[0]!.outcome, 'held');
    assert.equal(ok.steps[1]!.layers[2]!.criteria[0]!.why, 'the service svc is listed');
    const no = explain(config(), svc, { paths: ['/admin/x'] });
    assert.deepEqual(no.reasons, ['client-not-allowed']);
    assert.match(no.notes.join('\n'), /allow\.clients/);
    assert.match(no.notes[0]!, /route \/admin\/ takes no issuer tokens .*401/);
    assert.equal(ok.notes.length, 0);
  });

  test('a public route is not decided for a request, but is for forward-auth', () => {
    const evil = who('corp', { email: 'x@evil.com' });
    const r = explain(config(), evil, { paths: ['/public/x'] });
    assert.equal(r.allow, true);
    assert.equal(r.steps.length, 0);
    assert.match(r.notes[0]!, /public route \/public\//);
    const fa = explain(config(), evil, { paths: ['/public/x'], surface: 'forward-auth' });
    assert.equal(fa.allow, false);
  });

  test('no rules at all, and an unknown provider, are said in a note', () => {
    const none = explain(config({ allow: undefined, providers: [CORP], routes: [] }), BOB, { paths: ['/x'] });
    assert.equal(none.allow, true);
    assert.match(none.notes[0]!, /no access rules/);
    const gone = explain(config(), who('old', { email: 'a@example.com' }), {});
    assert.deepEqual(gone.reasons, ['provider-unknown']);
    assert.match(gone.notes[0]!, /"old" is not configured/);
  });
});

test('a traced decision is made afresh and leaves the cache as it was: the untraced answer is the same object', () => {
  const policy = compilePolicy(config(), { watch: false });
  const cached = policy.decide(BOB, '/admin/x');
  const seen: string[] = [];
  const traced = policy.decide(BOB, '/admin/x', {
    layer: (l, route) => seen.push(route === undefined ? l : `${l} ${route}`),
    criterion: (c, f) =>
      seen.push(`${c.label}: ${f === undefined ? 'skipped' : f.length === 0 ? 'held' : 'failed'}`),
  });
  assert.deepEqual(seen, [
    'allow',
    'emailDomains: example.com: held',
    'provider',
    'requirements: dept = eng | ops: held',
    'route /admin/',
    'groups: admins: failed',
  ]);
  assert.deepEqual(traced, cached);
  assert.equal(policy.decide(BOB, '/admin/x'), cached);
  policy.close?.();
});

test('for every principal and target, explain answers what Authorizer.authorize does', () => {
  const c = config();
  const sink = new Writable({ write: (_c, _e, cb) => cb() });
  const authz = new Authorizer(
    compilePolicy(c, { watch: false }),
    createLogger('error', sink),
    new Metrics({ defaultMetrics: false }),
  );
  const principals = [
    BOB,
    who('corp', { email: 'al@example.com', groups: ['admins'], claims: { dept: 'ops' } }),
    who('corp', { email: 'al@example.com', groups: ['admins'] }),
    who('corp', { emailVerified: false, unverifiedEmail: 'u@example.com', claims: { dept: 'eng' } }),
    who('corp', { email: 'a@evil.com@example.com', claims: { dept: 'eng' } }),
    who('gh', { email: 'g@example.com', orgs: ['acme'], groups: ['admins'] }),
    who('gh', { email: 'g@example.com' }),
    who('issuer', { sub: 'client:svc', client: 'svc' }),
    who('issuer', { sub: 'client:other', client: 'other' }),
    who('nope', { email: 'a@example.com' }),
  ];
  const targets = [[], ['/'], ['/admin/x'], ['/svc/x'], ['/x', '/admin/x'], ['/admin/x', '/svc/x']];
  let compared = 0;
  for (const p of principals) {
    for (const paths of targets) {
      const e = explain(c, p, { paths, surface: 'forward-auth' });
      const o = authz.authorize({ surface: 'forward-auth', principal: p, paths });
      assert.equal(e.allow, o.kind === 'allowed', `${p.identity.sub} ${paths}`);
      const reasons = o.kind === 'denied' ? o.decision.reasons : [];
      assert.deepEqual(e.reasons, reasons, `${p.identity.email} ${paths}`);
      compared++;
    }
  }
  assert.equal(compared, 60);
  authz.close();
});
