/**
 * A JupyterHub as the IdP, against a stub of the hub's documented OAuth provider and REST API
 * (test/support/stubs/jupyterhub.ts): the contract, plus the hub's shapes — the client secret in the form
 * body, `Authorization: token …` for /hub/api/user, the hub user's name and groups.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type GatewayHarness, reserveAddress, startHarness } from '../support/gateway.ts';
import { type JupyterhubStub, startJupyterhubStub } from '../support/stubs/jupyterhub.ts';
import { providerContract, signInAtIdp } from './contract.ts';

const SECRET = 'hub-oauth-client-secret-0123456789';
const USERS = [
  { name: 'ada', password: 'ada', admin: false, groups: ['physics', 'gpu-users'] },
  { name: 'eve', password: 'eve', admin: false, groups: ['students'] },
];

providerContract({
  name: 'jupyterhub',
  async start(address) {
    const stub = await startJupyterhubStub({
      clientId: 'service-portcullis',
      clientSecret: SECRET,
      redirectUri: address.redirectUri,
      users: USERS,
    });
    return {
      provider: {
        type: 'jupyterhub',
        url: stub.url,
        clientId: 'service-portcullis',
        clientSecret: SECRET,
        allow: { groups: ['physics'] },
      },
      allowed: {
        login: 'ada',
        identity: { user: 'ada', preferredUsername: 'ada', name: 'ada', groups: ['physics', 'gpu-users'] },
      },
      denied: { login: 'eve', reasons: ['group-missing'], explains: /one of these groups: physics/ },
      refresh: false,
      secrets: [SECRET],
      close: () => stub.close(),
    };
  },
});

let stub: JupyterhubStub;
let h: GatewayHarness;
before(async () => {
  const address = await reserveAddress();
  stub = await startJupyterhubStub({
    clientId: 'svc',
    clientSecret: SECRET,
    redirectUri: address.redirectUri,
    users: USERS,
  });
  h = await startHarness({
    address,
    providers: [
      { id: 'hub', type: 'jupyterhub', url: `${stub.url}/`, clientId: 'svc', clientSecret: SECRET },
    ],
  });
});
after(async () => {
  await h.close();
  await stub.close();
});

test('the hub’s endpoints, the token scheme and no scope parameter by default', async () => {
  const b = h.browser();
  const r = await b.get(`${h.url}/oauth2/start?rd=/`, { followRedirects: false });
  const u = new URL(r.headers.location!);
  assert.equal(u.origin + u.pathname, `${stub.url}/hub/api/oauth2/authorize`);
  assert.equal(u.searchParams.get('scope'), null);
  assert.equal(u.searchParams.get('code_challenge_method'), 'S256');
  const back = await signInAtIdp(b, await b.get(r.headers.location!), { login: 'eve' });
  assert.equal(back.status, 200);
  assert.equal(stub.lastAuthScheme, 'token');
  const info = JSON.parse((await b.get(`${h.url}/oauth2/userinfo`)).body);
  assert.deepEqual(info.groups, ['students']);
  assert.equal(info.email, undefined);
});
