/**
 * The time limit of session-store operations (src/sessions/store-ops.ts): one timer for all of them, an
 * operation failing as PCL_SESSION_STORE_UNAVAILABLE after at most the limit (2 s by default), never a
 * late or unhandled rejection, and no timer left when nothing is pending.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PortcullisError } from '../../src/errors/codes.ts';
import { isStoreUnavailable, STORE_TIMEOUT_MS, StoreOps } from '../../src/sessions/store-ops.ts';

const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

test('a hanging operation fails after between 7/8 of the limit and the limit, as a 503', async () => {
  assert.equal(STORE_TIMEOUT_MS, 2_000);
  const errors: string[] = [];
  const ops = new StoreOps('redis', 400, (op) => errors.push(op));
  const start = performance.now();
  const outcomes = await Promise.allSettled(
    Array.from({ length: 50 }, (_, i) => ops.run(i % 2 ? 'read' : 'write', () => new Promise(() => {}))),
  );
  const took = performance.now() - start;
  assert.ok(took >= 350 && took < 400 + 150, `failed after ${Math.round(took)} ms`);
  for (const o of outcomes) {
    assert.equal(o.status, 'rejected');
    const err = (o as PromiseRejectedResult).reason as unknown;
    assert.ok(isStoreUnavailable(err) && err instanceof PortcullisError && err.status === 503);
    assert.match(
      err.message,
      /^PCL_SESSION_STORE_UNAVAILABLE: session store redis: (read|write) failed: no answer within 400 ms$/,
    );
  }
  assert.equal(errors.length, 50, 'each counted once');
});

test('answers and failures pass through; a late answer of an abandoned operation is dropped, once', async () => {
  const errors: unknown[] = [];
  const ops = new StoreOps('storage', 100, (_op, err) => errors.push(err));
  assert.equal(await ops.run('read', async () => 42), 42);
  await assert.rejects(
    ops.run('delete', async () => {
      throw new Error('ECONNREFUSED');
    }),
    /session store storage: delete failed: ECONNREFUSED/,
  );
  await assert.rejects(
    ops.run('lock', () => {
      throw new Error('thrown before any promise');
    }),
    /lock failed: thrown before any promise/,
  );
  let late: (err: Error) => void = () => {};
  const unhandled: unknown[] = [];
  const onUnhandled = (err: unknown) => unhandled.push(err);
  process.on('unhandledRejection', onUnhandled);
  try {
    await assert.rejects(
      ops.run('read', () => new Promise((_, reject) => (late = reject))),
      /no answer within 100 ms/,
    );
    late(new Error('too late'));
    await new Promise((r) => setTimeout(r, 20));
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
  assert.deepEqual(unhandled, []);
  assert.equal(errors.length, 3, 'the late failure is not counted again');
});

test('one timer while operations are pending, none once they are done', async () => {
  const before = timers();
  const ops = new StoreOps('redis', 200, () => {});
  let release: () => void = () => {};
  const pending = Array.from({ length: 100 }, () =>
    ops.run('read', () => new Promise<void>((r) => (release = r))),
  );
  assert.equal(timers(), before + 1, 'one timer for a hundred operations');
  release();
  await pending.at(-1);
  // The others hang: they fail by the deadline; then the timer goes.
  await Promise.allSettled(pending);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(timers(), before);
});
