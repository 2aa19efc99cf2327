/**
 * `type: oidc` against the real in-process OpenID provider (oidc-provider, test/support/idp.ts): the
 * contract with discovery and with skipDiscovery (explicit endpoints, discovery never fetched), then the
 * options — emailClaim, groupsClaim (dot paths, namespaced claims, a string or a list), usernameClaim,
 * userinfo, extra audiences with the OIDC Core 3.1.3.7 azp rules, and insecureAllowUnverifiedEmail.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { ConfigError } from '../../src/config/errors.ts';
import { resolveConfig } from '../../src/config/load.ts';
import type { OidcProvider } from '../../src/idp/oidc.ts';
import { createProvider } from '../../src/idp/registry.ts';
import { type GatewayHarness, reserveAddress, startHarness } from '../support/gateway.ts';
import { type DevUser, startTestIdp, type TestIdp } from '../support/idp.ts';
import { providerContract, signInAtIdp } from './contract.ts';

const SECRET = 'oidc-client-secret-0123456789abcdef';

/** The claims the users below carry beyond the standard ones, released with the profile scope. */
const EXTRA_CLAIMS = { profile: ['upn', 'nickname', 'org', 'https://acme.example/groups', 'department'] };

function users(): DevUser[] {
  return [
    {
      // sub differs from the username: X-Forwarded-User must be the sub.
      username: 'alice',
      password: 'alice',
      sub: 'u-1001',
      email: 'alice@example.com',
      name: 'Alice Admin',
      groups: ['admins', 'engineering'],
    },
    {
      // groups as one string, not a list.
      username: 'bob',
      password: 'bob',
      sub: 'u-1002',
      email: 'bob@example.com',
      name: 'Bob Builder',
      groups: [],
      claims: { groups: 'ops' },
    },
    {
      username: 'carol',
      password: 'carol',
      sub: 'u-1003',
      email: 'carol@example.org',
      emailVerified: false,
      name: 'Carol Contractor',
      groups: [],
    },
    {
      username: 'dave',
      password: 'dave',
      sub: 'u-1004',
      email: 'dave@example.net',
      name: 'Dave Outside',
      groups: ['engineering'],
    },
    {
      // Claims in other places: a nested groups claim, a namespaced one (Auth0 style), an address in
      // upn while email is unverified, a nickname; and a userinfo answer that differs from the ID token.
      username: 'erin',
      password: 'erin',
      sub: 'u-1005',
      email: 'erin.private@example.net',
      emailVerified: false,
      name: 'Erin Nested',
      groups: ['id-token-group'],
      claims: {
        upn: 'erin@corp.example',
        nickname: 'erin-n',
        org: { teams: ['blue', 'green'], lead: 'x' },
        'https://acme.example/groups': 'acme-staff',
      },
      userinfoClaims: { groups: ['from-userinfo'], department: 'R&D' },
    },
  ];
}

providerContract({
  name: 'oidc (discovery, confidential client)',
  async start(address) {
    const idp = await startTestIdp({
      clients: [{ client_id: 'portcullis', client_secret: SECRET, redirect_uris: [address.redirectUri] }],
      users: users(),
      extraClaims: EXTRA_CLAIMS,
    });
    return {
      provider: {
        type: 'oidc',
        issuer: idp.issuer,
        clientId: 'portcullis',
        clientSecret: SECRET,
        allow: { emailDomains: ['example.com'] },
      },
      allowed: {
        login: 'alice',
        identity: {
          user: 'u-1001',
          email: 'alice@example.com',
          preferredUsername: 'alice',
          name: 'Alice Admin',
          groups: ['admins', 'engineering'],
        },
      },
      denied: {
        login: 'dave',
        reasons: ['email-domain-not-allowed'],
        explains: /Accounts with an e-mail address at example\.net are not allowed here/,
      },
      refresh: { afterSeconds: 3700 },
      secrets: [SECRET],
      close: () => idp.close(),
    };
  },
});

/** Paths the IdP was asked for, and a discovery document it refuses to give. */
interface SeenRequests {
  readonly paths: string[];
}

function refuseDiscovery(seen: SeenRequests) {
  return (req: { url?: string | undefined }, res: import('node:http').ServerResponse): boolean => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    seen.paths.push(path);
    if (!path.startsWith('/.well-known/')) return false;
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('discovery is switched off here');
    return true;
  };
}

const skipSeen: SeenRequests = { paths: [] };

