/**
 * The IdP rotates its signing key (OpenID RP certification: rp-key-rotation-op-sign-key). A sign-in whose
 * ID token carries the new kid succeeds even seconds after the old key set was fetched; tokens with
 * made-up kids cost at most one key set fetch per cooldown (src/idp/jwks.ts). The IdP is a real
 * oidc-provider that switches to a new key; its JWKS requests are counted where they arrive.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { CompactSign, compactVerify, decodeProtectedHeader, errors, generateKeyPair } from 'jose';
import { JWKS_REFETCH_COOLDOWN_MS, remoteKeys } from '../../src/idp/jwks.ts';
import { type Stack, startStack } from '../support/stack.ts';

describe('IdP signing key rotation', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(() => stack?.close());

  test('a sign-in right after the IdP rotated its key succeeds (the key set is fetched again)', async () => {
    const kids: string[] = [];
    stack.idp.setTokenResponseHook(async (body) => {
      if (typeof body['id_token'] === 'string')
        kids.push(String(decodeProtectedHeader(body['id_token']).kid));
      return body;
    });
    await stack.signIn('alice', '/api/me');
    assert.equal(stack.idp.jwksRequests, 1, 'the key set fetched once, for the first sign-in');
    const rotated = await stack.idp.rotateSigningKey();
    const started = Date.now();
    const b = await stack.signIn('bob', '/api/me');
    const me = await b.get(`${stack.url}/api/me`);
    assert.equal(me.status, 200);
    assert.deepEqual(kids.slice(-1), [rotated.kid], 'the second ID token is signed with the new key');
    assert.notEqual(kids[0], rotated.kid);
    assert.equal(stack.idp.jwksRequests, 2, 'one more fetch, for the new kid');
    assert.ok(Date.now() - started < JWKS_REFETCH_COOLDOWN_MS + 5_000, 'within a few seconds');
    stack.idp.setTokenResponseHook(undefined);
  });

  test('a flood of tokens with unknown kids: at most one key set fetch per cooldown', async () => {
    const keys = remoteKeys(new URL(`${stack.idp.issuer}/jwks`), { timeoutSeconds: 5 });
    const { privateKey } = await generateKeyPair('RS256');
    const forged = () =>
      new CompactSign(new TextEncoder().encode('{}'))
        .setProtectedHeader({ alg: 'RS256', kid: randomUUID() })
        .sign(privateKey);
    const before = stack.idp.jwksRequests;
    const started = Date.now();
    const results = await Promise.allSettled(
      Array.from({ length: 200 }, async () => compactVerify(await forged(), keys, { algorithms: ['RS256'] })),
    );
    const elapsed = Date.now() - started;
    assert.ok(results.every((r) => r.status === 'rejected' && r.reason instanceof errors.JWKSNoMatchingKey));
    // The first fetch, then (after the cooldown) one refetch for all of them.
    const fetched = stack.idp.jwksRequests - before;
    assert.ok(
      fetched <= 1 + Math.ceil(elapsed / JWKS_REFETCH_COOLDOWN_MS),
      `${fetched} fetches in ${elapsed} ms`,
    );
    assert.ok(fetched <= 2, `${fetched} fetches`);
    // A second wave within the cooldown of that refetch fetches nothing more right away.
    const again = stack.idp.jwksRequests;
    const second = await Promise.allSettled(
      Array.from({ length: 50 }, async () => compactVerify(await forged(), keys, { algorithms: ['RS256'] })),
    );
    assert.ok(second.every((r) => r.status === 'rejected'));
    assert.ok(stack.idp.jwksRequests - again <= 1, 'at most one more, after its own cooldown');
  });
});
