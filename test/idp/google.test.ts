/**
 * Google against a stub of its documented OpenID Connect shapes (test/support/stubs/google.ts), with the
 * provider's `issuer` pointed at the stub: the contract twice (refresh tokens with offlineAccess, and a
 * session that simply lasts without), then Google's own differences — `hostedDomains` decided by the ID
 * token's `hd` claim (no hd, another hd, a consumer gmail account, the allowed domain; the `hd` request
 * and callback parameters prove nothing), the request parameters, and refresh without rotation.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { parseForms } from '../support/browser.ts';
import { type GatewayHarness, reserveAddress, startHarness } from '../support/gateway.ts';
import { type GoogleStub, type GoogleUser, startGoogleStub } from '../support/stubs/google.ts';
import { providerContract, signInAtIdp } from './contract.ts';

const CLIENT_ID = '1234987819200-portcullis.apps.googleusercontent.com';
const SECRET = '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789';

const USERS: GoogleUser[] = [
  {
    login: 'alice',
    sub: '110169484474386276334',
    email: 'alice@example.com',
    name: 'Alice Example',
    hd: 'example.com',
  },
  {
    login: 'olga',
    sub: '110169484474386270001',
    email: 'olga@example.org',
    name: 'Olga Org',
    hd: 'example.org',
  },
  {
    login: 'carol',
    sub: '110169484474386270002',
    email: 'carol@other.example',
    name: 'Carol Other',
    hd: 'other.example',
  },
  // A consumer account.
  { login: 'gmail', sub: '110169484474386270003', email: 'someone.private@gmail.com', name: 'Some One' },
  // A consumer Google account created with a work address: the e-mail domain matches, but no hd claim.
  { login: 'dave', sub: '110169484474386270004', email: 'dave@example.com', name: 'Dave Personal' },
  {
    login: 'unverified',
    sub: '110169484474386270005',
    email: 'unverified@example.com',
    emailVerified: false,
    name: 'Un Verified',
    hd: 'example.com',
  },
];

function googleCase(o: { offlineAccess: boolean; denied: string; reason: string; explains: RegExp }) {
  return {
    name: `google (${o.offlineAccess ? 'offlineAccess: refresh tokens' : 'no offline access'})`,
    async start(address: { redirectUri: string }) {
      const stub = await startGoogleStub({
        clientId: CLIENT_ID,
        clientSecret: SECRET,
        redirectUris: [address.redirectUri],
        users: USERS,
      });
      return {
        provider: {
          type: 'google',
          issuer: stub.url,
          clientId: CLIENT_ID,
          clientSecret: SECRET,
          // Two domains: no hd hint is sent, so any account reaches Portcullis and the claim decides.
          hostedDomains: ['example.com', 'Example.ORG'],
          offlineAccess: o.offlineAccess,
        },
        allowed: {
          login: 'alice',
          identity: {
            user: '110169484474386276334',
            email: 'alice@example.com',
            preferredUsername: undefined,
            name: 'Alice Example',
            groups: [],
          },
        },
        denied: { login: o.denied, reasons: [o.reason], explains: o.explains },
        refresh: o.offlineAccess ? ({ afterSeconds: 3600 } as const) : (false as const),
        secrets: [SECRET],
        close: () => stub.close(),
      };
    },
  };
}

providerContract(
  googleCase({
    offlineAccess: true,
    denied: 'gmail',
    reason: 'hosted-domain-not-allowed',
    explains: /not personal Google accounts/,
  }),
);

providerContract(
  googleCase({
    offlineAccess: false,
    denied: 'dave',
    reason: 'hosted-domain-not-allowed',
    explains: /not personal Google accounts/,
  }),
);

/** The Google stub and Portcullis in front of the sample app, with one google provider entry. */
async function startGoogle(
  provider: Record<string, unknown>,
  config?: Record<string, unknown>,
): Promise<{ stub: GoogleStub; h: GatewayHarness }> {
  const address = await reserveAddress();
  const stub = await startGoogleStub({
    clientId: CLIENT_ID,
    clientSecret: SECRET,
    redirectUris: [address.redirectUri],
    users: USERS,
  });
  const h = await startHarness({
    address,
    providers: [
      {
        id: 'google',
        type: 'google',
        issuer: stub.url,
        clientId: CLIENT_ID,
        clientSecret: SECRET,
        ...provider,
      },
    ],
    ...(config ? { config } : {}),
  });
  return { stub, h };
}

