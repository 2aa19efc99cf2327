/**
 * State survives: a restart with the sqlite storage loses nothing (tokens, sessions, consent, sign-ins in
 * progress, keys), and two Portcullis instances sharing Redis serve one flow (authorize on one, token on
 * the other).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import * as oc from 'openid-client';
import type { Issuer } from '../../src/issuer/issuer.ts';
import {
  authorizationUrl,
  authorize,
  Browser,
  oauthError,
  redeem,
  rpFor,
  startIssuerStack,
} from '../support/issuer.ts';

const REDIS = process.env['PORTCULLIS_TEST_REDIS'] ?? 'redis://127.0.0.1:6379/0';

async function jwksKids(url: string): Promise<string[]> {
  const r = (await (await fetch(`${url}/oidc/jwks`)).json()) as { keys: { kid: string }[] };
  return r.keys.map((k) => k.kid).sort();
}

describe('sqlite: a restart loses nothing', () => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-issuer-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('tokens, sessions, consent, a sign-in in progress and the keys survive a restart', async () => {
    const file = join(dir, 'state', 'portcullis.db');
    const stack = await startIssuerStack({ storage: { type: 'sqlite', path: file } });
    try {
      assert.equal(statSync(file).mode & 0o777, 0o600);
      const rp = await rpFor(stack, 'rp-post');
      const b = new Browser();
      const { url, checks } = await authorizationUrl(rp);
      const tokens = await redeem(rp, await authorize(b, url), checks);
      // Consent given before the restart, and a second sign-in stopped at the consent page.
      const hub = await rpFor(stack, 'rp-consent');
      const first = await authorizationUrl(hub);
      await redeem(hub, await authorize(b, first.url, { consent: 'allow' }), first.checks);
      const b2 = new Browser();
      const pending = await authorizationUrl(hub);
      const consentPage = await authorize(b2, pending.url, { username: 'bob' });
      assert.match(consentPage.body, /<form[^>]*id="consent"/);
      const kids = await jwksKids(stack.url);

      // Restart: the same configuration, the same port, the same file.
      await stack.gws[0]!.close();
      stack.gws.length = 0;
      await stack.startInstance(Number(new URL(stack.url).port));

      assert.deepEqual(await jwksKids(stack.url), kids, 'the same signing keys');
      const rp2 = await rpFor(stack, 'rp-post');
      assert.equal((await oc.tokenIntrospection(rp2.config, tokens.access_token)).active, true);
      const info = await oc.fetchUserInfo(rp2.config, tokens.access_token, tokens.claims()!.sub);
      assert.equal(info['preferred_username'], 'alice', 'the account survived');
      const refreshed = await oc.refreshTokenGrant(rp2.config, tokens.refresh_token!);
      assert.equal(refreshed.claims()?.sub, tokens.claims()?.sub);
      // The sign-in in progress finishes after the restart.
      const landed = await b2.submitForm(consentPage.body, consentPage.url, { formId: 'consent' });
      assert.ok(landed.url.startsWith(hub.redirectUri), landed.url);
      await redeem(await rpFor(stack, 'rp-consent'), landed, pending.checks);
      // Single sign-on and the remembered consent too: straight through, no IdP, no consent page.
      const again = await authorizationUrl(hub);
      const straight = await b.get(again.url);
      assert.ok(straight.url.startsWith(hub.redirectUri), straight.url);
      assert.ok(!straight.history.some((u) => u.includes('/oauth2/start')));
    } finally {
      await stack.close();
    }
  });

  test('a rotated key signs after the instance picks it up; the old one still verifies', async () => {
    const file = join(dir, 'rotate.db');
    const stack = await startIssuerStack({ storage: { type: 'sqlite', path: file } });
    try {
      const rp = await rpFor(stack, 'rp-basic');
      const { url, checks } = await authorizationUrl(rp);
      const before = await redeem(rp, await authorize(new Browser(), url), checks);
      const oldKid = JSON.parse(Buffer.from(before.id_token!.split('.')[0]!, 'base64url').toString())
        .kid as string;

      // `portcullis keys rotate --now` against the same storage file, as an operator would run it (the
      // staged default is covered in test/keys/rotation.test.ts).
      const { spawnSync } = await import('node:child_process');
      const { writeFileSync } = await import('node:fs');
      const configFile = join(dir, 'rotate.yaml');
      writeFileSync(configFile, JSON.stringify(stack.raw));
      const cli = spawnSync(
        process.execPath,
        ['src/cli/main.ts', 'keys', 'rotate', '--now', '--config', configFile],
        {
          encoding: 'utf8',
        },
      );
      assert.equal(cli.status, 0, cli.stderr);
      assert.match(cli.stdout, /rotated the issuer signing keys \(now version 2\)/, cli.stdout);
      assert.match(cli.stdout, new RegExp(`retired\\s+RS256\\s+${oldKid}\\s+verifies until`));
      const listed = spawnSync(
        process.execPath,
        ['src/cli/main.ts', 'keys', 'list', '--config', configFile],
        {
          encoding: 'utf8',
        },
      );
      assert.equal(listed.status, 0, listed.stderr);
      assert.match(listed.stdout, new RegExp(`retired  RS256  ${oldKid}`));
      assert.equal((listed.stdout.match(/^ {2}active /gm) ?? []).length, 2, listed.stdout);

      assert.equal(await (stack.gws[0]!.ctx.issuer as Issuer).refreshKeys(), true);
      const kids = await jwksKids(stack.url);
      assert.equal(kids.length, 4, 'new and retired keys are published');
      assert.ok(kids.includes(oldKid));
      const second = await authorizationUrl(rp);
      const after_ = await redeem(rp, await authorize(new Browser(), second.url), second.checks);
      const newKid = JSON.parse(Buffer.from(after_.id_token!.split('.')[0]!, 'base64url').toString())
        .kid as string;
      assert.notEqual(newKid, oldKid, 'signed with the new key');
      // An ID token signed with the old key still validates (here as the id_token_hint of a logout).
      const b = new Browser();
      const end = await b.get(
        oc.buildEndSessionUrl(rp.config, {
          id_token_hint: before.id_token!,
          post_logout_redirect_uri: `${stack.sink.url}/basic/bye`,
        }),
      );
      assert.equal(end.status, 200, end.body.slice(0, 300));
    } finally {
      await stack.close();
    }
  });
});

describe('redis: two instances serve one flow', () => {
  const prefix = `portcullis-test:${randomBytes(6).toString('hex')}:`;
  after(async () => {
    const r = new Redis(REDIS);
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) await r.del(...keys);
    } while (cursor !== '0');
    await r.quit();
  });

  test('authorize on one, redeem, refresh, introspect and revoke on the other', async () => {
    const stack = await startIssuerStack({
      storage: { type: 'redis', url: REDIS, keyPrefix: prefix },
      instances: 2,
    });
    try {
      const [a, b] = stack.gws;
      assert.ok(a && b && a.url !== b.url, 'two listeners');
      assert.deepEqual(await jwksKids(a.url), await jwksKids(b.url), 'one key set for both');

      // The browser talks to instance A (the public URL); the service's back channel goes to B.
      const viaB = await rpFor(stack, 'rp-post', { instance: 1 });
      const { url, checks } = await authorizationUrl(viaB);
      assert.ok(url.href.startsWith(`${stack.url}/oidc/auth`), 'the browser goes to A');
      const browser = new Browser();
      const landed = await authorize(browser, url);
      const tokens = await redeem(viaB, landed, checks);
      assert.equal(tokens.claims()?.iss, stack.issuer);
      const info = await oc.fetchUserInfo(viaB.config, tokens.access_token, tokens.claims()!.sub);
      assert.equal(info['email'], 'alice@example.com');

      // Refresh on A, with the token B issued; reuse on B is caught (shared consumed mark) and revokes.
      const viaA = await rpFor(stack, 'rp-post', { instance: 0 });
      const refreshed = await oc.refreshTokenGrant(viaA.config, tokens.refresh_token!);
      assert.equal((await oc.tokenIntrospection(viaB.config, refreshed.access_token)).active, true);
      await assert.rejects(
        oc.refreshTokenGrant(viaB.config, tokens.refresh_token!),
        oauthError('invalid_grant'),
      );
      assert.equal((await oc.tokenIntrospection(viaA.config, refreshed.access_token)).active, false);

      // A code issued through A is replayed at B after being redeemed at A: refused.
      const second = await authorizationUrl(viaA);
      const landed2 = await browser.get(second.url);
      await redeem(viaA, landed2, second.checks);
      await assert.rejects(redeem(viaB, landed2, second.checks), oauthError('invalid_grant'));

      // Revocation on B is seen by A.
      const third = await authorizationUrl(viaA);
      const t3 = await redeem(viaA, await browser.get(third.url), third.checks);
      await oc.tokenRevocation(viaB.config, t3.access_token);
      assert.equal((await oc.tokenIntrospection(viaA.config, t3.access_token)).active, false);
    } finally {
      await stack.close();
    }
  });
});