providerContract({
  name: 'oidc (skipDiscovery, public client with PKCE, userinfo)',
  async start(address) {
    const idp = await startTestIdp({
      clients: [{ client_id: 'portcullis-public', redirect_uris: [address.redirectUri] }],
      users: users(),
      extraClaims: EXTRA_CLAIMS,
      extraRoutes: refuseDiscovery(skipSeen),
    });
    return {
      provider: {
        type: 'oidc',
        issuer: idp.issuer,
        clientId: 'portcullis-public',
        skipDiscovery: true,
        authorizationUrl: `${idp.issuer}/auth`,
        tokenUrl: `${idp.issuer}/token`,
        jwksUrl: `${idp.issuer}/jwks`,
        userInfoUrl: `${idp.issuer}/me`,
        userinfo: true,
        allow: { groups: ['from-userinfo'] },
      },
      allowed: {
        login: 'erin',
        identity: {
          user: 'u-1005',
          email: undefined,
          preferredUsername: 'erin',
          name: 'Erin Nested',
          groups: ['from-userinfo'],
        },
      },
      denied: {
        login: 'alice',
        reasons: ['group-missing'],
        explains: /You need to be in one of these groups: from-userinfo/,
      },
      refresh: { afterSeconds: 3700 },
      secrets: [],
      close: async () => {
        await idp.close();
        // Every sign-in, refresh and userinfo call of the contract went to the configured endpoints.
        assert.ok(skipSeen.paths.includes('/token'), skipSeen.paths.join(' '));
        assert.ok(skipSeen.paths.includes('/jwks'), skipSeen.paths.join(' '));
        assert.ok(skipSeen.paths.includes('/me'), skipSeen.paths.join(' '));
        assert.deepEqual(
          skipSeen.paths.filter((p) => p.startsWith('/.well-known/')),
          [],
          'discovery was fetched',
        );
      },
    };
  },
});

function gatewayConfig(raw: Record<string, unknown>) {
  return resolveConfig(
    {
      publicUrl: 'https://p.example.com',
      cookie: { secret: 'x'.repeat(43) },
      providers: [{ id: 'corp', type: 'oidc', clientId: 'a', clientSecret: 'b', ...raw }],
      upstreams: [{ path: '/', url: 'http://127.0.0.1:1' }],
    },
    {},
  );
}

function configProblems(raw: Record<string, unknown>): readonly string[] {
  try {
    gatewayConfig(raw);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems;
  }
  assert.fail('expected the configuration to be rejected');
}

