/**
 * `public: true` routes forward the identity of a visitor who has a valid session (mod_auth_openidc's
 * OIDCUnAuthAction pass), while the rules admit them; anyone else passes anonymously; spoofed identity
 * headers are stripped there as everywhere.
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
    config: (base) => {
      raw = { ...base, allow: { emails: ['alice@example.com', 'bob@example.com'] } };
      return raw;
    },
  });
  alice = await stack.signIn('alice');
});
after(() => stack?.close());

const SPOOF = {
  'X-Forwarded-User': 'mallory',
  'X-Forwarded_Email': 'm@evil.example',
  'x-auth-request-user': 'm',
};

async function echo(b: Browser | undefined) {
  const headers = { accept: 'application/json', ...SPOOF };
  const r = b
    ? await b.get(`${stack.url}/public/page`, { headers })
    : await stack.browser().get(`${stack.url}/public/page`, { headers });
  assert.equal(r.status, 200);
  return (JSON.parse(r.body) as { headers: Record<string, string | undefined> }).headers;
}

test('a signed-in visitor of a public page is forwarded with their identity', async () => {
  const h = await echo(alice);
  assert.equal(h['x-forwarded-email'], 'alice@example.com');
  assert.equal(h['x-forwarded-user'], stack.idp.users.find((u) => u.username === 'alice')!.sub);
  assert.equal(h['x-auth-request-user'], undefined);
});

test('an anonymous visitor passes without identity, and spoofed identity headers are stripped', async () => {
  const h = await echo(undefined);
  assert.equal(h['x-forwarded-user'], undefined);
  assert.equal(h['x-forwarded-email'], undefined);
  assert.equal(h['x-auth-request-user'], undefined);
});

test('a session the rules no longer admit: the public page still opens, without identity, and no denial', async () => {
  stack.gw.reload(resolveConfig({ ...raw, allow: { emails: ['bob@example.com'] } } as RawConfig));
  const mark = stack.logs.length;
  const h = await echo(alice);
  assert.equal(h['x-forwarded-user'], undefined);
  assert.equal(h['x-forwarded-email'], undefined);
  assert.ok(
    !stack.logs.slice(mark).some((l) => l['event'] === 'access.denied'),
    'a public page refuses no one',
  );
});
