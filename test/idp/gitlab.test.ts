/**
 * `type: gitlab` against the real in-process OpenID provider shaped like GitLab's
 * (https://docs.gitlab.com/integration/openid_connect_provider/): `sub` is the numeric user id, the ID
 * token carries `groups_direct`, userinfo carries `groups` (direct and through ancestor groups) and the
 * role claims; beside it a stub of the REST API the `projects` restriction reads
 * (test/support/stubs/gitlab-api.ts). The contract for `groups` and for `projects`, then the details:
 * access levels, inherited access, scopes, older GitLab without preferred_username, API errors, and
 * project access re-checked at refresh.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { decodeJwt } from 'jose';
import { type GatewayHarness, type PublicAddress, reserveAddress, startHarness } from '../support/gateway.ts';
import { type DevUser, startTestIdp, type TestIdp } from '../support/idp.ts';
import { type GitlabApi, type GitlabProject, gitlabApi, LEVEL } from '../support/stubs/gitlab-api.ts';
import { providerContract, signInAtIdp } from './contract.ts';

const SECRET = 'gloas-0123456789abcdef0123456789abcdef';
const APP_ID = '8f6e1b2c3d4a5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f';

/** A GitLab user: ID token claims (no `groups`), userinfo claims (`groups`, no `groups_direct`). */
function gitlabUser(
  o: { id: string; username: string; name: string; direct: string[]; all?: string[]; owner?: string[] },
  more: Record<string, unknown> = {},
): DevUser {
  return {
    username: o.username,
    password: o.username,
    sub: o.id,
    email: `${o.username}@example.com`,
    name: o.name,
    groups: [],
    claims: { groups: undefined, nickname: o.username, groups_direct: o.direct, ...more },
    userinfoClaims: {
      groups: o.all,
      groups_direct: undefined,
      'https://gitlab.org/claims/groups/owner': o.owner ?? [],
    },
  };
}

function users(): DevUser[] {
  return [
    // A direct member of acme: userinfo lists acme/platform too (membership through the ancestor).
    gitlabUser({
      id: '1001',
      username: 'grace',
      name: 'Grace Hopper',
      direct: ['acme'],
      all: ['acme', 'acme/platform'],
      owner: ['acme'],
    }),
    gitlabUser({ id: '1002', username: 'henry', name: 'Henry Other', direct: ['other'], all: ['other'] }),
    // An older GitLab: no preferred_username (nickname only), and a userinfo answer without groups.
    gitlabUser(
      { id: '1003', username: 'ivan', name: 'Ivan Legacy', direct: ['solo'] },
      { preferred_username: undefined, nickname: 'ivan-legacy' },
    ),
    gitlabUser({ id: '1004', username: 'frank', name: 'Frank Dev', direct: [], all: [] }),
  ];
}

function projects(): GitlabProject[] {
  return [
    // grace has no membership of her own here: reporter through the acme group.
    {
      id: 7,
      path: 'acme/website',
      visibility: 'private',
      members: {},
      inherited: { '1001': LEVEL.reporter },
    },
    {
      id: 8,
      path: 'acme/infra',
      visibility: 'private',
      members: { '1001': LEVEL.reporter, '1004': LEVEL.developer },
    },
    { id: 9, path: 'other/tools', visibility: 'public', members: { '1002': LEVEL.maintainer } },
  ];
}

/** GitLab: the OpenID provider and the REST API at one origin, which is the issuer and baseUrl. */
async function startGitlab(address: PublicAddress, api: GitlabApi): Promise<TestIdp> {
  const idp = await startTestIdp({
    clients: [{ client_id: APP_ID, client_secret: SECRET, redirect_uris: [address.redirectUri] }],
    users: users(),
    extraClaims: {
      openid: ['groups_direct', 'https://gitlab.org/claims/groups/owner'],
      profile: ['nickname'],
      read_api: [],
    },
    // GitLab's OAuth access tokens last two hours.
    accessTokenTtlSeconds: 7200,
    extraRoutes: (req, res) => api.handle(req, res),
  });
  idp.setTokenResponseHook((body) => api.tokenResponseHook(body));
  return idp;
}

