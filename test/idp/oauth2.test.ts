/**
 * `type: oauth2` (bring your own) against a plain OAuth2 server stub whose profile is nested
 * (test/support/stubs/oauth2.ts): the contract with each token endpoint authentication method, then the
 * userInfoMapping (dot paths, groups as a string or a list, missing fields, a numeric id), the client
 * authentication the server actually receives, PKCE, state, scopes, refresh, the RFC 9207 `iss`
 * parameter, and a profile API that fails.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type GatewayHarness, reserveAddress, startHarness } from '../support/gateway.ts';
import {
  type OAuth2Stub,
  type OAuth2StubClient,
  type OAuth2StubUser,
  startOAuth2Stub,
} from '../support/stubs/oauth2.ts';
import { providerContract, signInAtIdp } from './contract.ts';

const SECRET = 'oauth2-client-secret-0123456789';

/** Profiles shaped like a JSON:API-ish SSO: everything under data, the person under attributes. */
function users(): OAuth2StubUser[] {
  return [
    {
      login: 'ada',
      password: 'ada',
      profile: {
        data: {
          uid: 4711, // a number: X-Forwarded-User is "4711"
          attributes: {
            mail: 'ada@example.com',
            display_name: 'Ada Lovelace',
            given: 'Ada',
            family: 'Lovelace',
            login: 'ada.l',
          },
          memberships: { teams: ['ops', 'analysts'] },
        },
      },
    },
    {
      login: 'grace',
      password: 'grace',
      profile: {
        data: {
          uid: 'u-grace',
          // No display name: the name is made of the given and family names.
          attributes: { mail: 'grace@example.com', given: 'Grace', family: 'Hopper', login: 'grace' },
          memberships: { teams: 'ops' }, // one group, as a string
        },
      },
    },
    {
      login: 'mallory',
      password: 'mallory',
      profile: {
        data: {
          uid: 'u-mallory',
          attributes: { mail: 'mallory@example.org', display_name: 'Mallory', login: 'mallory' },
          memberships: { teams: 'guests' },
        },
      },
    },
    // Only an id: every other field is missing (and attributes itself is not an object).
    { login: 'sparse', password: 'sparse', profile: { data: { uid: 'u-sparse', attributes: 'n/a' } } },
    // No id at the mapped path.
    {
      login: 'anonymous',
      password: 'anonymous',
      profile: { data: { attributes: { mail: 'a@example.com' } } },
    },
    // A Spinnaker-style profile (Gate's userInfoMapping): no sub, no id.
    {
      login: 'spin',
      password: 'spin',
      profile: {
        mail: 'spin@example.com',
        given: 'Spin',
        family: 'Naker',
        user: 'spinnaker',
        memberOf: ['ops'],
      },
    },
    // The same, without a username: the e-mail address is what is left.
    { login: 'spin-mail', password: 'spin-mail', profile: { mail: 'only-mail@example.com' } },
    // A flat profile for the default mapping (sub, else id; email; name).
    {
      login: 'flat',
      password: 'flat',
      profile: { id: 42, email: 'flat@example.com', name: 'Flat Profile', groups: ['ops', 7, ''] },
    },
  ];
}

const MAPPING = {
  id: 'data.uid',
  email: 'data.attributes.mail',
  name: 'data.attributes.display_name',
  firstName: 'data.attributes.given',
  lastName: 'data.attributes.family',
  username: 'data.attributes.login',
  groups: 'data.memberships.teams',
};

function client(id: string, authMethod: OAuth2StubClient['authMethod'], redirectUri: string) {
  return {
    clientId: id,
    ...(authMethod === 'none' ? {} : { clientSecret: SECRET }),
    authMethod,
    redirectUris: [redirectUri],
  };
}

