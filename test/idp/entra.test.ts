/**
 * Microsoft Entra ID against a stub of its documented v2 endpoints and of Microsoft Graph
 * (test/support/stubs/entra.ts): the contract for a single-tenant app (groups claim) and for a
 * multi-tenant app (`organizations`, `allowedTenants`, group overage resolved through Graph page by page),
 * then Entra's own differences — the `{tenantid}` issuer template and tokens whose `iss` and `tid`
 * disagree, the e-mail address against nOAuth (`xms_edov`, `upn`), Graph failures and foreign
 * `@odata.nextLink`s, a tenant given by domain name, and an unknown tenant.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { before, describe, test } from 'node:test';
import { parseForms } from '../support/browser.ts';
import { closeAfter } from '../support/cleanup.ts';
import { type GatewayHarness, reserveAddress, startHarness } from '../support/gateway.ts';
import {
  type EntraApp,
  type EntraStub,
  type EntraTenant,
  pairwiseSub,
  startEntraStub,
} from '../support/stubs/entra.ts';
import { providerContract, signInAtIdp } from './contract.ts';

const CLIENT_ID = '6731de76-14a6-49ae-97bc-6eba6914391e';
const SECRET = 'entra-client-secret~0123456789abcdefghij';
const CONTOSO = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const FABRIKAM = 'b5a3c1d2-7e4f-4c1e-9f00-3c2d1e0f9a88';
const STRANGER = 'c0ffee00-1234-4abc-8def-0123456789ab';
const G_ENG = '0e8a1f4c-54f5-4c2a-8f4b-1a2b3c4d5e01';
const G_ALL = '0e8a1f4c-54f5-4c2a-8f4b-1a2b3c4d5e02';
const G_OTHER = '0e8a1f4c-54f5-4c2a-8f4b-1a2b3c4d5e03';
const ROLE = '62e90394-69f5-4237-9190-012177145e10';
/** Seven groups: over the stub's lowered claim limit (5), three Graph pages of 3. */
const MANY = Array.from({ length: 7 }, (_, i) => `9b7d0c1e-0000-4000-8000-00000000000${i}`);

function tenants(): EntraTenant[] {
  return [
    {
      id: CONTOSO,
      domains: ['contoso.onmicrosoft.com', 'contoso.com'],
      users: [
        {
          login: 'adele',
          oid: '2f1e0d3c-aaaa-4bbb-8ccc-000000000001',
          upn: 'adele@contoso.com',
          mail: 'adele@contoso.com',
          name: 'Adele Vance',
          groups: [G_ENG, G_ALL],
        },
        {
          login: 'dora',
          oid: '2f1e0d3c-aaaa-4bbb-8ccc-000000000002',
          upn: 'dora@contoso.com',
          mail: 'dora@contoso.com',
          name: 'Dora Other',
          groups: [G_OTHER],
        },
        {
          login: 'many',
          oid: '2f1e0d3c-aaaa-4bbb-8ccc-000000000003',
          upn: 'many@contoso.com',
          mail: 'many@contoso.com',
          name: 'Many Groups',
          groups: MANY,
          roles: [ROLE],
        },
        {
          // An address at a domain Contoso has not verified, typed in by its administrator.
          login: 'ext',
          oid: '2f1e0d3c-aaaa-4bbb-8ccc-000000000005',
          upn: 'ext@contoso.onmicrosoft.com',
          mail: 'ext@partner.example',
          name: 'Ext Ernal',
          groups: [],
        },
        {
          login: 'nomail',
          oid: '2f1e0d3c-aaaa-4bbb-8ccc-000000000004',
          upn: 'nomail@contoso.com',
          name: 'No Mailbox',
          groups: [G_ENG],
        },
      ],
    },
    {
      id: FABRIKAM,
      domains: ['fabrikam.onmicrosoft.com', 'fabrikam.com'],
      users: [
        {
          login: 'bert',
          oid: '7a6b5c4d-bbbb-4ccc-8ddd-000000000001',
          upn: 'bert@fabrikam.com',
          mail: 'bert@fabrikam.com',
          name: 'Bert Fabrikam',
          groups: [G_OTHER],
        },
        {
          // nOAuth: Fabrikam's administrator typed a Contoso address into Mallory's mail attribute.
          login: 'mallory',
          oid: '7a6b5c4d-bbbb-4ccc-8ddd-000000000002',
          upn: 'mallory@fabrikam.com',
          mail: 'adele@contoso.com',
          name: 'Mallory',
          groups: [G_ENG],
        },
      ],
    },
    {
      id: STRANGER,
      domains: ['stranger.onmicrosoft.com'],
      users: [
        {
          login: 'stan',
          oid: '0d0d0d0d-cccc-4ddd-8eee-000000000001',
          upn: 'stan@stranger.onmicrosoft.com',
          mail: 'stan@stranger.onmicrosoft.com',
          name: 'Stan Stranger',
          groups: MANY,
        },
      ],
    },
  ];
}

