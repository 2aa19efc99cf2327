/**
 * `type: keycloak` against the real in-process OpenID provider mounted at a Keycloak-shaped issuer
 * (`/realms/acme`) that issues JWT access tokens carrying `realm_access.roles` and
 * `resource_access.<client>.roles`, as Keycloak's "roles" client scope does by default
 * (https://www.keycloak.org/docs/latest/server_admin/#_protocol-mappers). Realm roles become groups
 * `role:<role>`, client roles `role:<client>:<role>` for the roleClients (default the own client).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, afterEach, before, describe, test } from 'node:test';
import { ConfigError } from '../../src/config/errors.ts';
import { resolveConfig } from '../../src/config/load.ts';
import { type GatewayHarness, reserveAddress, startHarness } from '../support/gateway.ts';
import { type DevUser, startTestIdp, type TestIdp } from '../support/idp.ts';
import { providerContract, signInAtIdp } from './contract.ts';

const SECRET = 'keycloak-client-secret-0123456789';
const ALICE = '6f1c3a52-4b1e-4d8a-9d0e-0a6c1f0f1a01';
const BOB = '6f1c3a52-4b1e-4d8a-9d0e-0a6c1f0f1a02';

interface Roles {
  realm: string[];
  clients: Record<string, string[]>;
}

function initialRoles(): Record<string, Roles> {
  return {
    alice: {
      realm: ['admin', 'offline_access'],
      clients: { portcullis: ['viewer'], grafana: ['editor'], account: ['manage-account'] },
    },
    bob: { realm: ['offline_access'], clients: { account: ['manage-account'] } },
  };
}

/** Keycloak's token shape for roles. */
function roleClaims(r: Roles | undefined): Record<string, unknown> {
  if (r === undefined) return {};
  return {
    realm_access: { roles: [...r.realm] },
    resource_access: Object.fromEntries(
      Object.entries(r.clients).map(([c, roles]) => [c, { roles: [...roles] }]),
    ),
  };
}

function users(): DevUser[] {
  return [
    {
      username: 'alice',
      password: 'alice',
      sub: ALICE,
      email: 'alice@example.com',
      name: 'Alice Admin',
      // Keycloak's "Group Membership" mapper, "Full group path" off.
      groups: ['engineering'],
    },
    { username: 'bob', password: 'bob', sub: BOB, email: 'bob@example.com', name: 'Bob Builder', groups: [] },
  ];
}

/** Starts a Keycloak-shaped realm whose access tokens are JWTs carrying the roles in `roles`. */
function startRealm(redirectUri: string, roles: Record<string, Roles>, clients = ['portcullis']) {
  return startTestIdp({
    issuerPath: '/realms/acme',
    clients: clients.map((id) => ({ client_id: id, client_secret: SECRET, redirect_uris: [redirectUri] })),
    users: users(),
    // Keycloak's default access token lifespan is 5 minutes.
    accessTokenTtlSeconds: 300,
    // Keycloak's access tokens say aud "account"; oidc-provider wants an absolute URI (RFC 8707). The
    // provider reads no audience from access tokens, only iss, the client and the signature.
    jwtAccessTokens: { audience: 'urn:keycloak:account', claims: (u) => roleClaims(roles[u.username]) },
  });
}

providerContract({
  name: 'keycloak (roles in the JWT access token)',
  async start(address) {
    const idp = await startRealm(address.redirectUri, initialRoles());
    assert.match(idp.issuer, /^http:\/\/127\.0\.0\.1:\d+\/realms\/acme$/);
    return {
      provider: {
        type: 'keycloak',
        issuer: idp.issuer,
        clientId: 'portcullis',
        clientSecret: SECRET,
        allow: { groups: ['role:portcullis:viewer'] },
      },
      allowed: {
        login: 'alice',
        identity: {
          user: ALICE,
          email: 'alice@example.com',
          preferredUsername: 'alice',
          name: 'Alice Admin',
          groups: ['engineering', 'role:admin', 'role:offline_access', 'role:portcullis:viewer'],
        },
      },
      denied: {
        login: 'bob',
        reasons: ['group-missing'],
        explains: /You need to be in one of these groups: role:portcullis:viewer/,
      },
      refresh: { afterSeconds: 400 },
      secrets: [SECRET],
      close: () => idp.close(),
    };
  },
});

