/**
 * A user the access rules stop admitting gets nothing more from the issuer (security review, item 4): after
 * a reload that drops alice from `allow`, her refresh tokens are refused (invalid_grant), userinfo refuses
 * her still-valid access token (403 insufficient_scope), introspection calls her tokens inactive, a code
 * issued before the change cannot be redeemed, the denial is audited and counted, and the grant is revoked —
 * putting the rules back does not revive it. Offline (offline_access, signed out of the gate) and
 * session-bound grants alike; bob, still admitted, keeps refreshing. Real parts throughout: the dev IdP
 * upstream, Portcullis's issuer, openid-client as the services.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as oc from 'openid-client';
import { resolveConfig } from '../../src/config/load.ts';
import type { RawConfig } from '../../src/config/schema.ts';
import { accountIdFor } from '../../src/issuer/accounts.ts';
import type { Issuer } from '../../src/issuer/issuer.ts';
import {
  authorizationUrl,
  authorize,
  Browser,
  type IssuerStack,
  oauthError,
  type Rp,
  redeem,
  rpFor,
  startIssuerStack,
} from '../support/issuer.ts';
import type { LogLine } from '../support/stack.ts';

const BOTH = ['alice@example.com', 'bob@example.com'];
const BOB_ONLY = ['bob@example.com'];

let stack: IssuerStack;
before(async () => {
  stack = await startIssuerStack({ config: (c) => ({ ...c, allow: { emails: BOTH } }) });
});
after(() => stack.close());

/** Reloads the running gateway with these allowed e-mail addresses (what SIGHUP does after an edit). */
function allowOnly(emails: string[]): void {
  stack.gws[0]!.reload(resolveConfig({ ...stack.raw, allow: { emails } } as RawConfig));
}