function app(redirectUri: string, o: Partial<EntraApp> = {}): EntraApp {
  return {
    clientId: CLIENT_ID,
    clientSecret: SECRET,
    homeTenant: CONTOSO,
    multiTenant: false,
    redirectUris: [redirectUri],
    groupsClaim: true,
    optionalClaims: ['email'],
    ...o,
  };
}

const sub = (oid: string) => pairwiseSub(oid, CLIENT_ID);

providerContract({
  name: 'entra (single tenant, groups claim)',
  async start(address) {
    const stub = await startEntraStub({ tenants: tenants(), app: app(address.redirectUri) });
    return {
      provider: {
        type: 'entra',
        authority: stub.url,
        graphUrl: stub.graphUrl,
        tenant: CONTOSO,
        clientId: CLIENT_ID,
        clientSecret: SECRET,
        allow: { groups: [G_ENG] },
      },
      allowed: {
        login: 'adele',
        identity: {
          user: sub('2f1e0d3c-aaaa-4bbb-8ccc-000000000001'),
          email: 'adele@contoso.com',
          preferredUsername: 'adele@contoso.com',
          name: 'Adele Vance',
          groups: [G_ENG, G_ALL],
        },
      },
      denied: { login: 'dora', reasons: ['group-missing'], explains: /one of these groups/ },
      refresh: { afterSeconds: 3600 },
      secrets: [SECRET],
      close: () => stub.close(),
    };
  },
});

providerContract({
  name: 'entra (multi-tenant organizations, allowedTenants, group overage through Graph)',
  async start(address) {
    const stub = await startEntraStub({
      tenants: tenants(),
      app: app(address.redirectUri, { multiTenant: true, optionalClaims: ['email', 'xms_edov'] }),
      groupsClaimLimit: 5,
    });
    stub.graphPageSize = 3;
    return {
      provider: {
        type: 'entra',
        authority: stub.url,
        graphUrl: stub.graphUrl,
        tenant: 'organizations',
        allowedTenants: [CONTOSO.toUpperCase()],
        clientId: CLIENT_ID,
        clientSecret: SECRET,
      },
      allowed: {
        login: 'many',
        identity: {
          user: sub('2f1e0d3c-aaaa-4bbb-8ccc-000000000003'),
          email: 'many@contoso.com',
          preferredUsername: 'many@contoso.com',
          name: 'Many Groups',
          // From Graph (three pages), groups only: the directory role is left out.
          groups: MANY,
        },
      },
      denied: {
        login: 'bert',
        reasons: ['tenant-not-allowed'],
        explains: /Microsoft Entra directory are not allowed here/,
      },
      refresh: { afterSeconds: 3600 },
      secrets: [SECRET],
      close: () => stub.close(),
    };
  },
});

