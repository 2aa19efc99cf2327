/** The PKCE S256 challenge made with node:crypto equals openid-client's (and RFC 7636 Appendix B's). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as oidc from 'openid-client';
import { codeChallenge } from '../../src/login/pkce.ts';

test('RFC 7636 Appendix B', () => {
  assert.equal(
    codeChallenge('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk'),
    'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
  );
});

test('the same as openid-client’s calculatePKCECodeChallenge, for random verifiers', async () => {
  for (let i = 0; i < 50; i++) {
    const v = oidc.randomPKCECodeVerifier();
    assert.equal(codeChallenge(v), await oidc.calculatePKCECodeChallenge(v));
  }
});