for (const method of ['client_secret_basic', 'client_secret_post'] as const) {
  const refresh = method === 'client_secret_basic';
  providerContract({
    name: `oauth2 (${method}, nested profile, ${refresh ? 'refresh tokens' : 'no refresh tokens'})`,
    async start(address) {
      const stub = await startOAuth2Stub({
        clients: [client('portcullis', method, address.redirectUri)],
        users: users(),
        refreshTokens: refresh,
        ...(refresh ? { expiresIn: 3600 } : {}),
      });
      return {
        provider: {
          type: 'oauth2',
          authorizationUrl: stub.authorizeUrl,
          tokenUrl: stub.tokenUrl,
          userInfoUrl: stub.userInfoUrl,
          clientId: 'portcullis',
          clientSecret: SECRET,
          // client_secret_basic is the default with a secret (RFC 6749 §2.3.1: servers must support it).
          ...(method === 'client_secret_post' ? { tokenEndpointAuthMethod: method } : {}),
          scopes: ['profile:read'],
          userInfoMapping: MAPPING,
          allow: { groups: ['ops'] },
        },
        allowed: {
          login: 'ada',
          identity: {
            user: '4711',
            email: 'ada@example.com',
            preferredUsername: 'ada.l',
            name: 'Ada Lovelace',
            groups: ['ops', 'analysts'],
          },
        },
        denied: { login: 'mallory', reasons: ['group-missing'], explains: /one of these groups: ops/ },
        refresh: refresh ? { afterSeconds: 3700 } : false,
        secrets: [SECRET],
        close: () => stub.close(),
      };
    },
  });
}

