/**
 * GitHub against a stub of its documented OAuth and REST API (test/support/stubs/github.ts): the contract,
 * then GitHub's own differences — orgs/teams/users restrictions, the private e-mail from /user/emails,
 * pagination of teams, errors answered with HTTP 200, scopes, and Enterprise Server URLs.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { resolveConfig } from '../../src/config/load.ts';
import { githubApiUrl } from '../../src/idp/github.ts';
import { type GatewayHarness, reserveAddress, startHarness } from '../support/gateway.ts';
import { type GithubStub, type GithubUser, startGithubStub } from '../support/stubs/github.ts';
import { providerContract, signInAtIdp } from './contract.ts';

const SECRET = 'github-client-secret-0123456789';

function users(): GithubUser[] {
  return [
    {
      login: 'octocat',
      password: 'octocat',
      id: 583231,
      name: 'The Octocat',
      email: null, // private: the address comes from /user/emails
      emails: [
        { email: 'octo-old@example.com', primary: false, verified: true },
        { email: 'octocat@example.com', primary: true, verified: true },
      ],
      orgs: [
        { login: 'Acme', public: false },
        { login: 'other', public: true },
      ],
      teams: [
        ['Acme', 'Platform'],
        ['other', 'docs'],
      ],
    },
    {
      login: 'outsider',
      password: 'outsider',
      id: 1000001,
      name: null,
      email: 'outsider@example.org',
      emails: [{ email: 'outsider@example.org', primary: true, verified: true }],
      orgs: [{ login: 'other', public: true }],
      teams: [],
    },
    {
      login: 'many-teams',
      password: 'many-teams',
      id: 1000002,
      name: 'Many Teams',
      email: 'many@example.com',
      emails: [{ email: 'many@example.com', primary: true, verified: false }],
      orgs: [{ login: 'acme', public: true }],
      // More than one page of 100: the provider must follow the Link header.
      teams: Array.from({ length: 130 }, (_, i): [string, string] => ['acme', `team-${i}`]),
    },
    {
      login: 'guest',
      password: 'guest',
      id: 1000003,
      name: 'Guest',
      email: null,
      emails: [],
      orgs: [],
      teams: [],
    },
  ];
}

providerContract({
  name: 'github (OAuth app, expiring tokens)',
  async start(address) {
    const stub = await startGithubStub({
      clientId: 'Iv1.portcullis',
      clientSecret: SECRET,
      callbackUrl: address.redirectUri,
      users: users(),
      expiringTokens: true,
    });
    return {
      provider: {
        type: 'github',
        baseUrl: stub.url,
        clientId: 'Iv1.portcullis',
        clientSecret: SECRET,
        orgs: ['acme'],
      },
      allowed: {
        login: 'octocat',
        identity: {
          user: '583231',
          email: 'octocat@example.com',
          preferredUsername: 'octocat',
          name: 'The Octocat',
          groups: ['acme/platform', 'other/docs'],
        },
      },
      denied: { login: 'outsider', reasons: ['org-missing'], explains: /GitHub organisations: acme/ },
      refresh: { afterSeconds: 9 * 3600 },
      secrets: [SECRET],
      close: () => stub.close(),
    };
  },
});

providerContract({
  name: 'github (OAuth app, tokens that do not expire)',
  async start(address) {
    const stub = await startGithubStub({
      clientId: 'Iv1.portcullis',
      clientSecret: SECRET,
      callbackUrl: address.redirectUri,
      users: users(),
    });
    return {
      provider: {
        type: 'github',
        baseUrl: stub.url,
        clientId: 'Iv1.portcullis',
        clientSecret: SECRET,
        teams: ['acme/platform'],
      },
      allowed: {
        login: 'octocat',
        identity: {
          user: '583231',
          email: 'octocat@example.com',
          preferredUsername: 'octocat',
          name: 'The Octocat',
          groups: ['acme/platform', 'other/docs'],
        },
      },
      denied: { login: 'outsider', reasons: ['team-missing'], explains: /GitHub teams: acme\/platform/ },
      refresh: false,
      secrets: [SECRET],
      close: () => stub.close(),
    };
  },
});

describe('github specifics', () => {
  let stub: GithubStub;
  let h: GatewayHarness;
  before(async () => {
    const address = await reserveAddress();
    stub = await startGithubStub({
      clientId: 'Iv1.portcullis',
      clientSecret: SECRET,
      callbackUrl: address.redirectUri,
      users: users(),
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
          orgs: ['acme'],
          users: ['guest'],
        },
      ],
      config: { routes: [{ path: '/ops/', allow: { githubTeams: ['acme/team-129'] } }] },
    });
  });
  after(async () => {
    await h.close();
    await stub.close();
  });

  async function signIn(login: string, rd = '/api/me') {
    const b = h.browser();
    const back = await signInAtIdp(
      b,
      await b.get(`${h.url}/oauth2/start?provider=gh&rd=${encodeURIComponent(rd)}`),
      { login },
    );
    return { b, back };
  }

  test('the authorization request: PKCE S256, state, and read:org because orgs are restricted', async () => {
    const b = h.browser();
    const r = await b.get(`${h.url}/oauth2/start?provider=gh&rd=/`, { followRedirects: false });
    const u = new URL(r.headers.location!);
    assert.equal(u.origin + u.pathname, `${stub.url}/login/oauth/authorize`);
    assert.equal(u.searchParams.get('client_id'), 'Iv1.portcullis');
    assert.equal(u.searchParams.get('redirect_uri'), `${h.url}/oauth2/callback`);
    assert.equal(u.searchParams.get('code_challenge_method'), 'S256');
    assert.ok(u.searchParams.get('state'));
    assert.equal(u.searchParams.get('nonce'), null, 'no nonce: GitHub is not OpenID Connect');
    assert.deepEqual(u.searchParams.get('scope')?.split(' '), ['read:user', 'user:email', 'read:org']);
  });

  test('teams beyond the first page are seen (Link rel="next" is followed)', async () => {
    const { b, back } = await signIn('many-teams', '/ops/x');
    assert.equal(back.status, 200, back.body.slice(0, 300));
    const echo = JSON.parse(
      (await b.get(`${h.url}/ops/x`, { headers: { accept: 'application/json' } })).body,
    );
    assert.equal(echo.headers['x-forwarded-groups'].split(',').length, 130);
  });

  test('an unverified primary e-mail is not sent upstream', async () => {
    const { back } = await signIn('many-teams');
    const headers = JSON.parse(back.body).headers as Record<string, string>;
    assert.equal(headers['x-forwarded-user'], '1000002');
    assert.equal(headers['x-forwarded-email'], undefined);
  });

  test('a listed user passes without the organisation; route rules still apply', async () => {
    const { b, back } = await signIn('guest', '/api/me');
    assert.equal(back.status, 200, back.body.slice(0, 300));
    const ops = await b.get(`${h.url}/ops/x`);
    assert.equal(ops.status, 403);
    assert.match(ops.body, /GitHub teams: acme\/team-129/);
    const line = h.logs.findLast((l) => l['event'] === 'access.denied');
    assert.deepEqual(line?.['reasons'], ['team-missing']);
    assert.equal(line?.['path'], '/ops/x');
  });

  test('GitHub’s HTTP 200 token errors are reported as the OAuth error they are', async () => {
    const b = h.browser();
    const start = await b.get(`${h.url}/oauth2/start?provider=gh&rd=/`, { followRedirects: false });
    const state = new URL(start.headers.location!).searchParams.get('state');
    const r = await b.get(`${h.url}/oauth2/callback?code=not-a-code&state=${state}`);
    assert.equal(r.status, 502);
    assert.match(r.body, /PCL_CODE_EXCHANGE_FAILED/);
    const line = h.logs.findLast((l) => l['code'] === 'PCL_CODE_EXCHANGE_FAILED');
    assert.match(String(line?.['detail']), /bad_verification_code/);
  });

  test('cancelling at GitHub shows the IdP error', async () => {
    const b = h.browser();
    const start = await b.get(`${h.url}/oauth2/start?provider=gh&rd=/`);
    const r = await b.submitForm(start.body, start.url, { formId: 'abort' });
    assert.equal(r.status, 400);
    assert.match(r.body, /PCL_IDP_ERROR/);
    assert.match(r.body, /access_denied/);
  });
});

test('API URL: api.github.com for github.com, /api/v3 for Enterprise Server, or as configured', () => {
  const cfg = (p: Record<string, unknown>) =>
    resolveConfig(
      {
        publicUrl: 'https://p.example.com',
        cookie: { secret: 'x'.repeat(43) },
        providers: [{ id: 'gh', type: 'github', clientId: 'a', clientSecret: 'b', ...p }],
        upstreams: [{ path: '/', url: 'http://127.0.0.1:1' }],
      },
      {},
    ).providers[0] as Parameters<typeof githubApiUrl>[0];
  assert.equal(githubApiUrl(cfg({})), 'https://api.github.com');
  assert.equal(
    githubApiUrl(cfg({ baseUrl: 'https://github.example.com/' })),
    'https://github.example.com/api/v3',
  );
  assert.equal(
    githubApiUrl(cfg({ baseUrl: 'https://github.example.com', apiUrl: 'https://api.example.com/' })),
    'https://api.example.com',
  );
  assert.deepEqual(cfg({}).scopes, ['read:user', 'user:email']);
  assert.equal(cfg({}).authMethod, 'client_secret_post');
});

describe('github memberships read for rules outside the provider', () => {
  let stub: GithubStub;
  let h: GatewayHarness;
  before(async () => {
    const address = await reserveAddress();
    stub = await startGithubStub({
      clientId: 'Iv1.portcullis',
      clientSecret: SECRET,
      callbackUrl: address.redirectUri,
      users: users(),
    });
    // No orgs or teams on the provider: only a route's rule reads GitHub teams.
    h = await startHarness({
      address,
      providers: [
        { id: 'gh', type: 'github', baseUrl: stub.url, clientId: 'Iv1.portcullis', clientSecret: SECRET },
      ],
      config: { routes: [{ path: '/ops/', allow: { githubTeams: ['acme/platform'] } }] },
    });
  });
  after(async () => {
    await h.close();
    await stub.close();
  });

  test('read:org is asked for, so sign-in works and the route rule sees private teams', async () => {
    const b = h.browser();
    const start = await b.get(`${h.url}/oauth2/start?provider=gh&rd=/ops/x`);
    assert.deepEqual(stub.lastAuthorization?.get('scope')?.split(' '), [
      'read:user',
      'user:email',
      'read:org',
    ]);
    const back = await signInAtIdp(b, start, { login: 'octocat' });
    assert.equal(back.status, 200, back.body.slice(0, 300));
    assert.equal(back.url, `${h.url}/ops/x`);
    const outsider = h.browser();
    const denied = await signInAtIdp(
      outsider,
      await outsider.get(`${h.url}/oauth2/start?provider=gh&rd=/ops/x`),
      {
        login: 'outsider',
      },
    );
    assert.equal(denied.status, 403);
    assert.match(denied.body, /GitHub teams: acme\/platform/);
  });
});
