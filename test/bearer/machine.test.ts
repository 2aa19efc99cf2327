/**
 * A service holding a client_credentials token of Portcullis's own issuer calls a gated API with it: the
 * upstream sees a machine identity (`client:<id>`, X-Forwarded-Client-Id), and `allow.clients` lets clients
 * in by id — machines pass nowhere else, and person rules never admit them.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as oc from 'openid-client';
import { type IssuerStack, rpFor, startIssuerStack, testClients } from '../support/issuer.ts';

let stack: IssuerStack;
let token: string;

before(async () => {
  stack = await startIssuerStack({
    config: (c) => ({
      ...c,
      allow: { emailDomains: ['example.com'] },
      providers: (c['providers'] as Record<string, unknown>[]).map((p) => ({ ...p, bearer: {} })),
      routes: [
        { path: '/svc/', api: true, bearer: ['issuer'], allow: { clients: ['svc'] } },
        { path: '/nobody/', api: true, bearer: ['issuer'] },
        { path: '/people/', api: true, bearer: true },
      ],
      issuer: {
        clients: testClients('http://127.0.0.1:9'),
      },
    }),
  });
  const svc = await rpFor(stack, 'svc');
  token = (await oc.clientCredentialsGrant(svc.config, { scope: 'openid' })).access_token;
});
after(() => stack.close());

const call = (path: string, t: string | undefined, headers: Record<string, string> = {}) =>
  fetch(`${stack.url}${path}`, {
    headers: { accept: 'application/json', ...(t ? { authorization: `Bearer ${t}` } : {}), ...headers },
  });

test('the client’s token reaches a route that lists it, as a machine identity', async () => {
  const r = await call('/svc/x', token, { 'x-forwarded-client-id': 'spoofed', 'x-forwarded-user': 'alice' });
  assert.equal(r.status, 200, JSON.stringify(stack.logs.filter((l) => l['event'] === 'access.denied')));
  const h = ((await r.json()) as { headers: Record<string, string> }).headers;
  assert.equal(h['x-forwarded-user'], 'client:svc');
  assert.equal(h['x-forwarded-client-id'], 'svc');
  assert.equal(h['x-forwarded-provider'], 'issuer');
  assert.equal(h['x-forwarded-email'], undefined);
});

test('a route that does not list the client refuses it (403), though top-level person rules exist', async () => {
  const r = await call('/nobody/x', token);
  assert.equal(r.status, 403);
  assert.match(r.headers.get('www-authenticate') ?? '', /insufficient_scope.*client-not-allowed/);
});

test('a route with bearer: true does not take the issuer’s machine tokens (it names issuer to)', async () => {
  const r = await call('/people/x', token);
  assert.equal(r.status, 401);
  assert.match(r.headers.get('www-authenticate') ?? '', /invalid_token/);
});

test('an unknown or revoked token: 401 invalid_token', async () => {
  const r = await call('/svc/x', 'A'.repeat(43));
  assert.equal(r.status, 401);
  assert.match(r.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
});

test('control: a fresh token of the same client passes too (the lookup is not a one-off)', async () => {
  const svc = await rpFor(stack, 'svc');
  const other = (await oc.clientCredentialsGrant(svc.config, { scope: 'openid' })).access_token;
  assert.equal((await call('/svc/x', other)).status, 200);
});