describe('oauth2 specifics', () => {
  let stub: OAuth2Stub;
  let h: GatewayHarness;
  before(async () => {
    const address = await reserveAddress();
    stub = await startOAuth2Stub({
      clients: [
        client('basic-client', 'client_secret_basic', address.redirectUri),
        client('post-client', 'client_secret_post', address.redirectUri),
        client('public-client', 'none', address.redirectUri),
      ],
      users: users(),
      refreshTokens: true,
      expiresIn: 600,
    });
    const endpoints = {
      type: 'oauth2',
      authorizationUrl: stub.authorizeUrl,
      tokenUrl: stub.tokenUrl,
      userInfoUrl: stub.userInfoUrl,
    };
    h = await startHarness({
      address,
      providers: [
        {
          id: 'basic',
          ...endpoints,
          clientId: 'basic-client',
          clientSecret: SECRET,
          scopes: ['profile:read', 'groups'],
          userInfoMapping: MAPPING,
        },
        {
          id: 'post',
          ...endpoints,
          clientId: 'post-client',
          clientSecret: SECRET,
          tokenEndpointAuthMethod: 'client_secret_post',
          userInfoMapping: MAPPING,
        },
        { id: 'public', ...endpoints, clientId: 'public-client', userInfoMapping: MAPPING },
        // The server expects the secret in the body; this entry sends it in a Basic header.
        {
          id: 'wrong-method',
          ...endpoints,
          clientId: 'post-client',
          clientSecret: SECRET,
          userInfoMapping: MAPPING,
        },
        // No userInfoMapping: the defaults (id from sub or id, email, name).
        { id: 'flat', ...endpoints, clientId: 'basic-client', clientSecret: SECRET },
        // A Spinnaker Gate `userInfoMapping` block, pasted as is.
        {
          id: 'spin',
          ...endpoints,
          clientId: 'basic-client',
          clientSecret: SECRET,
          userInfoMapping: {
            email: 'mail',
            firstName: 'given',
            lastName: 'family',
            username: 'user',
            roles: 'memberOf',
          },
        },
      ],
    });
  });
  after(async () => {
    await h?.close();
    await stub?.close();
  });

  async function signIn(provider: string, login: string) {
    const b = h.browser();
    const start = await b.get(`${h.url}/oauth2/start?provider=${provider}&rd=/api/me`);
    const back = await signInAtIdp(b, start, { login });
    return { b, back };
  }

  async function userinfo(provider: string, login: string): Promise<Record<string, unknown>> {
    const { b, back } = await signIn(provider, login);
    assert.equal(back.status, 200, `${back.status} at ${back.url}: ${back.body.slice(0, 400)}`);
    return JSON.parse((await b.get(`${h.url}/oauth2/userinfo`)).body) as Record<string, unknown>;
  }

  describe('userInfoMapping', () => {
    test('dot paths for every field; a numeric id becomes its decimal string', async () => {
      const info = await userinfo('basic', 'ada');
      assert.equal(info['user'], '4711');
      assert.equal(info['email'], 'ada@example.com');
      assert.equal(info['name'], 'Ada Lovelace', 'name wins over firstName + lastName');
      assert.equal(info['preferredUsername'], 'ada.l');
      assert.deepEqual(info['groups'], ['ops', 'analysts']);
    });

    test('groups as one string; the name made of firstName and lastName when name is absent', async () => {
      const info = await userinfo('basic', 'grace');
      assert.equal(info['user'], 'u-grace');
      assert.deepEqual(info['groups'], ['ops']);
      assert.equal(info['name'], 'Grace Hopper');
    });

    test('missing fields (and a path through a non-object) are simply absent', async () => {
      const { b, back } = await signIn('basic', 'sparse');
      assert.equal(back.status, 200, back.body.slice(0, 300));
      const headers = (JSON.parse(back.body) as { headers: Record<string, string | undefined> }).headers;
      assert.equal(headers['x-forwarded-user'], 'u-sparse');
      assert.equal(headers['x-forwarded-email'], undefined);
      assert.equal(headers['x-forwarded-preferred-username'], undefined);
      assert.equal(headers['x-forwarded-groups'], undefined);
      const info = JSON.parse((await b.get(`${h.url}/oauth2/userinfo`)).body) as Record<string, unknown>;
      assert.equal(info['email'], undefined);
      assert.equal(info['name'], undefined);
      assert.deepEqual(info['groups'], []);
    });

    test('no id at the mapped path: a clear error page, no session', async () => {
      const { b, back } = await signIn('basic', 'anonymous');
      assert.equal(back.status, 502);
      assert.match(back.body, /PCL_USERINFO_FAILED/);
      assert.match(back.body, /Your profile could not be loaded/);
      assert.equal(b.jar.get('portcullis', h.url), undefined);
      const line = h.logs.findLast((l) => l['code'] === 'PCL_USERINFO_FAILED');
      assert.match(String(line?.['detail']), /no user id \(data\.uid\)/);
    });

    test('a Spinnaker mapping: firstName + lastName make the name, roles are the groups, the username is the id', async () => {
      const info = await userinfo('spin', 'spin');
      assert.equal(info['user'], 'spinnaker', 'no sub, no id: the mapped username');
      assert.equal(info['name'], 'Spin Naker');
      assert.deepEqual(info['groups'], ['ops']);
      assert.equal(info['email'], 'spin@example.com');
      const mail = await userinfo('spin', 'spin-mail');
      assert.equal(mail['user'], 'only-mail@example.com', 'no username either: the e-mail address');
    });

    test('the default mapping reads sub or id, email and name, and no groups', async () => {
      const info = await userinfo('flat', 'flat');
      assert.equal(info['user'], '42');
      assert.equal(info['email'], 'flat@example.com');
      assert.equal(info['name'], 'Flat Profile');
      assert.equal(info['preferredUsername'], undefined);
      // No groups mapping by default: a `groups` field in the profile is not read.
      assert.deepEqual(info['groups'], []);
      const nested = await signIn('flat', 'ada');
      assert.equal(nested.back.status, 502, 'the nested profile has no sub or id at the top');
      assert.match(
        String(h.logs.findLast((l) => l['code'] === 'PCL_USERINFO_FAILED')?.['detail']),
        /sub or id/,
      );
    });
  });

  describe('token endpoint authentication', () => {
    test('client_secret_basic: the secret in an HTTP Basic header, never in the body', async () => {
      const n = stub.tokenRequests.length;
      await userinfo('basic', 'ada');
      const seen = stub.tokenRequests.slice(n);
      assert.equal(seen.length, 1);
      assert.equal(seen[0]?.auth, 'client_secret_basic');
      assert.equal(seen[0]?.secretInBody, false);
      assert.equal(seen[0]?.outcome, 'ok');
    });

    test('client_secret_post: the secret in the form body', async () => {
      const n = stub.tokenRequests.length;
      await userinfo('post', 'ada');
      const seen = stub.tokenRequests.slice(n);
      assert.deepEqual(
        seen.map((r) => [r.auth, r.secretInBody, r.outcome]),
        [['client_secret_post', true, 'ok']],
      );
    });

    test('none (public client): client_id only, PKCE proves the caller', async () => {
      const n = stub.tokenRequests.length;
      await userinfo('public', 'ada');
      const seen = stub.tokenRequests.slice(n);
      assert.deepEqual(
        seen.map((r) => [r.auth, r.clientId, r.pkce, r.outcome]),
        [['none', 'public-client', 'matched', 'ok']],
      );
    });

    test('the method the server does not accept: invalid_client, explained in the log', async () => {
      const n = stub.tokenRequests.length;
      const { b, back } = await signIn('wrong-method', 'ada');
      assert.equal(back.status, 502);
      assert.match(back.body, /PCL_CODE_EXCHANGE_FAILED/);
      assert.equal(b.jar.get('portcullis', h.url), undefined);
      assert.equal(stub.tokenRequests[n]?.auth, 'client_secret_basic');
      assert.equal(stub.tokenRequests[n]?.outcome, 'invalid_client');
      const line = h.logs.findLast((l) => l['code'] === 'PCL_CODE_EXCHANGE_FAILED');
      assert.match(String(line?.['detail']), /invalid_client/);
      assert.ok(!h.rawLogs().includes(SECRET));
    });
  });

  test('the authorization request: code, PKCE S256, state, redirect_uri, the configured scopes', async () => {
    const b = h.browser();
    const r = await b.get(`${h.url}/oauth2/start?provider=basic&rd=/`, { followRedirects: false });
    assert.equal(r.status, 302);
    const u = new URL(r.headers.location!);
    assert.equal(u.origin + u.pathname, stub.authorizeUrl);
    const p = u.searchParams;
    assert.equal(p.get('response_type'), 'code');
    assert.equal(p.get('client_id'), 'basic-client');
    assert.equal(p.get('redirect_uri'), `${h.url}/oauth2/callback`);
    assert.equal(p.get('code_challenge_method'), 'S256');
    assert.match(p.get('code_challenge') ?? '', /^[\w-]{43}$/);
    assert.match(p.get('state') ?? '', /^[\w-]{20,}$/);
    assert.equal(p.get('scope'), 'profile:read groups');
    assert.equal(p.get('nonce'), null, 'plain OAuth2: no nonce');
    // Each sign-in has its own state and challenge.
    const again = new URL(
      (await b.get(`${h.url}/oauth2/start?provider=basic&rd=/`, { followRedirects: false })).headers
        .location!,
    ).searchParams;
    assert.notEqual(again.get('state'), p.get('state'));
    assert.notEqual(again.get('code_challenge'), p.get('code_challenge'));
  });

  test('no scopes configured: no scope parameter', async () => {
    const b = h.browser();
    const r = await b.get(`${h.url}/oauth2/start?provider=post&rd=/`, { followRedirects: false });
    assert.equal(new URL(r.headers.location!).searchParams.get('scope'), null);
  });

  test('PKCE: the verifier sent to the token endpoint matches the challenge', async () => {
    const n = stub.tokenRequests.length;
    await userinfo('basic', 'grace');
    assert.equal(stub.tokenRequests[n]?.pkce, 'matched');
  });

  test('state: a callback whose state is not this browser’s flow is refused before any token request', async () => {
    const b = h.browser();
    const start = await b.get(`${h.url}/oauth2/start?provider=basic&rd=/`);
    await b.submitForm(start.body, start.url, {
      formId: 'login',
      values: { username: 'ada', password: 'ada' },
    });
    const flow = b.jar.all().find((c) => c.name.startsWith('portcullis_f_'));
    assert.equal(flow, undefined, 'the flow cookie is spent by the sign-in');
    // A second flow, whose callback is replayed with another state value.
    const b2 = h.browser();
    const r = await b2.get(`${h.url}/oauth2/start?provider=basic&rd=/`, { followRedirects: false });
    const state = new URL(r.headers.location!).searchParams.get('state')!;
    const n = stub.tokenRequests.length;
    const forged = await b2.get(`${h.url}/oauth2/callback?code=whatever&state=${state.slice(0, -2)}xx`);
    assert.equal(forged.status, 400);
    assert.match(forged.body, /PCL_STATE_UNKNOWN/);
    assert.equal(stub.tokenRequests.length, n, 'no code exchange without a matching flow');
  });

  test('refresh: a new access token through the configured client authentication; the profile re-read', async () => {
    const { b } = await signIn('post', 'ada');
    const n = stub.tokenRequests.length;
    const calls = stub.userInfoCalls.length;
    h.advance(700);
    try {
      const r = await b.get(`${h.url}/api/later`, { headers: { accept: 'application/json' } });
      assert.equal(r.status, 200, r.body.slice(0, 300));
      assert.deepEqual(
        stub.tokenRequests.slice(n).map((t) => [t.grantType, t.auth, t.outcome]),
        [['refresh_token', 'client_secret_post', 'ok']],
      );
      assert.equal(stub.userInfoCalls.length, calls + 1, 'the profile is read with the new token');
      assert.equal(stub.userInfoCalls.at(-1)?.scheme, 'Bearer');
    } finally {
      h.advance(-700);
    }
  });

  describe('a failing profile API', () => {
    after(() => {
      stub.userInfoFailure = undefined;
    });
    for (const [what, failure, detail] of [
      ['HTTP 500', { status: 500 }, /user info: HTTP 500/],
      ['HTTP 403', { status: 403 }, /user info: HTTP 403/],
      ['not JSON', { status: 200, body: 'html' }, /user info: the answer is not JSON/],
    ] as const) {
      test(`${what}: the sign-in ends on a clear error page, no session`, async () => {
        stub.userInfoFailure = failure;
        const { b, back } = await signIn('basic', 'ada');
        assert.equal(back.status, 502);
        assert.match(back.body, /Your profile could not be loaded/);
        assert.match(back.body, /PCL_USERINFO_FAILED/);
        assert.match(back.body, /Try again/);
        assert.match(back.body, /request id <code>[0-9a-f-]{36}<\/code>/);
        assert.equal(b.jar.get('portcullis', h.url), undefined);
        const line = h.logs.findLast((l) => l['code'] === 'PCL_USERINFO_FAILED');
        assert.match(String(line?.['detail']), detail);
        assert.equal(line?.['requestId'], back.headers['x-request-id']);
      });
    }
  });
});