const GRACE = {
  user: '1001',
  email: 'grace@example.com',
  preferredUsername: 'grace',
  name: 'Grace Hopper',
  groups: ['acme', 'acme/platform'],
};

providerContract({
  name: 'gitlab (groups)',
  async start(address) {
    const api = gitlabApi(projects());
    const idp = await startGitlab(address, api);
    return {
      provider: {
        type: 'gitlab',
        baseUrl: idp.issuer,
        clientId: APP_ID,
        clientSecret: SECRET,
        groups: ['acme/platform'],
      },
      allowed: { login: 'grace', identity: GRACE },
      denied: {
        login: 'henry',
        reasons: ['gitlab-group-missing'],
        explains: /You need to be a member of one of these GitLab groups: acme\/platform/,
      },
      refresh: { afterSeconds: 7300 },
      secrets: [SECRET],
      close: async () => {
        await idp.close();
        assert.deepEqual(api.requests, [], 'no REST API call without projects');
      },
    };
  },
});

providerContract({
  name: 'gitlab (projects, through the REST API)',
  async start(address) {
    const api = gitlabApi(projects());
    const idp = await startGitlab(address, api);
    return {
      provider: {
        type: 'gitlab',
        baseUrl: `${idp.issuer}/`,
        clientId: APP_ID,
        clientSecret: SECRET,
        projects: ['acme/website', 'acme/infra=developer'],
      },
      allowed: { login: 'grace', identity: GRACE },
      denied: {
        login: 'henry',
        reasons: ['project-missing'],
        explains: /You need access to one of these GitLab projects: acme\/website or acme\/infra/,
      },
      refresh: { afterSeconds: 7300 },
      secrets: [SECRET],
      close: () => idp.close(),
    };
  },
});

