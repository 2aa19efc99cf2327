/**
 * A reload (SIGHUP, or a changed file) swaps the context; requests that started on the old one finish on
 * it. One that is still on its way to the forward step when the reload lands — here, waiting for the IdP
 * to answer its token refresh — must still reach the upstream: the old upstream pools stay open for it.
 * (`npm run chaos` saw three 502s at a SIGHUP before the old pools were retired instead of closed at once.)
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { resolveConfig } from '../../src/config/load.ts';
import type { RawConfig } from '../../src/config/schema.ts';
import type { Browser } from '../support/browser.ts';
import { type Stack, startStack } from '../support/stack.ts';

let stack: Stack;
let raw: Record<string, unknown>;
let alice: Browser;

before(async () => {
  stack = await startStack({
    accessTokenTtlSeconds: 60,
    config: (base) => {
      raw = base;
      return base;
    },
  });
  alice = await stack.signIn('alice');
});
after(() => stack?.close());

test('a request in flight across a reload reaches the upstream (the old pools are retired, not closed)', async () => {
  const first = await alice.get(`${stack.url}/api/before`, { headers: { accept: 'application/json' } });
  assert.equal(first.status, 200, 'control: the session works');
  // The access token has expired: the next request refreshes it, and the IdP holds its answer.
  stack.advance(120);
  const hold = stack.idp.holdTokenResponses();
  try {
    const pending = alice.get(`${stack.url}/api/during`, { headers: { accept: 'application/json' } });
    await hold.held;
    stack.gw.reload(resolveConfig(raw as RawConfig));
    hold.release();
    const r = await pending;
    assert.equal(r.status, 200, `the request that straddled the reload: ${r.status} ${r.body.slice(0, 200)}`);
    assert.equal((JSON.parse(r.body) as { path: string }).path, '/api/during');
  } finally {
    hold.release();
  }
  // And the new context serves as before.
  const next = await alice.get(`${stack.url}/api/after`, { headers: { accept: 'application/json' } });
  assert.equal(next.status, 200);
});