describe('oauth2 and the RFC 9207 iss parameter', () => {
  let stub: OAuth2Stub;
  let h: GatewayHarness;
  const ISSUER = 'https://sso.example.com/tenant-1';
  before(async () => {
    const address = await reserveAddress();
    stub = await startOAuth2Stub({
      clients: [client('c', 'client_secret_basic', address.redirectUri)],
      users: users(),
      issParameter: ISSUER,
    });
    const common = {
      type: 'oauth2',
      authorizationUrl: stub.authorizeUrl,
      tokenUrl: stub.tokenUrl,
      userInfoUrl: stub.userInfoUrl,
      clientId: 'c',
      clientSecret: SECRET,
      userInfoMapping: MAPPING,
    };
    h = await startHarness({
      address,
      providers: [
        { id: 'configured', ...common, issuer: ISSUER },
        { id: 'default', ...common },
      ],
    });
  });
  after(async () => {
    await h?.close();
    await stub?.close();
  });

  test('with issuer set to what the server sends, the sign-in succeeds', async () => {
    const b = h.browser();
    const back = await signInAtIdp(b, await b.get(`${h.url}/oauth2/start?provider=configured&rd=/api/x`), {
      login: 'ada',
    });
    assert.equal(back.status, 200, back.body.slice(0, 300));
  });

  test('an iss that is not the configured issuer is refused before the code is redeemed', async () => {
    const n = stub.tokenRequests.length;
    const b = h.browser();
    const back = await signInAtIdp(b, await b.get(`${h.url}/oauth2/start?provider=default&rd=/`), {
      login: 'ada',
    });
    assert.equal(back.status, 400);
    assert.match(back.body, /PCL_ISSUER_MISMATCH/);
    assert.equal(stub.tokenRequests.length, n, 'the code never reached the token endpoint');
    const line = h.logs.findLast((l) => l['code'] === 'PCL_ISSUER_MISMATCH');
    assert.match(String(line?.['detail']), /iss/);
  });
});