async function denials(reason: string): Promise<number> {
  const text = await stack.gws[0]!.ctx.metrics.registry.metrics();
  const m = new RegExp(`^portcullis_denials_total\\{reason="${reason}"\\} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

type Kind = 'offline' | 'session';
type Tokens = Awaited<ReturnType<typeof redeem>>;

/** Signs `username` in to a service in browser `b` and redeems the code. */
async function tokensFor(b: Browser, rp: Rp, username: string, kind: Kind): Promise<Tokens> {
  const extra =
    kind === 'offline'
      ? { scope: 'openid profile email groups offline_access', prompt: 'consent' }
      : { scope: 'openid profile email groups' };
  const { url, checks } = await authorizationUrl(rp, extra);
  const tokens = await redeem(rp, await authorize(b, url, { username }), checks);
  assert.ok(tokens.refresh_token, 'a refresh token');
  assert.equal(tokens.scope?.includes('offline_access'), kind === 'offline', tokens.scope);
  return tokens;
}

function userinfo(accessToken: string): Promise<Response> {
  return fetch(`${stack.issuer}/me`, { headers: { authorization: `Bearer ${accessToken}` } });
}

function deniedLine(from: number, surface: string, client: string): LogLine | undefined {
  return stack.logs
    .slice(from)
    .find((l) => l['event'] === 'issuer.denied' && l['surface'] === surface && l['client'] === client);
}

for (const kind of ['offline', 'session'] as const) {
  describe(`${kind} grants of a user the rules stop admitting`, () => {
    test('refresh, userinfo and introspection refuse her, the denial is recorded, the grant is gone for good', async (t) => {
      t.after(() => allowOnly(BOTH));
      const rps = {
        post: await rpFor(stack, 'rp-post'),
        basic: await rpFor(stack, 'rp-basic'),
        public: await rpFor(stack, 'rp-public'),
      };
      // alice holds a grant with each of three services (so each refusal below meets a live grant); bob one.
      const alice = new Browser();
      const a = {
        post: await tokensFor(alice, rps.post, 'alice', kind),
        basic: await tokensFor(alice, rps.basic, 'alice', kind),
        public: await tokensFor(alice, rps.public, 'alice', kind),
      };
      const bob = new Browser();
      let b = await tokensFor(bob, rps.post, 'bob', kind);
      // An offline grant outlives the gate session: sign out first, the rules must still reach it.
      if (kind === 'offline') await alice.get(`${stack.url}/oauth2/sign_out`);
      // Before the change everything works (so the refusals below are the rules').
      assert.equal((await userinfo(a.post.access_token)).status, 200);

      const mark = stack.logs.length;
      const before = await denials('email-not-allowed');
      allowOnly(BOB_ONLY);

      // 1. userinfo with her still-valid access token: 403 insufficient_scope (RFC 6750 §3.1), no claims.
      const info = await userinfo(a.post.access_token);
      assert.equal(info.status, 403);
      const challenge = info.headers.get('www-authenticate') ?? '';
      assert.match(challenge, /^Bearer /);
      assert.match(challenge, /error="insufficient_scope"/);
      assert.doesNotMatch(challenge, /scope="/, 'no scope would help');
      const body = (await info.json()) as Record<string, unknown>;
      assert.equal(body['error'], 'insufficient_scope');
      assert.equal(body['email'], undefined);
      // That revoked the grant: the token is gone now, and so is the refresh token.
      assert.equal((await userinfo(a.post.access_token)).status, 401);
      assert.equal((await oc.tokenIntrospection(rps.post.config, a.post.access_token)).active, false);
      assert.equal((await oc.tokenIntrospection(rps.post.config, a.post.refresh_token!)).active, false);
      await assert.rejects(
        oc.refreshTokenGrant(rps.post.config, a.post.refresh_token!),
        oauthError('invalid_grant'),
      );

      // 2. Introspection of a live grant's refresh and access tokens: {"active": false}.
      assert.deepEqual(await oc.tokenIntrospection(rps.basic.config, a.basic.refresh_token!), {
        active: false,
      });
      assert.deepEqual(await oc.tokenIntrospection(rps.basic.config, a.basic.access_token), {
        active: false,
      });
      await assert.rejects(
        oc.refreshTokenGrant(rps.basic.config, a.basic.refresh_token!),
        oauthError('invalid_grant'),
      );

      // 3. Refresh of a live grant: invalid_grant, and its access token goes with it.
      await assert.rejects(
        oc.refreshTokenGrant(rps.public.config, a.public.refresh_token!),
        oauthError('invalid_grant'),
      );
      assert.equal((await oc.tokenIntrospection(rps.public.config, a.public.access_token)).active, false);
      assert.equal((await userinfo(a.public.access_token)).status, 401);

      // Audited per surface with the service, counted by reason, the revocation logged.
      const sub = accountIdFor('test', 'alice');
      for (const [surface, client] of [
        ['issuer.userinfo', 'rp-post'],
        ['issuer.introspection', 'rp-basic'],
        ['issuer.token', 'rp-public'],
      ] as const) {
        const line = deniedLine(mark, surface, client);
        assert.ok(line, `issuer.denied for ${surface} (${client})`);
        assert.deepEqual(line['reasons'], ['email-not-allowed']);
        assert.equal(line['code'], 'PCL_FORBIDDEN');
        assert.equal(line['email'], 'alice@example.com');
        assert.equal(line['provider'], 'test');
        assert.equal(typeof line['requestId'], 'string');
        const revoked = stack.logs
          .slice(mark)
          .find((l) => l['event'] === 'issuer.grant-revoked' && l['surface'] === surface);
        assert.equal(revoked?.['why'], 'access-rules');
        assert.equal(revoked?.['sub'], sub);
      }
      // One denial per grant: the refusals after the revocation find no grant to ask the rules about.
      assert.equal(await denials('email-not-allowed'), before + 3);

      // bob, still admitted, keeps refreshing (and his userinfo answers).
      b = await oc.refreshTokenGrant(rps.post.config, b.refresh_token!);
      assert.equal((await userinfo(b.access_token)).status, 200);
      assert.equal((await oc.tokenIntrospection(rps.post.config, b.access_token)).active, true);

      // Putting alice back does not resurrect the revoked grants: a new sign-in is needed…
      allowOnly(BOTH);
      for (const [rp, tokens] of [
        [rps.post, a.post],
        [rps.basic, a.basic],
        [rps.public, a.public],
      ] as const) {
        await assert.rejects(
          oc.refreshTokenGrant(rp.config, tokens.refresh_token!),
          oauthError('invalid_grant'),
        );
        assert.equal((await oc.tokenIntrospection(rp.config, tokens.access_token)).active, false);
      }
      // …and works: a new grant, and bob's carries on.
      const fresh = await tokensFor(new Browser(), rps.post, 'alice', kind);
      assert.ok((await oc.refreshTokenGrant(rps.post.config, fresh.refresh_token!)).access_token);
      assert.ok((await oc.refreshTokenGrant(rps.post.config, b.refresh_token!)).access_token);
    });
  });
}

test('a code issued before the rules changed cannot be redeemed (invalid_grant), and is audited as issuer.token', async (t) => {
  t.after(() => allowOnly(BOTH));
  const rp = await rpFor(stack, 'rp-basic');
  const { url, checks } = await authorizationUrl(rp);
  const landed = await authorize(new Browser(), url, { username: 'alice' });
  assert.ok(new URL(landed.url).searchParams.get('code'), 'a code');
  const mark = stack.logs.length;
  allowOnly(BOB_ONLY);
  await assert.rejects(redeem(rp, landed, checks), oauthError('invalid_grant'));
  assert.ok(deniedLine(mark, 'issuer.token', 'rp-basic'), 'issuer.denied for the code redemption');
});

test('client_credentials has no user: a rules change does not touch it', async (t) => {
  t.after(() => allowOnly(BOTH));
  allowOnly([]);
  const svc = await rpFor(stack, 'svc');
  const token = await oc.clientCredentialsGrant(svc.config, { scope: 'openid' });
  assert.equal((await oc.tokenIntrospection(svc.config, token.access_token)).active, true);
});

test('an account stored without a principal (before this change) fails closed: refused and revoked', async () => {
  const rp = await rpFor(stack, 'rp-post');
  const tokens = await tokensFor(new Browser(), rp, 'bob', 'session');
  // What an account looked like before the principal was stored with it: the claims only.
  const id = accountIdFor('test', 'bob');
  const storage = (stack.gws[0]!.ctx.issuer as Issuer).storage;
  const stored = (await storage.find('PortcullisAccount', id))!;
  assert.equal((stored['identity'] as { sub?: string } | undefined)?.sub, 'bob', 'the principal is stored');
  const { identity: _identity, ...old } = stored;
  await storage.upsert('PortcullisAccount', id, old, { expiresIn: 600 });
  const mark = stack.logs.length;
  await assert.rejects(oc.refreshTokenGrant(rp.config, tokens.refresh_token!), oauthError('invalid_grant'));
  const revoked = stack.logs.slice(mark).find((l) => l['event'] === 'issuer.grant-revoked');
  assert.equal(revoked?.['why'], 'no-principal');
  assert.equal((await oc.tokenIntrospection(rp.config, tokens.access_token)).active, false);
  // Signing in again stores the principal: the service works again.
  const again = await tokensFor(new Browser(), rp, 'bob', 'session');
  assert.ok((await oc.refreshTokenGrant(rp.config, again.refresh_token!)).access_token);
});