describe('oidc skipDiscovery', () => {
  let idp: TestIdp;
  let h: GatewayHarness;
  const seen: SeenRequests = { paths: [] };

  before(async () => {
    const address = await reserveAddress();
    idp = await startTestIdp({
      clients: [
        { client_id: 'manual', client_secret: SECRET, redirect_uris: [address.redirectUri] },
        { client_id: 'discovering', client_secret: SECRET, redirect_uris: [address.redirectUri] },
      ],
      users: users(),
      extraRoutes: refuseDiscovery(seen),
    });
    const endpoints = {
      authorizationUrl: `${idp.issuer}/auth`,
      tokenUrl: `${idp.issuer}/token`,
      jwksUrl: `${idp.issuer}/jwks`,
    };
    h = await startHarness({
      address,
      providers: [
        {
          id: 'manual',
          type: 'oidc',
          issuer: idp.issuer,
          clientId: 'manual',
          clientSecret: SECRET,
          skipDiscovery: true,
          ...endpoints,
        },
        {
          id: 'discovering',
          type: 'oidc',
          issuer: idp.issuer,
          clientId: 'discovering',
          clientSecret: SECRET,
        },
      ],
    });
  });
  after(async () => {
    await h.close();
    await idp.close();
  });

  test('sign-in uses the configured endpoints and never asks for discovery', async () => {
    const b = h.browser();
    const start = await b.get(`${h.url}/oauth2/start?provider=manual&rd=/api/x`, { followRedirects: false });
    const u = new URL(start.headers.location!);
    assert.equal(`${u.origin}${u.pathname}`, `${idp.issuer}/auth`);
    assert.equal(u.searchParams.get('client_id'), 'manual');
    assert.equal(u.searchParams.get('code_challenge_method'), 'S256');
    assert.ok(u.searchParams.get('nonce'));
    const back = await signInAtIdp(b, await b.get(start.headers.location!), { login: 'alice' });
    assert.equal(back.status, 200, back.body.slice(0, 300));
    assert.equal(JSON.parse(back.body).headers['x-forwarded-user'], 'u-1001');
    assert.deepEqual(
      seen.paths.filter((p) => p.startsWith('/.well-known/')),
      [],
    );
    assert.ok(seen.paths.includes('/jwks'));
  });

  test('without discovery, the configured idTokenSigningAlgs stand in for the advertised list', async () => {
    // Nothing else tells openid-client which algorithms the IdP uses: without them in the metadata it
    // would accept RS256 alone, and an IdP signing with ES256 (say) could not be configured.
    const config = gatewayConfig({
      issuer: 'https://login.example.com',
      skipDiscovery: true,
      authorizationUrl: 'https://login.example.com/a',
      tokenUrl: 'https://login.example.com/t',
      jwksUrl: 'https://login.example.com/k',
      idTokenSigningAlgs: ['ES256', 'PS256'],
    });
    const p = createProvider(config.providers[0]!, {
      redirectUri: config.redirectUri,
      timeoutSeconds: 1,
      now: () => 0,
    }) as OidcProvider;
    const metadata = (await p.discover()).serverMetadata();
    assert.deepEqual(metadata.id_token_signing_alg_values_supported, ['ES256', 'PS256']);
    assert.equal(metadata.authorization_endpoint, 'https://login.example.com/a');
    assert.equal(metadata.userinfo_endpoint, undefined);
  });

  test('control: a provider that relies on discovery fails against this IdP', async () => {
    const before = seen.paths.filter((p) => p === '/.well-known/openid-configuration').length;
    const r = await h.browser().get(`${h.url}/oauth2/start?provider=discovering&rd=/`);
    assert.equal(r.status, 502, r.body.slice(0, 300));
    assert.match(r.body, /PCL_IDP_UNREACHABLE/);
    assert.ok(seen.paths.filter((p) => p === '/.well-known/openid-configuration').length > before);
  });

  test('/ready: a skipDiscovery provider is ready without its discovery document', async () => {
    const r = JSON.parse((await h.browser().get(`${h.url}/ready`)).body);
    assert.deepEqual(r.failingProviders, ['discovering']);
  });

  test('configuration: skipDiscovery needs the endpoints; endpoints need skipDiscovery', () => {
    const issuer = 'https://login.example.com';
    assert.deepEqual(configProblems({ issuer, skipDiscovery: true }), [
      'providers[0].authorizationUrl: is required with skipDiscovery',
      'providers[0].tokenUrl: is required with skipDiscovery',
      'providers[0].jwksUrl: is required with skipDiscovery',
    ]);
    const endpoints = {
      authorizationUrl: `${issuer}/a`,
      tokenUrl: `${issuer}/t`,
      jwksUrl: `${issuer}/k`,
    };
    assert.deepEqual(configProblems({ issuer, skipDiscovery: true, ...endpoints, userinfo: true }), [
      'providers[0].userInfoUrl: is required with skipDiscovery and userinfo: true',
    ]);
    assert.deepEqual(configProblems({ issuer, ...endpoints }), [
      'providers[0].authorizationUrl: endpoints are read from discovery; set skipDiscovery: true to give them yourself',
    ]);
    assert.deepEqual(
      configProblems({ issuer, skipDiscovery: true, ...endpoints, jwksUrl: 'http://k.example/' }),
      ['providers[0].jwksUrl: http://k.example/ is plain http; use https (or insecureAllowHttp for a lab)'],
    );
    const ok = gatewayConfig({ issuer, skipDiscovery: true, ...endpoints }).providers[0]!;
    assert.equal(ok.type === 'oidc' && ok.skipDiscovery, true);
  });
});