describe('google specifics', () => {
  let stub: GoogleStub;
  let h: GatewayHarness;
  before(async () => {
    ({ stub, h } = await startGoogle({ hostedDomains: ['example.com'], offlineAccess: true }));
  });
  after(() => Promise.all([h.close(), stub.close()]));

  /** The authorization URL Portcullis sends the browser to (not followed). */
  async function start(b = h.browser(), rd = '/api/me') {
    const r = await b.get(`${h.url}/oauth2/start?provider=google&rd=${encodeURIComponent(rd)}`, {
      followRedirects: false,
    });
    assert.equal(r.status, 302);
    return { b, auth: new URL(r.headers.location!) };
  }

  async function signIn(login: string, rd = '/api/me') {
    const { b, auth } = await start(h.browser(), rd);
    const back = await signInAtIdp(b, await b.get(auth), { login });
    return { b, back };
  }

  const lastDenied = () => h.logs.findLast((l) => l['event'] === 'sign-in.denied');

  test('the authorization request: Google’s endpoint, scopes, PKCE, nonce, the hd hint and offline access', async () => {
    const { auth } = await start();
    assert.equal(auth.origin + auth.pathname, `${stub.url}/o/oauth2/v2/auth`);
    const p = auth.searchParams;
    assert.equal(p.get('client_id'), CLIENT_ID);
    assert.equal(p.get('redirect_uri'), `${h.url}/oauth2/callback`);
    assert.equal(p.get('response_type'), 'code');
    assert.deepEqual(p.get('scope')?.split(' ').sort(), ['email', 'openid', 'profile']);
    assert.equal(p.get('code_challenge_method'), 'S256');
    assert.ok(p.get('nonce') && p.get('state'));
    // One hosted domain: the hint narrows Google's account chooser (a convenience, not a check).
    assert.equal(p.get('hd'), 'example.com');
    // Google returns a refresh token only for access_type=offline, and again after the first consent
    // only with prompt=consent.
    assert.equal(p.get('access_type'), 'offline');
    assert.equal(p.get('prompt'), 'consent');
  });

  test('the allowed Workspace domain signs in; the secret goes in a Basic header', async () => {
    const { back } = await signIn('alice');
    assert.equal(back.status, 200, back.body.slice(0, 300));
    const headers = (JSON.parse(back.body) as { headers: Record<string, string> }).headers;
    assert.equal(headers['x-forwarded-user'], '110169484474386276334');
    assert.equal(headers['x-forwarded-email'], 'alice@example.com');
    assert.equal(stub.lastClientAuth, 'client_secret_basic');
  });

  test('a Workspace account of another domain is refused with hosted-domain-not-allowed', async () => {
    // The hint keeps carol off the chooser; a browser can drop it from the request.
    const { b, auth } = await start();
    auth.searchParams.delete('hd');
    const back = await signInAtIdp(b, await b.get(auth), { login: 'carol' });
    assert.equal(back.status, 403, back.body.slice(0, 300));
    assert.match(back.body, /Google Workspace accounts of other\.example are not allowed here/);
    assert.deepEqual(lastDenied()?.['reasons'], ['hosted-domain-not-allowed']);
    assert.equal(b.jar.get('portcullis', h.url), undefined);
  });

  test('a consumer gmail.com account is refused even without the hd hint', async () => {
    const { b, auth } = await start();
    auth.searchParams.delete('hd');
    const back = await signInAtIdp(b, await b.get(auth), { login: 'gmail' });
    assert.equal(back.status, 403);
    assert.match(back.body, /not personal Google accounts/);
    assert.deepEqual(lastDenied()?.['reasons'], ['hosted-domain-not-allowed']);
  });

  test('an account with an address in the domain but no hd claim is refused, whatever the callback says', async () => {
    const { b, auth } = await start();
    auth.searchParams.delete('hd');
    const page = await b.get(auth);
    const form = parseForms(page.body, page.url).find((f) => f.id === 'login');
    assert.ok(form);
    const fields = new URLSearchParams(form.fields);
    fields.set('username', 'dave');
    fields.set('password', 'dave');
    const atIdp = await b.request(form.action, { method: 'POST', body: fields, followRedirects: false });
    const callback = new URL(atIdp.headers.location!);
    assert.equal(callback.searchParams.get('hd'), null, 'Google sends hd only for Workspace accounts');
    // The callback's query is the browser's to edit: a forged hd parameter changes nothing.
    callback.searchParams.set('hd', 'example.com');
    const back = await b.get(callback);
    assert.equal(back.status, 403, back.body.slice(0, 300));
    assert.match(back.body, /not personal Google accounts/);
    assert.deepEqual(lastDenied()?.['reasons'], ['hosted-domain-not-allowed']);
  });

  test('an unverified e-mail address is dropped (Google marks it email_verified: false)', async () => {
    const { b, back } = await signIn('unverified');
    assert.equal(back.status, 200);
    const info = JSON.parse((await b.get(`${h.url}/oauth2/userinfo`)).body) as Record<string, unknown>;
    assert.equal(info['user'], '110169484474386270005');
    assert.equal(info['email'], undefined);
  });

  test('a second sign-in still gets a refresh token (prompt=consent), and refresh answers without one', async () => {
    // After alice's first consent, Google answers without a refresh token unless prompt=consent.
    await signIn('alice');
    const { b } = await signIn('alice');
    const before = stub.grants.refresh_token;
    h.advance(3600);
    const r = await b.get(`${h.url}/api/after`, { headers: { accept: 'application/json' } });
    assert.equal(r.status, 200, r.body.slice(0, 300));
    assert.equal(stub.grants.refresh_token, before + 1, 'the expired access token was refreshed at Google');
    assert.ok(
      r.headers['set-cookie']?.some((c) => c.startsWith('portcullis')),
      'the refreshed session (keeping its refresh token) is stored',
    );
    assert.ok(!h.logs.some((l) => l['event'] === 'session.refresh-failed'));
  });
});

