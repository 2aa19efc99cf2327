/**
 * Every surface of the one authorize step (SURFACES in src/policy/authorize.ts), driven with a user the
 * rules no longer admit, is refused — and names itself in the denial's audit line, so the refusal is the
 * authorize step's and not some other check's. The table is typed by surface and compared with SURFACES
 * at run time: a surface added without a way to drive it here fails the type check and this file.
 *
 * alice signs in (gate and issuer) while the rules admit her; a reload then drops her from `allow`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { importJWK, SignJWT } from 'jose';
import * as oc from 'openid-client';
import { resolveConfig } from '../../src/config/load.ts';
import type { RawConfig } from '../../src/config/schema.ts';
import { SURFACES, type Surface } from '../../src/policy/authorize.ts';
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
import { openWebSocket, rawRequest } from '../support/raw.ts';
import type { LogLine } from '../support/stack.ts';

let stack: IssuerStack;

/** alice's state, made while the rules admitted her. */
interface Alice {
  /** A browser with her gate session (signed in at /oauth2/start). */
  readonly gate: Browser;
  /** A browser with her gate and issuer sessions (signed in to a service). */
  readonly issuer: Browser;
  /** An authorization response with a code not yet redeemed. */
  readonly code: {
    rp: Rp;
    landed: Awaited<ReturnType<typeof authorize>>;
    checks: { verifier: string; state: string; nonce: string };
  };
  /** Tokens of three more grants, one per back-channel surface (a refusal revokes its grant). */
  readonly refresh: { rp: Rp; tokens: oc.TokenEndpointResponse };
  readonly userinfo: { rp: Rp; tokens: oc.TokenEndpointResponse };
  readonly introspection: { rp: Rp; tokens: oc.TokenEndpointResponse };
}
let alice: Alice;

async function grant(rp: Rp): Promise<{ rp: Rp; tokens: oc.TokenEndpointResponse }> {
  const { url, checks } = await authorizationUrl(rp);
  return { rp, tokens: await redeem(rp, await authorize(new Browser(), url, { username: 'alice' }), checks) };
}

before(async () => {
  const allow = (emails: string[]) => ({ emails });
  stack = await startIssuerStack({
    config: (c) => ({
      ...c,
      allow: allow(['alice@example.com', 'bob@example.com']),
      // Her JWTs are accepted as bearer tokens on /api/ (src/bearer/).
      providers: (c['providers'] as Record<string, unknown>[]).map((p) => ({ ...p, bearer: {} })),
      routes: [{ path: '/api/', api: true, bearer: true }],
      // The operator console, for admins (alice is one): its surface asks the gate's rules first.
      admin: { enabled: true, allow: { groups: ['admins'] } },
    }),
  });
  const gate = new Browser();
  const back = await gate.signInAtDevIdp(
    await gate.get(`${stack.url}/oauth2/start?rd=%2F`),
    'alice',
    'alice',
  );
  assert.equal(back.status, 200, 'alice is admitted before the change');
  const post = await rpFor(stack, 'rp-post');
  const basic = await rpFor(stack, 'rp-basic');
  const pub = await rpFor(stack, 'rp-public');
  const issuer = new Browser();
  const first = await authorizationUrl(post);
  await redeem(post, await authorize(issuer, first.url, { username: 'alice' }), first.checks);
  const pending = await authorizationUrl(basic);
  const landed = await authorize(new Browser(), pending.url, { username: 'alice' });
  assert.ok(new URL(landed.url).searchParams.get('code'));
  alice = {
    gate,
    issuer,
    code: { rp: basic, landed, checks: pending.checks },
    refresh: await grant(pub),
    userinfo: await grant(post),
    introspection: await grant(basic),
  };
  stack.gws[0]!.reload(resolveConfig({ ...stack.raw, allow: allow(['bob@example.com']) } as RawConfig));
});
after(() => stack.close());

const cookie = () => alice.gate.jar.header(stack.url);