describe('oidc claims, userinfo, audiences and unverified e-mail', () => {
  let idp: TestIdp;
  let h: GatewayHarness;
  let stopTamper: (() => void) | undefined;

  const client = (id: string) => ({ client_id: id, client_secret: SECRET });
  const provider = (id: string, more: Record<string, unknown> = {}) => ({
    id,
    type: 'oidc',
    issuer: idp.issuer,
    clientId: id,
    clientSecret: SECRET,
    ...more,
  });

  before(async () => {
    const address = await reserveAddress();
    const ids = ['plain', 'claims', 'urlclaim', 'info', 'strict', 'strict-com', 'lenient', 'aud'];
    idp = await startTestIdp({
      clients: ids.map((id) => ({ ...client(id), redirect_uris: [address.redirectUri] })),
      users: users(),
      extraClaims: EXTRA_CLAIMS,
    });
    h = await startHarness({
      address,
      providers: [
        provider('plain'),
        provider('claims', { emailClaim: 'upn', groupsClaim: 'org.teams', usernameClaim: 'nickname' }),
        provider('urlclaim', { groupsClaim: 'https://acme.example/groups' }),
        provider('info', { userinfo: true }),
        provider('strict', { allow: { emailDomains: ['example.org'] } }),
        provider('strict-com', { allow: { emailDomains: ['example.com'] } }),
        provider('lenient', { insecureAllowUnverifiedEmail: true, allow: { emailDomains: ['example.org'] } }),
        provider('aud', { audiences: ['other-app'] }),
      ],
    });
  });
  afterEach(() => {
    stopTamper?.();
    stopTamper = undefined;
  });
  after(async () => {
    await h.close();
    await idp.close();
  });

  async function signIn(providerId: string, login: string) {
    const b = h.browser();
    const start = await b.get(`${h.url}/oauth2/start?provider=${providerId}&rd=/api/whoami`);
    const back = await signInAtIdp(b, start, { login });
    return { b, back };
  }

  async function identityOf(providerId: string, login: string) {
    const { b, back } = await signIn(providerId, login);
    assert.equal(back.status, 200, `${back.status}: ${back.body.slice(0, 400)}`);
    const headers = (JSON.parse(back.body) as { headers: Record<string, string | undefined> }).headers;
    const info = JSON.parse((await b.get(`${h.url}/oauth2/userinfo`)).body) as Record<string, unknown>;
    return { headers, info };
  }

  test('standard claims: sub, email, preferred_username, name, groups', async () => {
    const { headers, info } = await identityOf('plain', 'alice');
    assert.deepEqual(info, {
      user: 'u-1001',
      email: 'alice@example.com',
      emailVerified: true,
      preferredUsername: 'alice',
      name: 'Alice Admin',
      groups: ['admins', 'engineering'],
      provider: 'plain',
    });
    assert.equal(headers['x-forwarded-groups'], 'admins,engineering');
  });

  test('groups as a single string become a one-element list', async () => {
    const { headers, info } = await identityOf('plain', 'bob');
    assert.deepEqual(info['groups'], ['ops']);
    assert.equal(headers['x-forwarded-groups'], 'ops');
  });

  test('emailClaim, a dot-path groupsClaim and usernameClaim', async () => {
    const { headers, info } = await identityOf('claims', 'erin');
    assert.equal(info['user'], 'u-1005');
    // email_verified speaks of `email` only: the upn is taken as the IdP sends it.
    assert.equal(info['email'], 'erin@corp.example');
    assert.equal(info['emailVerified'], undefined);
    assert.equal(info['preferredUsername'], 'erin-n');
    assert.deepEqual(info['groups'], ['blue', 'green']);
    assert.equal(headers['x-forwarded-email'], 'erin@corp.example');
    assert.equal(headers['x-forwarded-preferred-username'], 'erin-n');
    assert.equal(headers['x-forwarded-groups'], 'blue,green');
  });

  test('claims that are missing map to nothing, not to a default', async () => {
    // alice has no upn, no nickname and no org: no e-mail, no username, no groups.
    const { headers, info } = await identityOf('claims', 'alice');
    assert.equal(info['user'], 'u-1001');
    assert.equal(info['email'], undefined);
    assert.equal(info['preferredUsername'], undefined);
    assert.deepEqual(info['groups'], []);
    assert.equal(headers['x-forwarded-email'], undefined);
    assert.equal(headers['x-forwarded-groups'], undefined);
  });

  test('a namespaced claim whose name contains dots is read whole', async () => {
    const { info } = await identityOf('urlclaim', 'erin');
    assert.deepEqual(info['groups'], ['acme-staff']);
  });

  test('userinfo: true lays the userinfo answer over the ID token claims', async () => {
    const withInfo = await identityOf('info', 'erin');
    assert.deepEqual(withInfo.info['groups'], ['from-userinfo']);
    const without = await identityOf('plain', 'erin');
    assert.deepEqual(without.info['groups'], ['id-token-group']);
  });

  test('userinfo is called again at refresh: its claims stay in the identity', async () => {
    const { b, back } = await signIn('info', 'erin');
    assert.equal(back.status, 200);
    const refreshes = h.logs.filter((l) => l['event'] === 'session.refresh').length;
    h.advance(3700);
    const r = await b.get(`${h.url}/api/after`, { headers: { accept: 'application/json' } });
    assert.equal(r.status, 200, r.body.slice(0, 300));
    assert.equal(h.logs.filter((l) => l['event'] === 'session.refresh').length, refreshes + 1);
    assert.equal(JSON.parse(r.body).headers['x-forwarded-groups'], 'from-userinfo');
  });

  test('an unverified e-mail is dropped: no header, and e-mail rules deny with email-unverified', async () => {
    const plain = await identityOf('plain', 'carol');
    assert.equal(plain.info['email'], undefined);
    assert.equal(plain.info['emailVerified'], false);
    assert.equal(plain.headers['x-forwarded-email'], undefined);

    const { b, back } = await signIn('strict', 'carol');
    assert.equal(back.status, 403, back.body.slice(0, 300));
    assert.match(back.body, /Your e-mail address is not verified at your identity provider/);
    const denied = h.logs.findLast((l) => l['event'] === 'sign-in.denied');
    assert.deepEqual(denied?.['reasons'], ['email-unverified']);
    assert.equal(denied?.['provider'], 'strict');
    assert.equal(b.jar.get('portcullis', h.url), undefined);
  });

  test('refused for two reasons (unverified, and a domain not allowed): the user is told both', async () => {
    const { b, back } = await signIn('strict-com', 'carol');
    assert.equal(back.status, 403, back.body.slice(0, 300));
    assert.match(back.body, /Your e-mail address is not verified at your identity provider/);
    assert.match(back.body, /Accounts with an e-mail address at example\.org are not allowed here/);
    const denied = h.logs.findLast((l) => l['event'] === 'sign-in.denied');
    assert.deepEqual(denied?.['reasons'], ['email-unverified', 'email-domain-not-allowed']);
    assert.equal(b.jar.get('portcullis', h.url), undefined);
    // Still never sent anywhere as an address.
    assert.doesNotMatch(JSON.stringify(h.logs.filter((l) => l['event'] === 'sign-in.denied')), /carol@/);
  });

  test('insecureAllowUnverifiedEmail keeps the unverified address for rules and upstreams', async () => {
    const { headers, info } = await identityOf('lenient', 'carol');
    assert.equal(info['email'], 'carol@example.org');
    assert.equal(info['emailVerified'], false);
    assert.equal(headers['x-forwarded-email'], 'carol@example.org');
  });

  async function failedSignIn(providerId: string) {
    const { b, back } = await signIn(providerId, 'alice');
    assert.equal(back.status, 502, back.body.slice(0, 300));
    assert.match(back.body, /PCL_ID_TOKEN_INVALID/);
    assert.equal(b.jar.get('portcullis', h.url), undefined);
    return String(h.logs.findLast((l) => l['code'] === 'PCL_ID_TOKEN_INVALID')?.['detail']);
  }

  /** Adds `extra` to the audiences of every following ID token, with `azp` as given (undefined: none). */
  function extraAudience(extra: string, azp: 'client' | 'extra' | 'none') {
    stopTamper = idp.tamperIdTokens((c) => {
      const clientId = String(c.aud);
      c.aud = [clientId, extra];
      if (azp === 'client') c['azp'] = clientId;
      else if (azp === 'extra') c['azp'] = extra;
      else delete c['azp'];
    });
  }

  test('audiences: aud [client, other] with azp client is accepted when other is listed', async () => {
    extraAudience('other-app', 'client');
    const { back } = await signIn('aud', 'alice');
    assert.equal(back.status, 200, back.body.slice(0, 300));
    assert.equal(JSON.parse(back.body).headers['x-forwarded-user'], 'u-1001');
  });

  test('audiences: the same token is refused by a provider that does not list other', async () => {
    extraAudience('other-app', 'client');
    assert.equal(
      await failedSignIn('plain'),
      'ID token audience "other-app" is not trusted (add it to audiences if it should be)',
    );
  });

  test('audiences: an audience that is not listed is refused even when another is', async () => {
    extraAudience('third-app', 'client');
    assert.equal(
      await failedSignIn('aud'),
      'ID token audience "third-app" is not trusted (add it to audiences if it should be)',
    );
  });

  test('audiences: several audiences without azp are refused (OIDC Core 3.1.3.7 step 4)', async () => {
    extraAudience('other-app', 'none');
    assert.match(await failedSignIn('aud'), /additional untrusted audiences/);
  });

  test('audiences: azp naming the other audience is refused (step 5)', async () => {
    extraAudience('other-app', 'extra');
    assert.match(await failedSignIn('aud'), /"azp" \(authorized party\)/);
  });

  test('azp naming another client is refused with a single audience too', async () => {
    stopTamper = idp.tamperIdTokens((c) => {
      c['azp'] = 'other-app';
    });
    assert.equal(await failedSignIn('aud'), 'ID token authorized party (azp) "other-app" is not this client');
  });

  test('control: azp equal to the client with a single audience is accepted', async () => {
    stopTamper = idp.tamperIdTokens((c) => {
      c['azp'] = String(c.aud);
    });
    const { back } = await signIn('plain', 'alice');
    assert.equal(back.status, 200, back.body.slice(0, 300));
  });
});
