/**
 * The gateway with the issuer and an upstream that is sent assertions: one key poller follows the key set
 * for both, and a staged rotation reaches both — published at /oidc/jwks and /oauth2/jwks at once, signing
 * ID tokens and assertions only from its activation time.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeProtectedHeader, type JSONWebKeySet } from 'jose';
import { keyState } from '../../src/keys/state.ts';
import { KeyStore } from '../../src/keys/store.ts';
import { ACTIVATION_DELAY_SECONDS } from '../../src/keys/timing.ts';
import { assertionSpec } from '../../src/proxy/assertion.ts';
import type { Session } from '../../src/sessions/session.ts';
import { authorizationUrl, authorize, Browser, redeem, rpFor, startIssuerStack } from '../support/issuer.ts';

/** Timers armed from the code that follows the keys (today: src/keys/; before: the issuer and the signer). */
const KEY_FOLLOWERS = /\/src\/(keys\/|issuer\/issuer\.ts|proxy\/assertion\.ts)/;

async function kids(url: string): Promise<string[]> {
  const r = await fetch(url);
  assert.equal(r.status, 200);
  return ((await r.json()) as JSONWebKeySet).keys.map((k) => k.kid!).sort();
}

test('one key poller feeds the issuer and the signer, which both follow a staged rotation', async (t) => {
  const armed: string[] = [];
  const real = { setTimeout: globalThis.setTimeout, setInterval: globalThis.setInterval };
  const spy =
    <F extends (...a: never[]) => unknown>(f: F, name: string) =>
    (...a: Parameters<F>) => {
      const stack = new Error().stack ?? '';
      if (KEY_FOLLOWERS.test(stack.split('\n').slice(2).join('\n'))) armed.push(name);
      return f(...a);
    };
  globalThis.setTimeout = spy(real.setTimeout, 'setTimeout') as unknown as typeof setTimeout;
  globalThis.setInterval = spy(real.setInterval, 'setInterval') as unknown as typeof setInterval;
  let stack: Awaited<ReturnType<typeof startIssuerStack>>;
  try {
    stack = await startIssuerStack({
      config: (base) => ({
        ...base,
        upstreams: (base['upstreams'] as Record<string, unknown>[]).map((u) => ({
          ...u,
          assertion: { audience: 'sample-app' },
        })),
      }),
    });
  } finally {
    Object.assign(globalThis, real);
  }
  t.after(() => stack.close());
  assert.deepEqual(armed, ['setTimeout'], 'one timer follows the keys');

  const gw = stack.gws[0]!;
  const signer = gw.ctx.assertions!;
  const storage = (gw.ctx.issuer as unknown as { storage: import('../../src/storage/storage.ts').Storage })
    .storage;
  const idTokenKid = async () => {
    const rp = await rpFor(stack, 'rp-basic');
    const { url, checks } = await authorizationUrl(rp);
    const tokens = await redeem(rp, await authorize(new Browser(), url), checks);
    return decodeProtectedHeader(tokens.id_token!).kid!;
  };
  const spec = assertionSpec({ url: 'http://app', assertion: { enabled: true, lifetime: 300 } })!;
  const assertionKid = async () => {
    const now = Math.floor(Date.now() / 1000);
    const s: Session = {
      v: 1,
      provider: 'test',
      identity: { sub: 'u', groups: [] },
      createdAt: now,
      expiresAt: now + 600,
    };
    return decodeProtectedHeader(await signer.assertion(s, spec, 'https://gw', now)).kid!;
  };
  const oldRsa = await idTokenKid();
  const oldEc = await assertionKid();

  // A staged rotation that activates two seconds from now (as `keys rotate` stores it, 2 minutes ago).
  const wall = Math.floor(Date.now() / 1000);
  const r = await new KeyStore(storage, gw.ctx.config.cookieKeys).rotate(
    wall + 2 - ACTIVATION_DELAY_SECONDS,
    600,
    { delay: ACTIVATION_DELAY_SECONDS },
  );
  const newRsa = r.added.find((k) => k.alg === 'RS256')!.kid;
  const newEc = r.added.find((k) => k.alg === 'ES256')!.kid;
  assert.equal(keyState(r.added[0]!, wall), 'pending');
  assert.equal(await signer.refresh(), true, 'one look, for both');

  const published = [newRsa, newEc, oldRsa, oldEc].sort();
  assert.deepEqual(await kids(`${stack.url}/oidc/jwks`), published, 'the issuer publishes the pending keys');
  assert.deepEqual(await kids(`${stack.url}/oauth2/jwks`), published, 'and so does /oauth2/jwks');
  assert.equal(await idTokenKid(), oldRsa, 'ID tokens: the old key signs until activation');
  assert.equal(await assertionKid(), oldEc, 'assertions: likewise');

  // The poller's own timer wakes at the activation time: no refresh() from here on.
  const deadline = Date.now() + 6_000;
  while (signer.kid !== newEc && Date.now() < deadline) await new Promise((f) => real.setTimeout(f, 50));
  assert.equal(await assertionKid(), newEc, 'assertions: the new key signs');
  assert.equal(await idTokenKid(), newRsa, 'ID tokens: the new key signs');
  assert.deepEqual(await kids(`${stack.url}/oidc/jwks`), published, 'the old keys keep verifying');
  const switched = stack.logs.filter((l) => l['event'] === 'issuer.keys-reloaded').length;
  assert.equal(switched, 2, 'the issuer was rebuilt on publication and on activation, not on every look');
});