/** How each surface is driven; each must end refused. Several ways for one surface are all run. */
const DRIVE: Record<Surface, Record<string, () => Promise<void>>> = {
  request: {
    'a proxied page: 403': async () => {
      const r = await alice.gate.get(`${stack.url}/anything`);
      assert.equal(r.status, 403);
      assert.match(r.body, /Error PCL_FORBIDDEN · HTTP 403/);
    },
  },
  upgrade: {
    'a WebSocket upgrade: 403, not upgraded': async () => {
      const ws = await openWebSocket(stack.url, '/ws', ['Cookie', cookie()]);
      if (ws.upgraded) ws.ws.close();
      assert.equal(ws.upgraded, false);
      if (!ws.upgraded) assert.equal(ws.status, 403);
    },
  },
  bearer: {
    'her bearer JWT on a bearer route: 403 insufficient_scope': async () => {
      const key = stack.idp.signingKey;
      const token = await new SignJWT({ email: 'alice@example.com', email_verified: true })
        .setProtectedHeader({ alg: 'RS256', kid: key.kid as string })
        .setIssuer(stack.idp.issuer)
        .setSubject(stack.idp.users.find((u) => u.username === 'alice')!.sub!)
        .setAudience('portcullis-test')
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(await importJWK(key, 'RS256'));
      const r = await fetch(`${stack.url}/api/x`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(r.status, 403);
      assert.match(r.headers.get('www-authenticate') ?? '', /^Bearer error="insufficient_scope"/);
    },
  },
  'forward-auth': {
    '/oauth2/auth: 403': async () => {
      const r = await rawRequest(stack.url, {
        path: '/oauth2/auth',
        headers: ['Host', new URL(stack.url).host, 'Cookie', cookie(), 'X-Forwarded-Uri', '/x'],
      });
      assert.equal(r.status, 403);
    },
  },
  services: {
    '/oauth2/services: 403': async () => {
      const r = await alice.gate.get(`${stack.url}/oauth2/services`);
      assert.equal(r.status, 403);
    },
  },
  'sign-in': {
    'the callback: 403, no session': async () => {
      const b = new Browser();
      const r = await b.signInAtDevIdp(await b.get(`${stack.url}/oauth2/start?rd=%2F`), 'alice', 'alice');
      assert.equal(r.status, 403);
      assert.equal((await b.get(`${stack.url}/oauth2/userinfo`)).status, 401, 'no session');
    },
  },
  'issuer.authorization': {
    '/oidc/auth with gate and issuer sessions: 403, no code': async () => {
      const rp = await rpFor(stack, 'rp-post');
      const r = await alice.issuer.get((await authorizationUrl(rp)).url);
      assert.equal(r.status, 403);
      assert.ok(!r.history.some((u) => u.startsWith(stack.sink.url)), 'never sent to the service');
    },
  },
  'issuer.token': {
    'authorization_code redemption: invalid_grant': async () => {
      const { rp, landed, checks } = alice.code;
      await assert.rejects(redeem(rp, landed, checks), oauthError('invalid_grant'));
    },
    'refresh_token: invalid_grant': async () => {
      const { rp, tokens } = alice.refresh;
      await assert.rejects(
        oc.refreshTokenGrant(rp.config, tokens.refresh_token!),
        oauthError('invalid_grant'),
      );
    },
  },
  'issuer.userinfo': {
    '/oidc/me: 403 insufficient_scope': async () => {
      const r = await fetch(`${stack.issuer}/me`, {
        headers: { authorization: `Bearer ${alice.userinfo.tokens.access_token}` },
      });
      assert.equal(r.status, 403);
      assert.match(r.headers.get('www-authenticate') ?? '', /^Bearer .*error="insufficient_scope"/);
    },
  },
  console: {
    '/oauth2/admin: 403 page': async () => {
      const r = await alice.gate.get(`${stack.url}/oauth2/admin`);
      assert.equal(r.status, 403);
      assert.match(r.body, /Error PCL_FORBIDDEN · HTTP 403/);
    },
  },
  'issuer.introspection': {
    'introspection of her access token: active false': async () => {
      const { rp, tokens } = alice.introspection;
      assert.deepEqual(await oc.tokenIntrospection(rp.config, tokens.access_token), { active: false });
    },
  },
};

function denialFor(from: number, surface: Surface): LogLine | undefined {
  return stack.logs
    .slice(from)
    .find((l) => typeof l['event'] === 'string' && /\.denied$/.test(l['event']) && l['surface'] === surface);
}

describe('every surface refuses a user the rules no longer admit', () => {
  for (const surface of SURFACES) {
    for (const [how, drive] of Object.entries(DRIVE[surface])) {
      test(`${surface}: ${how}`, async () => {
        const mark = stack.logs.length;
        await drive();
        const line = denialFor(mark, surface);
        assert.ok(line, `a denial audited with surface ${surface}`);
        assert.deepEqual(line['reasons'], ['email-not-allowed']);
        assert.equal(line['email'], 'alice@example.com');
      });
    }
  }
});

test('the table covers every entry of SURFACES, and nothing else', () => {
  assert.deepEqual(Object.keys(DRIVE).sort(), [...SURFACES].sort());
  for (const surface of SURFACES) assert.ok(Object.keys(DRIVE[surface]).length > 0, surface);
});