describe('google without offline access', () => {
  let stub: GoogleStub;
  let h: GatewayHarness;
  before(async () => {
    ({ stub, h } = await startGoogle(
      { hostedDomains: ['example.com', 'example.org'] },
      { allow: { emailDomains: ['example.com'] } },
    ));
  });
  after(() => Promise.all([h.close(), stub.close()]));

  test('no hd hint with two domains, no access_type or prompt; both rules apply', async () => {
    const b = h.browser();
    const r = await b.get(`${h.url}/oauth2/start?provider=google&rd=/`, { followRedirects: false });
    const p = new URL(r.headers.location!).searchParams;
    assert.equal(p.get('hd'), null);
    assert.equal(p.get('access_type'), null);
    assert.equal(p.get('prompt'), null);
    // olga is in an allowed hosted domain, but the top-level rule wants example.com addresses.
    const back = await signInAtIdp(b, await b.get(r.headers.location!), { login: 'olga' });
    assert.equal(back.status, 403);
    const denied = h.logs.findLast((l) => l['event'] === 'sign-in.denied');
    assert.deepEqual(denied?.['reasons'], ['email-domain-not-allowed']);
    // dave's address is at example.com: the e-mail rule passes, the hosted-domain rule does not.
    const b2 = h.browser();
    const start2 = await b2.get(`${h.url}/oauth2/start?provider=google&rd=/`);
    const back2 = await signInAtIdp(b2, start2, { login: 'dave' });
    assert.equal(back2.status, 403);
    const denied2 = h.logs.findLast((l) => l['event'] === 'sign-in.denied');
    assert.deepEqual(denied2?.['reasons'], ['hosted-domain-not-allowed']);
  });
});