describe('entra multi-tenant specifics', () => {
  let stub: EntraStub;
  let h: GatewayHarness;
  const parts = closeAfter();
  before(async () => {
    const address = await reserveAddress();
    stub = parts.add(
      await startEntraStub({
        tenants: tenants(),
        app: app(address.redirectUri, { multiTenant: true, optionalClaims: ['email', 'xms_edov', 'upn'] }),
        groupsClaimLimit: 5,
      }),
    );
    stub.graphPageSize = 3;
    const entra = {
      type: 'entra',
      authority: stub.url,
      graphUrl: stub.graphUrl,
      tenant: 'organizations',
      allowedTenants: [CONTOSO, FABRIKAM],
      clientId: CLIENT_ID,
      clientSecret: SECRET,
    };
    h = parts.add(
      await startHarness({
        address,
        providers: [
          { id: 'entra', ...entra },
          { id: 'entra-nogroups', ...entra, groupOverage: false },
        ],
        config: {
          routes: [
            { path: '/public/', public: true },
            { path: '/api/', api: true },
            { path: '/adele/', allow: { emails: ['adele@contoso.com'] } },
          ],
        },
      }),
    );
  });

  async function signIn(login: string, provider = 'entra', rd = '/api/me') {
    const b = h.browser();
    const start = await b.get(`${h.url}/oauth2/start?provider=${provider}&rd=${encodeURIComponent(rd)}`);
    const back = await signInAtIdp(b, start, { login });
    return { b, back };
  }

  const forwarded = (body: string) => (JSON.parse(body) as { headers: Record<string, string> }).headers;

  test('the authorization request: organizations endpoints, scopes with offline_access, PKCE, nonce', async () => {
    const b = h.browser();
    const r = await b.get(`${h.url}/oauth2/start?provider=entra&rd=/`, { followRedirects: false });
    const u = new URL(r.headers.location!);
    assert.equal(u.origin + u.pathname, `${stub.url}/organizations/oauth2/v2.0/authorize`);
    assert.equal(u.searchParams.get('client_id'), CLIENT_ID);
    assert.equal(u.searchParams.get('redirect_uri'), `${h.url}/oauth2/callback`);
    assert.deepEqual(u.searchParams.get('scope')?.split(' '), [
      'openid',
      'profile',
      'email',
      'offline_access',
    ]);
    assert.equal(u.searchParams.get('code_challenge_method'), 'S256');
    assert.ok(u.searchParams.get('nonce'));
  });

  test('users of each allowed tenant sign in; each token is checked against its own tenant’s issuer', async () => {
    const a = await signIn('adele');
    assert.equal(a.back.status, 200, a.back.body.slice(0, 300));
    const b = await signIn('bert');
    assert.equal(b.back.status, 200, b.back.body.slice(0, 300));
    assert.equal(forwarded(b.back.body)['x-forwarded-email'], 'bert@fabrikam.com');
    assert.equal(stub.lastClientAuth, 'client_secret_basic');
  });

  test('a directory not in allowedTenants is refused, and no Graph call is made on its user’s behalf', async () => {
    const calls = stub.graphCalls.length;
    const { b, back } = await signIn('stan', 'entra', '/');
    assert.equal(back.status, 403);
    assert.match(back.body, /Microsoft Entra directory are not allowed here/);
    const denied = h.logs.findLast((l) => l['event'] === 'sign-in.denied');
    assert.deepEqual(denied?.['reasons'], ['tenant-not-allowed']);
    assert.equal(stub.graphCalls.length, calls, 'Graph was not called for a refused tenant');
    assert.equal(b.jar.get('portcullis', h.url), undefined);
  });

  test('nOAuth: an e-mail address the user’s directory does not own (xms_edov false) is dropped', async () => {
    const { b, back } = await signIn('mallory', 'entra', '/adele/');
    assert.equal(back.status, 403, back.body.slice(0, 300));
    assert.match(back.body, /not verified at your identity provider/);
    const denied = h.logs.findLast((l) => l['event'] === 'access.denied');
    assert.deepEqual(denied?.['reasons'], ['email-unverified']);
    const info = JSON.parse((await b.get(`${h.url}/oauth2/userinfo`)).body) as Record<string, unknown>;
    assert.equal(info['email'], undefined);
    assert.equal(info['preferredUsername'], 'mallory@fabrikam.com');
    // The owner of the address gets in.
    const adele = await signIn('adele', 'entra', '/adele/');
    assert.equal(adele.back.status, 200, adele.back.body.slice(0, 300));
  });

  test('no e-mail address: the UPN (a domain the directory verified); preferred_username never counts', async () => {
    const { back } = await signIn('nomail');
    assert.equal(back.status, 200);
    assert.equal(forwarded(back.body)['x-forwarded-email'], 'nomail@contoso.com');
  });

  test('group overage: Graph /me/transitiveMemberOf with the access token, every page, groups only', async () => {
    const calls = stub.graphCalls.length;
    const { back } = await signIn('many');
    assert.equal(back.status, 200, back.body.slice(0, 300));
    assert.equal(forwarded(back.body)['x-forwarded-groups'], MANY.join(','));
    const made = stub.graphCalls.slice(calls);
    assert.equal(made.length, 3, 'three pages');
    assert.equal(made[0]!.searchParams.get('$select'), 'id');
    assert.equal(made[1]!.searchParams.get('$skiptoken'), '3');
  });

  test('the implicit-flow overage indicator (hasgroups: true) is honoured too', async () => {
    stub.patchIdToken = (claims) => {
      if (claims['_claim_names'] === undefined) return;
      delete claims['_claim_names'];
      delete claims['_claim_sources'];
      claims['hasgroups'] = true;
    };
    try {
      const { back } = await signIn('many');
      assert.equal(back.status, 200);
      assert.equal(forwarded(back.body)['x-forwarded-groups'], MANY.join(','));
    } finally {
      stub.patchIdToken = undefined;
    }
  });

  test('groupOverage: false leaves the groups empty and does not call Graph', async () => {
    const calls = stub.graphCalls.length;
    const { back } = await signIn('many', 'entra-nogroups');
    assert.equal(back.status, 200);
    assert.equal(forwarded(back.body)['x-forwarded-groups'], undefined);
    assert.equal(stub.graphCalls.length, calls);
  });

  test('Graph refusing the call fails the sign-in with PCL_USERINFO_FAILED', async () => {
    stub.graphFailure = 403;
    try {
      const { b, back } = await signIn('many');
      assert.equal(back.status, 502);
      assert.match(back.body, /PCL_USERINFO_FAILED/);
      assert.equal(b.jar.get('portcullis', h.url), undefined);
    } finally {
      stub.graphFailure = undefined;
    }
  });

  test('an @odata.nextLink to another origin is not followed: the access token stays with Graph', async () => {
    const seen: string[] = [];
    const elsewhere = http.createServer((req, res) => {
      seen.push(req.url ?? '');
      res.end('{}');
    });
    await new Promise<void>((resolve) => elsewhere.listen(0, '127.0.0.1', resolve));
    stub.nextLinkOrigin = `http://127.0.0.1:${(elsewhere.address() as AddressInfo).port}`;
    try {
      const { back } = await signIn('many');
      assert.equal(back.status, 502);
      assert.match(back.body, /PCL_USERINFO_FAILED/);
      assert.deepEqual(seen, []);
    } finally {
      stub.nextLinkOrigin = undefined;
      await new Promise((resolve) => elsewhere.close(resolve));
    }
  });

  test('a token whose tid names an allowed tenant but whose iss is another tenant’s is rejected', async () => {
    stub.patchIdToken = (claims) => {
      claims['tid'] = CONTOSO;
    };
    try {
      const { b, back } = await signIn('stan');
      assert.equal(back.status, 502, back.body.slice(0, 300));
      assert.match(back.body, /PCL_ID_TOKEN_INVALID/);
      assert.equal(b.jar.get('portcullis', h.url), undefined);
      const failure = h.logs.findLast((l) => l['event'] === 'sign-in.failure');
      assert.equal(failure?.['code'], 'PCL_ID_TOKEN_INVALID');
    } finally {
      stub.patchIdToken = undefined;
    }
  });

  test('a token without a tenant id (tid) is rejected', async () => {
    stub.patchIdToken = (claims) => {
      claims['tid'] = 'organizations';
      claims['iss'] = `${stub.url}/organizations/v2.0`;
    };
    try {
      const { back } = await signIn('adele');
      assert.equal(back.status, 502);
      assert.match(back.body, /PCL_ID_TOKEN_INVALID/);
    } finally {
      stub.patchIdToken = undefined;
    }
  });

  test('an RFC 9207 iss parameter is checked against the user’s tenant', async () => {
    stub.issParameter = true;
    try {
      const ok = await signIn('adele');
      assert.equal(ok.back.status, 200, ok.back.body.slice(0, 300));
      // The same parameter naming another tenant (a mix-up) fails.
      const b2 = h.browser();
      const r = await b2.get(`${h.url}/oauth2/start?provider=entra&rd=/`, { followRedirects: false });
      const page = await b2.get(r.headers.location!);
      const login = parseForms(page.body, page.url).find((f) => f.id === 'login');
      assert.ok(login);
      const fields = new URLSearchParams(login.fields);
      fields.set('username', 'adele');
      fields.set('password', 'adele');
      const atIdp = await b2.request(login.action, { method: 'POST', body: fields, followRedirects: false });
      const callback = new URL(atIdp.headers.location!);
      assert.equal(callback.searchParams.get('iss'), `${stub.url}/${CONTOSO}/v2.0`);
      callback.searchParams.set('iss', `${stub.url}/${FABRIKAM}/v2.0`);
      const back = await b2.get(callback);
      assert.equal(back.status, 400, back.body.slice(0, 300));
      assert.match(back.body, /PCL_ISSUER_MISMATCH/);
      assert.equal(b2.jar.get('portcullis', h.url), undefined);
    } finally {
      stub.issParameter = false;
    }
  });

  test('refresh validates the new ID token against the user’s tenant and reads Graph again', async () => {
    const { b } = await signIn('many');
    const calls = stub.graphCalls.length;
    h.advance(3600);
    const r = await b.get(`${h.url}/api/after`, { headers: { accept: 'application/json' } });
    assert.equal(r.status, 200, r.body.slice(0, 300));
    assert.equal(forwarded(r.body)['x-forwarded-groups'], MANY.join(','));
    assert.equal(stub.graphCalls.length, calls + 3);
  });
});

