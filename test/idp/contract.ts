/**
 * The contract every identity provider passes, against its real IdP (oidc-provider) or a stub of its
 * documented API: sign-in through /oauth2/start, the identity it maps (headers upstream, /oauth2/userinfo,
 * /oauth2/auth), refresh where the provider supports it (and a session that simply lasts where it does
 * not), a denial by the provider's own restriction (403 page with reasons, no session, audit event), a
 * replayed code refused with an explained error, and no secret or token in the log.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserResponse } from '../support/browser.ts';
import { type GatewayHarness, type PublicAddress, reserveAddress, startHarness } from '../support/gateway.ts';

export interface ExpectedIdentity {
  /** X-Forwarded-User: the provider's user id. */
  readonly user: string;
  readonly email?: string | undefined;
  readonly preferredUsername?: string | undefined;
  readonly name?: string | undefined;
  readonly groups: readonly string[];
}

export interface ContractUser {
  readonly login: string;
  readonly password?: string;
}

export interface IdpUnderTest {
  /** The `providers` entry, without `id` (the suite names it). */
  readonly provider: Record<string, unknown>;
  /** More top-level gateway configuration. */
  readonly config?: Record<string, unknown>;
  /** A user who may sign in, and the identity the provider must map for them. */
  readonly allowed: ContractUser & { readonly identity: ExpectedIdentity };
  /** A user the provider's own restriction turns away, and the reason codes it must give. */
  readonly denied: ContractUser & { readonly reasons: readonly string[]; readonly explains: RegExp };
  /** Seconds to move the gateway's clock for the access token to expire; false: no refresh tokens. */
  readonly refresh: { readonly afterSeconds: number } | false;
  /** Values that must never reach the log (client secret, …). */
  readonly secrets: readonly string[];
  close(): Promise<void>;
}

export interface ProviderCase {
  readonly name: string;
  /** Starts the IdP (or its stub) with Portcullis's redirect URI registered. */
  start(address: PublicAddress): Promise<IdpUnderTest>;
}

/** Fills in the login form(s) at the IdP until the browser is back (some IdPs ask twice: account, password). */
export async function signInAtIdp(
  b: Browser,
  page: BrowserResponse,
  user: ContractUser,
): Promise<BrowserResponse> {
  let r = page;
  for (let i = 0; i < 3 && /<form[^>]*id="login"/.test(r.body); i++) {
    r = await b.submitForm(r.body, r.url, {
      formId: 'login',
      values: { username: user.login, password: user.password ?? user.login },
    });
  }
  return r;
}

const ID = 'idp';

