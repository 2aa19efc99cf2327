/**
 * The refresh de-duplication of src/idp/provider.ts: racing requests share one refresh, and a settled
 * result is reused only while its access token is still valid (an IdP that keeps the refresh token and
 * issues 5-second access tokens must not have an expired token sent upstream).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RefreshDeduper, type RefreshResult } from '../../src/idp/provider.ts';

function counting(now: () => number, lifetime: number | undefined) {
  let calls = 0;
  return {
    calls: () => calls,
    fn: async (): Promise<RefreshResult> => {
      calls++;
      await new Promise((r) => setTimeout(r, 5));
      return {
        accessToken: `at-${calls}`,
        accessTokenExpiresAt: lifetime === undefined ? undefined : now() + lifetime,
        refreshToken: 'rt',
        idToken: undefined,
      };
    },
  };
}

test('racing calls with one refresh token share one request', async () => {
  let t = 1000;
  const d = new RefreshDeduper(() => t);
  const c = counting(() => t, 300);
  const [a, b] = await Promise.all([d.run('rt', c.fn), d.run('rt', c.fn)]);
  assert.equal(c.calls(), 1);
  assert.equal(a.accessToken, b.accessToken);
  t += 3;
  assert.equal((await d.run('rt', c.fn)).accessToken, 'at-1', 'still valid: reused');
  assert.equal(c.calls(), 1);
});

test('a settled result whose access token has expired is not handed out again', async () => {
  let t = 1000;
  const d = new RefreshDeduper(() => t);
  const c = counting(() => t, 5);
  assert.equal((await d.run('rt', c.fn)).accessToken, 'at-1');
  t += 6; // within the 10-second reuse window, past the 5-second access token
  const again = await d.run('rt', c.fn);
  assert.equal(c.calls(), 2, 'refreshed again');
  assert.equal(again.accessToken, 'at-2');
  assert.ok(again.accessTokenExpiresAt! > t);
});

test('a failed refresh is not kept for the next caller', async () => {
  const d = new RefreshDeduper(() => 0);
  await assert.rejects(d.run('rt', () => Promise.reject(new Error('invalid_grant'))));
  const ok = await d.run('rt', async () => ({
    accessToken: 'at',
    accessTokenExpiresAt: undefined,
    refreshToken: undefined,
    idToken: undefined,
  }));
  assert.equal(ok.accessToken, 'at');
});
