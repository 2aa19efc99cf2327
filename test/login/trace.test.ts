/** Sign-in traces (src/login/trace.ts): steps timed, failures kept with their code, start and callback joined by state, bounded. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PortcullisError } from '../../src/errors/codes.ts';
import { noteRules, TraceStore } from '../../src/login/trace.ts';

test('the callback joins its start by state; steps carry durations and the exact failure', async () => {
  let now = 1000;
  const store = new TraceStore(10, () => now);
  const t = store.begin('start-1', 'corp');
  t.note('start', true, 'provider corp');
  store.bindState('state-abc', t);
  now += 40;
  const c = store.callback('cb-1', 'state-abc');
  assert.equal(c, t, 'the same trace');
  assert.equal(store.get('cb-1'), t);
  assert.equal(store.get('start-1'), t);
  const v = await c.time('discovery', async () => {
    now += 5;
    return 7;
  });
  assert.equal(v, 7);
  await assert.rejects(
    c.time('code exchange', async () => {
      now += 12;
      throw new PortcullisError('PCL_CODE_EXCHANGE_FAILED', 'invalid_grant: code expired');
    }),
  );
  assert.equal(c.outcome, 'failed');
  const failed = c.steps.at(-1)!;
  assert.deepEqual(
    { name: failed.name, ok: failed.ok, ms: failed.ms, code: failed.code, detail: failed.detail },
    {
      name: 'code exchange',
      ok: false,
      ms: 12,
      code: 'PCL_CODE_EXCHANGE_FAILED',
      detail: 'invalid_grant: code expired',
    },
  );
  assert.equal(c.steps[1]!.at, 40);
  // The state is used once: a replayed callback starts a trace of its own.
  assert.notEqual(store.callback('cb-2', 'state-abc'), t);
});

test('the store is bounded: the oldest traces go', () => {
  const store = new TraceStore(3);
  for (let i = 0; i < 10; i++) store.begin(`r${i}`, 'p');
  assert.equal(store.get('r0'), undefined);
  assert.ok(store.get('r9'));
  assert.ok(store.recent(100).length <= 6);
  assert.deepEqual(
    store.recent(2).map((t) => t.requestIds[0]),
    ['r9', 'r8'],
  );
});

test('the rules step: allowed, or denied with the reason codes (the trace then says denied)', () => {
  const store = new TraceStore(5);
  const ok = store.begin('a', 'p');
  noteRules(ok, { sub: 's', email: 'alice@example.com' }, undefined);
  assert.deepEqual(ok.steps.at(-1), {
    name: 'access rules',
    at: ok.steps.at(-1)!.at,
    ms: 0,
    ok: true,
    detail: 'alice@example.com: allowed',
    code: undefined,
  });
  assert.equal(ok.outcome, 'in progress');
  const no = store.begin('b', 'p');
  noteRules(no, { sub: 's' }, ['group-missing', 'email-domain-not-allowed']);
  assert.equal(no.steps.at(-1)!.detail, 's: group-missing, email-domain-not-allowed');
  assert.equal(no.steps.at(-1)!.code, 'PCL_FORBIDDEN');
  assert.equal(no.outcome, 'denied');
  noteRules(undefined, { sub: 's' }, undefined); // no trace: nothing to do
});