/** at_hash of an access token signed with RS256 (OIDC Core 3.1.3.6). */
function atHash(accessToken: string): string {
  return createHash('sha256').update(accessToken, 'ascii').digest().subarray(0, 16).toString('base64url');
}

describe('keycloak roles', () => {
  let idp: TestIdp;
  let h: GatewayHarness;
  let roles: Record<string, Roles>;

  before(async () => {
    const address = await reserveAddress();
    roles = initialRoles();
    idp = await startRealm(address.redirectUri, roles);
    const kc = { type: 'keycloak', issuer: idp.issuer, clientId: 'portcullis', clientSecret: SECRET };
    h = await startHarness({
      address,
      providers: [
        { id: 'kc', ...kc },
        { id: 'kc-multi', ...kc, roleClients: ['portcullis', 'grafana'] },
      ],
      config: { routes: [{ path: '/admin/', allow: { groups: ['role:admin'] } }] },
    });
  });
  afterEach(() => {
    idp.setTokenResponseHook(undefined);
    roles.alice = initialRoles().alice!;
  });
  after(async () => {
    await h.close();
    await idp.close();
  });

  async function signIn(providerId: string, login: string, rd = '/api/whoami') {
    const b = h.browser();
    const start = await b.get(`${h.url}/oauth2/start?provider=${providerId}&rd=${encodeURIComponent(rd)}`);
    const back = await signInAtIdp(b, start, { login });
    return { b, back };
  }

  async function groupsOf(providerId: string, login: string): Promise<string[]> {
    const { b, back } = await signIn(providerId, login);
    assert.equal(back.status, 200, back.body.slice(0, 300));
    return (JSON.parse((await b.get(`${h.url}/oauth2/userinfo`)).body) as { groups: string[] }).groups;
  }

  test('the realm issuer and its endpoints under /realms/acme', async () => {
    const r = await h.browser().get(`${h.url}/oauth2/start?provider=kc&rd=/`, { followRedirects: false });
    const u = new URL(r.headers.location!);
    assert.equal(`${u.origin}${u.pathname}`, `${idp.issuer}/auth`);
    assert.equal(u.searchParams.get('scope'), 'openid email profile');
  });

  test('roleClients: the client roles of every listed client, and no others', async () => {
    assert.deepEqual(await groupsOf('kc-multi', 'alice'), [
      'engineering',
      'role:admin',
      'role:offline_access',
      'role:portcullis:viewer',
      'role:grafana:editor',
    ]);
  });

  test('a realm role guards a route', async () => {
    const alice = await signIn('kc', 'alice', '/admin/panel');
    assert.equal(alice.back.status, 200);
    const bob = await signIn('kc', 'bob', '/api/x');
    assert.equal(bob.back.status, 200);
    const r = await bob.b.get(`${h.url}/admin/panel`);
    assert.equal(r.status, 403);
    assert.match(r.body, /You need to be in one of these groups: role:admin/);
    const line = h.logs.findLast((l) => l['event'] === 'access.denied');
    assert.deepEqual(line?.['reasons'], ['group-missing']);
  });

  test('roles granted or taken away at Keycloak show after the next refresh', async () => {
    const { b, back } = await signIn('kc', 'alice', '/admin/panel');
    assert.equal(back.status, 200);
    roles.alice = { realm: ['offline_access'], clients: { portcullis: ['viewer', 'auditor'] } };
    h.advance(400);
    const r = await b.get(`${h.url}/admin/panel`);
    assert.equal(r.status, 403, 'admin was taken away');
    const info = JSON.parse((await b.get(`${h.url}/oauth2/userinfo`)).body) as { groups: string[] };
    assert.deepEqual(info.groups, [
      'engineering',
      'role:offline_access',
      'role:portcullis:viewer',
      'role:portcullis:auditor',
    ]);
  });

  /** Rewrites every access token with `patch` (signed as asked) and keeps the ID token's at_hash true. */
  function rewriteAccessTokens(patch: (c: Record<string, unknown>) => void, key: 'idp' | 'foreign' = 'idp') {
    idp.setTokenResponseHook(async (body) => {
      const at = await idp.resignIdToken(String(body['access_token']), patch, { key });
      const id = await idp.resignIdToken(String(body['id_token']), (c) => {
        c['at_hash'] = atHash(at);
      });
      return { ...body, access_token: at, id_token: id };
    });
  }

  test('control: a re-signed access token with the same claims still gives the roles', async () => {
    rewriteAccessTokens(() => {});
    assert.deepEqual(await groupsOf('kc', 'alice'), [
      'engineering',
      'role:admin',
      'role:offline_access',
      'role:portcullis:viewer',
    ]);
  });

  test('roles in an access token issued to another client are ignored', async () => {
    rewriteAccessTokens((c) => {
      c['client_id'] = 'grafana';
      c['azp'] = 'grafana';
    });
    assert.deepEqual(await groupsOf('kc', 'alice'), ['engineering']);
  });

  test('roles in an access token of another issuer are ignored', async () => {
    rewriteAccessTokens((c) => {
      c['iss'] = 'http://127.0.0.1:1/realms/evil';
    });
    assert.deepEqual(await groupsOf('kc', 'alice'), ['engineering']);
  });

  test('roles in an access token that does not verify against the realm keys are ignored', async () => {
    rewriteAccessTokens(() => {}, 'foreign');
    assert.deepEqual(await groupsOf('kc', 'alice'), ['engineering']);
  });

  test('roles in an expired access token are ignored', async () => {
    rewriteAccessTokens((c) => {
      c['exp'] = Math.floor(Date.now() / 1000) - 120;
    });
    assert.deepEqual(await groupsOf('kc', 'alice'), ['engineering']);
  });
});

