/**
 * GitHub tokens as bearers (`bearer.opaque: userinfo`), against the stub of GitHub's documented API: the
 * check-token API with the app's credentials first, so a token the user gave ANOTHER app — which /user
 * accepts just the same — is refused; then the identity, organisations and teams as at sign-in.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type GatewayHarness, reserveAddress, startHarness } from '../support/gateway.ts';
import { type GithubStub, startGithubStub } from '../support/stubs/github.ts';

const SECRET = 'github-client-secret-0123456789';
let stub: GithubStub;
let h: GatewayHarness;

before(async () => {
  const address = await reserveAddress();
  stub = await startGithubStub({
    clientId: 'Iv1.portcullis',
    clientSecret: SECRET,
    callbackUrl: address.redirectUri,
    users: [
      {
        login: 'octocat',
        password: 'octocat',
        id: 583231,
        name: 'The Octocat',
        email: 'octocat@example.com',
        emails: [{ email: 'octocat@example.com', primary: true, verified: true }],
        orgs: [{ login: 'acme', public: true }],
        teams: [],
      },
      {
        login: 'outsider',
        password: 'outsider',
        id: 1000001,
        name: null,
        email: 'outsider@example.org',
        emails: [{ email: 'outsider@example.org', primary: true, verified: true }],
        orgs: [],
        teams: [],
      },
    ],
  });
  h = await startHarness({
    address,
    providers: [
      {
        id: 'gh',
        type: 'github',
        baseUrl: stub.url,
        clientId: 'Iv1.portcullis',
        clientSecret: SECRET,
        bearer: { opaque: 'userinfo' },
      },
    ],
    config: {
      routes: [{ path: '/api/', api: true, bearer: true, allow: { githubOrgs: ['acme'] } }],
    },
  });
});
after(async () => {
  await h?.close();
  await stub?.close();
});

const call = (t: string) =>
  fetch(`${h.url}/api/x`, { headers: { accept: 'application/json', authorization: `Bearer ${t}` } });

test('a token of this app: checked, then the user as at sign-in (numeric id, login, orgs for the rules)', async () => {
  const r = await call(stub.mintToken('octocat', ['read:user', 'user:email', 'read:org']));
  assert.equal(r.status, 200);
  const h2 = ((await r.json()) as { headers: Record<string, string> }).headers;
  assert.equal(h2['x-forwarded-user'], '583231');
  assert.equal(h2['x-forwarded-preferred-username'], 'octocat');
  assert.equal(h2['x-forwarded-provider'], 'gh');
});

test('a live token of the same user issued to another app: 401 (check-token says 404)', async () => {
  const before = stub.checks;
  const r = await call(stub.mintForeignToken('octocat'));
  assert.equal(r.status, 401);
  assert.match(r.headers.get('www-authenticate') ?? '', /not active/);
  assert.equal(stub.checks, before + 1, 'the check-token API was asked');
});

test('the same rules: a user outside the org is refused with 403 insufficient_scope', async () => {
  const r = await call(stub.mintToken('outsider', ['read:user', 'user:email', 'read:org']));
  assert.equal(r.status, 403);
  assert.match(r.headers.get('www-authenticate') ?? '', /insufficient_scope.*org-missing/);
});