describe('oauth2 against a server that also sends ID tokens', () => {
  let stub: OAuth2Stub;
  let h: GatewayHarness;
  before(async () => {
    const address = await reserveAddress();
    stub = await startOAuth2Stub({
      clients: [client('c', 'client_secret_basic', address.redirectUri)],
      users: users(),
      idTokens: true,
    });
    h = await startHarness({
      address,
      providers: [
        {
          id: 'sso',
          type: 'oauth2',
          authorizationUrl: stub.authorizeUrl,
          tokenUrl: stub.tokenUrl,
          userInfoUrl: stub.userInfoUrl,
          clientId: 'c',
          clientSecret: SECRET,
          scopes: ['openid', 'profile'],
          userInfoMapping: MAPPING,
        },
      ],
    });
  });
  after(async () => {
    await h?.close();
    await stub?.close();
  });

  test('the id_token is ignored (no keys to check it with): the identity comes from the profile', async () => {
    const b = h.browser();
    const back = await signInAtIdp(b, await b.get(`${h.url}/oauth2/start?provider=sso&rd=/api/x`), {
      login: 'ada',
    });
    assert.equal(back.status, 200, back.body.slice(0, 300));
    const headers = (JSON.parse(back.body) as { headers: Record<string, string> }).headers;
    assert.equal(headers['x-forwarded-user'], '4711');
  });
});
