/**
 * The decision recorder (src/policy/recorder.ts) and the authorize step's sink: bounded rings, denials kept
 * apart, records without tokens; and the shared denial list in a real Redis (src/console/denials.ts).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { Redis } from 'ioredis';
import { sharedDenials } from '../../src/console/denials.ts';
import { createLogger } from '../../src/observability/log.ts';
import { Metrics } from '../../src/observability/metrics.ts';
import { Authorizer } from '../../src/policy/authorize.ts';
import { type AccessPolicy, ALLOW } from '../../src/policy/decision.ts';
import type { DecisionRecord } from '../../src/policy/record.ts';
import { DecisionRecorder, Ring } from '../../src/policy/recorder.ts';
import type { Session } from '../../src/sessions/session.ts';
import { RedisStorage } from '../../src/storage/redis.ts';

const URL_ = process.env['PORTCULLIS_TEST_REDIS'] ?? 'redis://127.0.0.1:6379/0';

function rec(i: number, allow: boolean): DecisionRecord {
  return {
    time: i,
    surface: 'request',
    requestId: `r${i}`,
    principal: { provider: 'p', identity: { sub: `u${i}`, groups: [] } },
    paths: ['/x'],
    allow,
    reasons: allow ? [] : ['group-missing'],
  };
}

test('a ring keeps the newest `capacity` entries, newest first', () => {
  const r = new Ring<number>(3);
  assert.deepEqual(r.newest(), []);
  for (let i = 1; i <= 5; i++) r.push(i);
  assert.deepEqual(r.newest(), [5, 4, 3]);
  assert.deepEqual(r.newest(2), [5, 4]);
  assert.equal(r.size, 3);
  assert.throws(() => new Ring(0), TypeError);
});

test('the recorder keeps every decision in one ring and denials in their own, each bounded', async () => {
  const r = new DecisionRecorder({ decisions: 4, denials: 2 });
  for (let i = 0; i < 10; i++) r.record(rec(i, i % 3 !== 0));
  assert.deepEqual(
    r.decisions().map((d) => d.time),
    [9, 8, 7, 6],
  );
  // Denials 0, 3, 6, 9: the last two survive, although allowed decisions pushed them out of the other ring.
  assert.deepEqual(
    (await r.denials()).map((d) => d.time),
    [9, 6],
  );
  assert.equal(r.denialsSource, 'memory');
});

const session: Session = {
  v: 1,
  provider: 'test',
  identity: { sub: 'alice', email: 'alice@example.com', groups: ['admins'] },
  createdAt: 1,
  expiresAt: 2,
  accessToken: 'AT-secret-value',
  refreshToken: 'RT-secret-value',
  idToken: 'ID-secret-value',
};

test('a request id given as a function is made only when a record is kept, and the record holds it', () => {
  let made = 0;
  const requestId = () => {
    made++;
    return 'lazy-1';
  };
  const log = createLogger('silent');
  const allowAll: AccessPolicy = { decide: () => ALLOW };
  // Without a sink (no console): an allowed request never makes its id (the gateway's are random UUIDs).
  const plain = new Authorizer(allowAll, log, new Metrics({ defaultMetrics: false }));
  assert.equal(
    plain.authorize({ surface: 'request', principal: session, paths: ['/a'], requestId }).kind,
    'allowed',
  );
  assert.equal(made, 0);
  const recorder = new DecisionRecorder({ decisions: 10, denials: 10 });
  const recorded = new Authorizer(allowAll, log, new Metrics({ defaultMetrics: false }), { sink: recorder });
  recorded.authorize({ surface: 'request', principal: session, paths: ['/a'], requestId });
  assert.equal(made, 1);
  assert.deepEqual(
    recorder.decisions().map((d) => d.requestId),
    ['lazy-1'],
  );
});

test('authorize hands every decision to the sink: the principal without its tokens, the request id', () => {
  const recorder = new DecisionRecorder({ decisions: 10, denials: 10 });
  const deny: AccessPolicy = {
    decide: (_p, path) =>
      path === '/admin/' ? { allow: false, reasons: ['group-missing'], explanations: ['x'] } : ALLOW,
  };
  const log = createLogger('silent');
  const authz = new Authorizer(deny, log, new Metrics({ defaultMetrics: false }), { sink: recorder });
  assert.equal(
    authz.authorize({ surface: 'request', principal: session, paths: ['/a'], requestId: 'q1' }).kind,
    'allowed',
  );
  assert.equal(
    authz.authorize({ surface: 'request', principal: session, paths: ['/admin/'], requestId: 'q2' }).kind,
    'denied',
  );
  assert.equal(
    authz.authorize({ surface: 'request', principal: undefined, paths: ['/a'] }).kind,
    'unauthenticated',
  );
  const all = recorder.decisions();
  assert.deepEqual(
    all.map((d) => [d.requestId, d.allow, d.reasons]),
    [
      ['q2', false, ['group-missing']],
      ['q1', true, []],
    ],
  );
  const text = JSON.stringify(all);
  assert.doesNotMatch(text, /secret-value/, 'no token in a record');
  assert.deepEqual(Object.keys(all[0]!.principal).sort(), ['identity', 'provider']);
});

test('the console surface needs the admin rule on top of the gate rules', () => {
  const log = createLogger('silent');
  const admins: AccessPolicy = {
    decide: (p) =>
      p.identity.groups.includes('admins') ? ALLOW : { allow: false, reasons: ['group-missing'] },
  };
  const allowAll: AccessPolicy = { decide: () => ALLOW };
  const m = new Metrics({ defaultMetrics: false });
  const withRule = new Authorizer(allowAll, log, m, { admin: admins });
  assert.equal(withRule.authorize({ surface: 'console', principal: session }).kind, 'allowed');
  const bob = { ...session, identity: { sub: 'bob', groups: [] } };
  assert.equal(withRule.authorize({ surface: 'console', principal: bob }).kind, 'denied');
  assert.equal(
    withRule.authorize({ surface: 'request', principal: bob }).kind,
    'allowed',
    'other surfaces: gate only',
  );
  const noRule = new Authorizer(allowAll, log, m);
  assert.equal(noRule.authorize({ surface: 'console', principal: session }).kind, 'denied');
});

test('shared denials: a capped Redis list under the storage prefix, read newest first', async () => {
  const prefix = `portcullis-test:${randomBytes(6).toString('hex')}:`;
  const storage = await RedisStorage.connect({ url: URL_, keyPrefix: prefix });
  const raw = new Redis(URL_);
  try {
    const shared = sharedDenials(storage, 3);
    assert.ok(shared);
    const a = new DecisionRecorder({ decisions: 5, denials: 3, shared });
    const b = new DecisionRecorder({ decisions: 5, denials: 3, shared: sharedDenials(storage, 3) });
    a.record(rec(1, false));
    b.record(rec(2, false));
    a.record(rec(3, true));
    a.record(rec(4, false));
    b.record(rec(5, false));
    // Writes are fire-and-forget: wait until they landed.
    for (let i = 0; i < 50 && (await raw.llen(`${prefix}console:denials`)) < 3; i++)
      await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(await raw.llen(`${prefix}console:denials`), 3, 'trimmed to the cap');
    assert.deepEqual(
      (await a.denials()).map((d) => d.time),
      [5, 4, 2],
      'every instance sees every denial',
    );
    assert.equal(a.denialsSource, 'redis');
    assert.equal(sharedDenials(undefined, 3), undefined, 'cookie sessions: memory');
  } finally {
    await raw.del(`${prefix}console:denials`);
    await raw.quit();
    await storage.close();
  }
});