export function providerContract(c: ProviderCase): void {
  describe(`provider contract: ${c.name}`, () => {
    let idp: IdpUnderTest;
    let h: GatewayHarness;

    before(async () => {
      const address = await reserveAddress();
      idp = await c.start(address);
      h = await startHarness({
        address,
        providers: [{ id: ID, ...idp.provider }],
        ...(idp.config ? { config: idp.config } : {}),
      });
    });
    after(async () => {
      await h?.close();
      await idp?.close();
    });

    async function signIn(user: ContractUser, rd = '/api/whoami') {
      const b = h.browser();
      const start = await b.get(`${h.url}/oauth2/start?provider=${ID}&rd=${encodeURIComponent(rd)}`);
      const back = await signInAtIdp(b, start, user);
      return { b, back };
    }

    test('signs in and the upstream sees the identity', async () => {
      const { b, back } = await signIn(idp.allowed);
      assert.equal(back.status, 200, `${back.status} at ${back.url}: ${back.body.slice(0, 500)}`);
      assert.equal(back.url, `${h.url}/api/whoami`);
      const headers = (JSON.parse(back.body) as { headers: Record<string, string | undefined> }).headers;
      const want = idp.allowed.identity;
      assert.equal(headers['x-forwarded-user'], want.user);
      assert.equal(headers['x-forwarded-provider'], ID);
      assert.equal(headers['x-forwarded-email'], want.email);
      assert.equal(headers['x-forwarded-preferred-username'], want.preferredUsername);
      assert.equal(headers['x-forwarded-groups'], want.groups.length ? want.groups.join(',') : undefined);
      assert.ok(b.jar.get('portcullis', h.url), 'a session cookie');
      const success = h.logs.findLast((l) => l['event'] === 'sign-in.success');
      assert.equal(success?.['provider'], ID);
    });

    test('/oauth2/userinfo and /oauth2/auth carry the mapped identity', async () => {
      const { b } = await signIn(idp.allowed);
      const info = JSON.parse((await b.get(`${h.url}/oauth2/userinfo`)).body) as Record<string, unknown>;
      const want = idp.allowed.identity;
      assert.equal(info['user'], want.user);
      assert.equal(info['email'], want.email);
      assert.equal(info['preferredUsername'], want.preferredUsername);
      assert.equal(info['name'], want.name);
      assert.deepEqual(info['groups'], [...want.groups]);
      assert.equal(info['provider'], ID);
      const auth = await b.get(`${h.url}/oauth2/auth`);
      assert.equal(auth.status, 202);
      assert.equal(auth.headers['x-auth-request-user'], want.user);
    });

    test(idp_refreshTitle(), async () => {
      const { b } = await signIn(idp.allowed);
      const before = h.logs.filter((l) => l['event'] === 'session.refresh').length;
      if (idp.refresh === false) {
        h.advance(3 * 3600);
        const r = await b.get(`${h.url}/api/after`, { headers: { accept: 'application/json' } });
        assert.equal(r.status, 200, 'the session lasts its lifetime without refresh');
        assert.equal(h.logs.filter((l) => l['event'] === 'session.refresh').length, before);
        assert.ok(!h.logs.some((l) => l['event'] === 'session.refresh-failed'));
        return;
      }
      h.advance(idp.refresh.afterSeconds);
      const r = await b.get(`${h.url}/api/after`, { headers: { accept: 'application/json' } });
      assert.equal(r.status, 200, r.body.slice(0, 300));
      assert.ok(
        r.headers['set-cookie']?.some((x) => x.startsWith('portcullis')),
        'the refreshed session is stored',
      );
      const refreshed = h.logs.filter((l) => l['event'] === 'session.refresh');
      assert.equal(
        refreshed.length,
        before + 1,
        JSON.stringify(h.logs.filter((l) => String(l['event']).startsWith('session'))),
      );
      assert.equal(refreshed.at(-1)?.['provider'], ID);
      const headers = (JSON.parse(r.body) as { headers: Record<string, string> }).headers;
      assert.equal(headers['x-forwarded-user'], idp.allowed.identity.user, 'the same user after refresh');
    });

    test('a user the provider’s rules refuse gets a 403 page with reasons and no session', async () => {
      const { b, back } = await signIn(idp.denied, '/');
      assert.equal(back.status, 403, `${back.status} at ${back.url}: ${back.body.slice(0, 500)}`);
      assert.match(back.body, /PCL_FORBIDDEN/);
      assert.match(back.body, idp.denied.explains);
      assert.match(back.body, /request id <code>[0-9a-f-]{36}<\/code>/);
      assert.equal(b.jar.get('portcullis', h.url), undefined, 'no session cookie');
      const denied = h.logs.findLast((l) => l['event'] === 'sign-in.denied');
      assert.ok(denied, 'audit event sign-in.denied');
      assert.equal(denied['provider'], ID);
      for (const reason of idp.denied.reasons)
        assert.ok((denied['reasons'] as string[]).includes(reason), reason);
      assert.equal(denied['requestId'], back.headers['x-request-id']);
    });

    test('a replayed callback is refused with an explained error', async () => {
      const b = h.browser();
      const start = await b.get(`${h.url}/oauth2/start?provider=${ID}&rd=/`);
      const flow = b.jar.all().find((x) => x.name.startsWith('portcullis_f_'));
      assert.ok(flow);
      const back = await signInAtIdp(b, start, idp.allowed);
      assert.equal(back.status, 200);
      const callback = back.history.find((u) => u.includes('/oauth2/callback?'));
      assert.ok(callback);
      const attacker = h.browser();
      attacker.jar.set(h.url, flow.name, flow.value);
      const r = await attacker.get(callback);
      assert.equal(r.status, 502, r.body.slice(0, 300));
      assert.match(r.body, /PCL_CODE_EXCHANGE_FAILED/);
      assert.equal(attacker.jar.get('portcullis', h.url), undefined);
    });

    test('no token, secret or cookie value reaches the log', async () => {
      const { b } = await signIn(idp.allowed);
      const raw = h.rawLogs();
      const cookie = b.jar.get('portcullis', h.url);
      assert.ok(cookie);
      assert.ok(!raw.includes(cookie.value.slice(0, 40)), 'cookie value logged');
      for (const s of idp.secrets) assert.ok(!raw.includes(s), 'a secret was logged');
      assert.doesNotMatch(raw, /eyJ[\w-]{10,}\.eyJ/, 'a JWT was logged');
      assert.doesNotMatch(raw, /gh[oupr]_[0-9a-f]{10,}/, 'a GitHub token was logged');
    });

    function idp_refreshTitle(): string {
      return 'refresh where the provider supports it, else the session simply lasts';
    }
  });
}
