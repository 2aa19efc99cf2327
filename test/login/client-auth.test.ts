/**
 * A wrong client secret at the token endpoint: oidc-provider answers 401 with WWW-Authenticate (RFC 6749
 * §5.2) for client_secret_basic; the user sees PCL_CODE_EXCHANGE_FAILED and the log names `invalid_client`
 * — the operator's clue — without the secret.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startStack } from '../support/stack.ts';

for (const authMethod of ['client_secret_basic', 'client_secret_post'] as const) {
  test(`${authMethod}: a wrong client secret is explained as invalid_client in the log`, async () => {
    const wrong = 'wrong-secret-0123456789abcdef';
    const stack = await startStack({ authMethod, provider: { clientSecret: wrong } });
    try {
      const b = stack.browser();
      const login = await b.get(`${stack.url}/oauth2/start?rd=/`);
      const page = await b.signInAtDevIdp(login, 'alice', 'alice').catch((e: Error) => e);
      assert.ok(!(page instanceof Error), String(page));
      assert.equal(page.status, 502);
      assert.match(page.body, /PCL_CODE_EXCHANGE_FAILED/);
      assert.doesNotMatch(page.body, /invalid_client/, 'the operator detail stays in the log');
      const line = stack.logs.find(
        (l) => l['code'] === 'PCL_CODE_EXCHANGE_FAILED' && l['detail'] !== undefined,
      );
      assert.ok(line, 'logged');
      assert.match(String(line['detail']), /invalid_client/);
      assert.doesNotMatch(stack.rawLogs(), new RegExp(wrong));
    } finally {
      await stack.close();
    }
  });
}