describe('keycloak roles in the ID token (mapper "Add to ID token"), opaque access tokens', () => {
  let idp: TestIdp;
  let h: GatewayHarness;

  before(async () => {
    const address = await reserveAddress();
    const roles = initialRoles();
    idp = await startTestIdp({
      issuerPath: '/realms/acme',
      clients: [{ client_id: 'portcullis', client_secret: SECRET, redirect_uris: [address.redirectUri] }],
      users: users().map((u) => ({ ...u, claims: roleClaims(roles[u.username]) })),
      extraClaims: { roles: ['realm_access', 'resource_access'] },
    });
    h = await startHarness({
      address,
      providers: [
        {
          id: 'kc',
          type: 'keycloak',
          issuer: idp.issuer,
          clientId: 'portcullis',
          clientSecret: SECRET,
          scopes: ['openid', 'email', 'profile', 'roles'],
          roleClients: ['account'],
        },
      ],
    });
  });
  after(async () => {
    await h.close();
    await idp.close();
  });

  test('realm roles and the roleClients’ roles come from the ID token', async () => {
    const b = h.browser();
    const back = await signInAtIdp(b, await b.get(`${h.url}/oauth2/start?rd=/api/x`), { login: 'alice' });
    assert.equal(back.status, 200, back.body.slice(0, 300));
    const headers = JSON.parse(back.body).headers as Record<string, string>;
    assert.equal(
      headers['x-forwarded-groups'],
      'engineering,role:admin,role:offline_access,role:account:manage-account',
    );
  });
});

test('configuration: a Keycloak issuer ends with /realms/<realm>', () => {
  const load = (issuer: string) =>
    resolveConfig(
      {
        publicUrl: 'https://p.example.com',
        cookie: { secret: 'x'.repeat(43) },
        providers: [{ id: 'kc', type: 'keycloak', issuer, clientId: 'a', clientSecret: 'b' }],
        upstreams: [{ path: '/', url: 'http://127.0.0.1:1' }],
      },
      {},
    );
  assert.equal(
    load('https://kc.example.com/realms/acme').providers[0]!.issuer,
    'https://kc.example.com/realms/acme',
  );
  assert.equal(load('https://kc.example.com/auth/realms/acme').providers[0]!.type, 'keycloak');
  assert.throws(
    () => load('https://kc.example.com/acme'),
    (err: unknown) =>
      err instanceof ConfigError &&
      err.problems.includes(
        'providers[0].issuer: a Keycloak issuer ends with /realms/<realm> (got https://kc.example.com/acme)',
      ),
  );
});