describe('gitlab details', () => {
  let api: GitlabApi;
  let idp: TestIdp;
  let h: GatewayHarness;

  before(async () => {
    const address = await reserveAddress();
    api = gitlabApi(projects());
    idp = await startGitlab(address, api);
    const gl = { type: 'gitlab', baseUrl: idp.issuer, clientId: APP_ID, clientSecret: SECRET };
    h = await startHarness({
      address,
      providers: [
        { id: 'plain', ...gl },
        { id: 'dev', ...gl, projects: ['acme/infra=developer'] },
        { id: 'level', ...gl, projects: ['acme/infra=20'] },
        { id: 'web', ...gl, projects: ['acme/website'] },
        { id: 'public', ...gl, projects: ['other/tools=maintainer'] },
      ],
    });
  });
  afterEach(() => {
    api.override = undefined;
    api.projects.splice(0, api.projects.length, ...projects());
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

  function lastDenial() {
    return h.logs.findLast((l) => l['event'] === 'sign-in.denied');
  }

  test('the IdP is GitLab-shaped: groups_direct in the ID token, groups only at userinfo', async () => {
    let tokens: Record<string, unknown> | undefined;
    idp.setTokenResponseHook((body) => {
      tokens = api.tokenResponseHook(body);
      return tokens;
    });
    try {
      assert.equal((await signIn('plain', 'grace')).back.status, 200);
    } finally {
      idp.setTokenResponseHook((body) => api.tokenResponseHook(body));
    }
    const claims = decodeJwt(String(tokens?.['id_token']));
    assert.equal(claims.sub, '1001');
    assert.deepEqual(claims['groups_direct'], ['acme']);
    assert.equal(claims['groups'], undefined);
    assert.equal(claims['nickname'], 'grace');
    const info = await fetch(`${idp.issuer}/me`, {
      headers: { authorization: `Bearer ${String(tokens?.['access_token'])}` },
    }).then((r) => r.json() as Promise<Record<string, unknown>>);
    assert.deepEqual(info['groups'], ['acme', 'acme/platform']);
    assert.deepEqual(info['https://gitlab.org/claims/groups/owner'], ['acme']);
    assert.equal(info['groups_direct'], undefined);
  });

  test('scopes: openid profile email, and read_api only when projects are restricted', async () => {
    const scopeOf = async (id: string) => {
      const r = await h
        .browser()
        .get(`${h.url}/oauth2/start?provider=${id}&rd=/`, { followRedirects: false });
      const u = new URL(r.headers.location!);
      assert.equal(`${u.origin}${u.pathname}`, `${idp.issuer}/auth`);
      return u.searchParams.get('scope');
    };
    assert.equal(await scopeOf('plain'), 'openid profile email');
    assert.equal(await scopeOf('dev'), 'openid profile email read_api');
  });

  test('the minimum access level: a reporter is refused where developer is required', async () => {
    const { b, back } = await signIn('dev', 'grace');
    assert.equal(back.status, 403, back.body.slice(0, 300));
    assert.match(back.body, /You need access to one of these GitLab projects: acme\/infra\./);
    assert.deepEqual(lastDenial()?.['reasons'], ['project-missing']);
    assert.equal(b.jar.get('portcullis', h.url), undefined);
    const request = api.requests.at(-1);
    assert.deepEqual(request, {
      method: 'GET',
      path: '/api/v4/projects/acme%2Finfra/members/all/1001',
      scheme: 'Bearer',
    });
  });

  test('a developer passes; a numeric level works like its name', async () => {
    assert.equal((await signIn('dev', 'frank')).back.status, 200);
    assert.equal((await signIn('level', 'grace')).back.status, 200);
  });

  test('access inherited from a group counts (members/all, not the project’s own members)', async () => {
    const { back } = await signIn('web', 'grace');
    assert.equal(back.status, 200, back.body.slice(0, 300));
    // Without the inherited membership she is refused: the stub is what decided.
    api.projects[0] = { ...api.projects[0]!, inherited: {} };
    assert.equal((await signIn('web', 'grace')).back.status, 403);
    assert.deepEqual(lastDenial()?.['reasons'], ['project-missing']);
  });

  test('a public project needs membership too, not only visibility', async () => {
    assert.equal((await signIn('public', 'henry')).back.status, 200);
    const { back } = await signIn('public', 'grace');
    assert.equal(back.status, 403);
    assert.equal(api.requests.at(-1)?.path, '/api/v4/projects/other%2Ftools/members/all/1001');
  });

  test('project access is checked again at refresh', async () => {
    const { b, back } = await signIn('web', 'grace', '/api/x');
    assert.equal(back.status, 200);
    const calls = api.requests.length;
    api.projects[0] = { ...api.projects[0]!, inherited: {} };
    h.advance(7300);
    const r = await b.get(`${h.url}/api/x`, { headers: { accept: 'application/json' } });
    assert.equal(r.status, 403, r.body.slice(0, 300));
    assert.equal(api.requests.length, calls + 1, 'one members/all call at refresh');
    const line = h.logs.findLast((l) => l['event'] === 'access.denied');
    assert.deepEqual(line?.['reasons'], ['project-missing']);
  });

  test('an API error is an error, never a silent denial', async () => {
    api.override = { status: 401, body: { message: '401 Unauthorized' } };
    const { b, back } = await signIn('web', 'grace');
    assert.equal(back.status, 502, back.body.slice(0, 300));
    assert.match(back.body, /PCL_USERINFO_FAILED/);
    assert.equal(b.jar.get('portcullis', h.url), undefined);
    const line = h.logs.findLast((l) => l['code'] === 'PCL_USERINFO_FAILED');
    assert.equal(line?.['detail'], 'GitLab /api/v4/projects/:id/members/all/:user_id: HTTP 401');
  });

  test('older GitLab: nickname when there is no preferred_username, groups_direct when userinfo has no groups', async () => {
    const { b, back } = await signIn('plain', 'ivan');
    assert.equal(back.status, 200, back.body.slice(0, 300));
    const info = JSON.parse((await b.get(`${h.url}/oauth2/userinfo`)).body);
    assert.deepEqual(info, {
      user: '1003',
      email: 'ivan@example.com',
      emailVerified: true,
      preferredUsername: 'ivan-legacy',
      name: 'Ivan Legacy',
      groups: ['solo'],
      provider: 'plain',
    });
  });

  test('userinfo groups win over groups_direct: a user in no group has none', async () => {
    const { b, back } = await signIn('plain', 'frank');
    assert.equal(back.status, 200);
    const info = JSON.parse((await b.get(`${h.url}/oauth2/userinfo`)).body);
    assert.deepEqual(info.groups, []);
    assert.equal(info.user, '1004');
  });
});