describe('entra single tenant specifics', () => {
  let stub: EntraStub;
  let h: GatewayHarness;
  const parts = closeAfter();
  before(async () => {
    const address = await reserveAddress();
    stub = parts.add(
      await startEntraStub({
        tenants: tenants(),
        app: app(address.redirectUri, { optionalClaims: ['email', 'xms_edov'], groupsClaim: false }),
      }),
    );
    const base = {
      type: 'entra',
      authority: `${stub.url}/`,
      graphUrl: stub.graphUrl,
      clientId: CLIENT_ID,
      clientSecret: SECRET,
      tokenEndpointAuthMethod: 'client_secret_post',
    };
    h = parts.add(
      await startHarness({
        address,
        providers: [
          { id: 'bydomain', ...base, tenant: 'contoso.onmicrosoft.com' },
          { id: 'upper', ...base, tenant: CONTOSO.toUpperCase() },
          { id: 'unknown', ...base, tenant: '11111111-2222-4333-8444-555555555555' },
          { id: 'wrongtenant', ...base, tenant: FABRIKAM },
        ],
      }),
    );
  });

  async function signIn(provider: string, login: string) {
    const b = h.browser();
    const start = await b.get(`${h.url}/oauth2/start?provider=${provider}&rd=/api/me`);
    return { b, back: await signInAtIdp(b, start, { login }) };
  }

  test('a tenant given by domain name: discovery announces the tenant id, and sign-in works', async () => {
    const b = h.browser();
    const r = await b.get(`${h.url}/oauth2/start?provider=bydomain&rd=/`, { followRedirects: false });
    assert.equal(new URL(r.headers.location!).pathname, `/${CONTOSO}/oauth2/v2.0/authorize`);
    const { back } = await signIn('bydomain', 'adele');
    assert.equal(back.status, 200, back.body.slice(0, 300));
    const headers = (JSON.parse(back.body) as { headers: Record<string, string> }).headers;
    assert.equal(headers['x-forwarded-email'], 'adele@contoso.com');
    assert.equal(headers['x-forwarded-groups'], undefined, 'no groupMembershipClaims, no groups');
    assert.equal(stub.lastClientAuth, 'client_secret_post');
  });

  test('single tenant: an address whose domain the directory has not verified (xms_edov false) is dropped', async () => {
    const { b, back } = await signIn('bydomain', 'ext');
    assert.equal(back.status, 200);
    const info = JSON.parse((await b.get(`${h.url}/oauth2/userinfo`)).body) as Record<string, unknown>;
    assert.equal(info['email'], undefined);
    assert.equal(info['emailVerified'], false);
  });

  test('a tenant id written in capitals still matches the issuer Entra announces', async () => {
    const { back } = await signIn('upper', 'adele');
    assert.equal(back.status, 200, back.body.slice(0, 300));
  });

  test('an unknown tenant fails discovery with PCL_IDP_UNREACHABLE; the log names the discovery URL', async () => {
    const r = await h.browser().get(`${h.url}/oauth2/start?provider=unknown&rd=/`);
    assert.equal(r.status, 502);
    assert.match(r.body, /PCL_IDP_UNREACHABLE/);
    assert.match(
      h.rawLogs(),
      /11111111-2222-4333-8444-555555555555\/v2\.0\/\.well-known\/openid-configuration/,
    );
  });

  test('a user of another directory cannot sign in to a single-tenant app (AADSTS50020 at Entra)', async () => {
    const { back } = await signIn('bydomain', 'bert');
    assert.equal(back.status, 400);
    assert.match(back.body, /AADSTS50020/);
  });

  test('tenant set to a directory the app is not registered in: Entra answers AADSTS700016', async () => {
    const r = await h.browser().get(`${h.url}/oauth2/start?provider=wrongtenant&rd=/`);
    assert.equal(r.status, 400);
    assert.match(r.body, /AADSTS700016/);
  });
});
