/**
 * Mounting: /oidc is the issuer's only when configured; behind TLS termination (an https publicUrl) the
 * issuer writes https URLs and Secure, __Secure- cookies; a configuration reload brings new clients.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { resolveConfig } from '../../src/config/load.ts';
import type { RawConfig } from '../../src/config/schema.ts';
import type { Issuer } from '../../src/issuer/issuer.ts';
import { KeyStore } from '../../src/keys/store.ts';
import { authorizationUrl, authorize, Browser, redeem, rpFor, startIssuerStack } from '../support/issuer.ts';
import { startStack } from '../support/stack.ts';

test('without issuer, /oidc is still reserved: 404 PCL_NOT_FOUND, never proxied to the upstream', async () => {
  const stack = await startStack();
  try {
    assert.equal(stack.gw.ctx.issuer, undefined);
    const b = await stack.signIn('alice', '/');
    const r = await b.get(`${stack.url}/oidc/.well-known/openid-configuration`, {
      headers: { accept: 'application/json' },
    });
    assert.equal(r.status, 404);
    assert.equal((JSON.parse(r.body) as { error: string }).error, 'PCL_NOT_FOUND');
  } finally {
    await stack.close();
  }
});

test('behind TLS termination: https URLs, and the cookies are Secure with the __Secure- prefix', async () => {
  const stack = await startIssuerStack({
    config: (base) => ({ ...base, publicUrl: String(base['publicUrl']).replace('http:', 'https:') }),
  });
  try {
    const discovery = (await (
      await fetch(`${stack.gws[0]!.url}/oidc/.well-known/openid-configuration`)
    ).json()) as Record<string, string>;
    const httpsUrl = stack.url.replace('http:', 'https:');
    assert.equal(discovery['issuer'], `${httpsUrl}/oidc`);
    assert.equal(discovery['token_endpoint'], `${httpsUrl}/oidc/token`);
    const auth = new URL(`${stack.gws[0]!.url}/oidc/auth`);
    auth.search = new URLSearchParams({
      client_id: 'rp-post',
      response_type: 'code',
      redirect_uri: `${stack.sink.url}/post/callback`,
      scope: 'openid',
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
      code_challenge_method: 'S256',
      state: 'st',
    }).toString();
    const r = await fetch(auth, { redirect: 'manual' });
    assert.equal(r.status, 303);
    assert.match(r.headers.get('location') ?? '', /^\/oidc\/interaction\//);
    const cookies = r.headers.getSetCookie();
    const interaction = cookies.find((c) => c.startsWith('__Secure-portcullis_oidc_interaction='));
    assert.ok(interaction, cookies.join('\n'));
    assert.match(interaction, /; secure/i);
    assert.match(interaction, /; httponly/i);
    assert.match(interaction, /; path=\/oidc\/interaction\//i);
  } finally {
    await stack.close();
  }
});

test('a reloaded configuration brings a new client without a restart', async () => {
  const stack = await startIssuerStack();
  try {
    const gw = stack.gws[0]!;
    const secret = randomBytes(32).toString('base64url');
    const raw = structuredClone(stack.raw) as { issuer: { clients: Record<string, unknown>[] } };
    raw.issuer.clients.push({
      id: 'late',
      secret,
      redirectUris: [`${stack.sink.url}/late/callback`],
      skipConsent: true,
    });
    const next = resolveConfig(raw as unknown as RawConfig);
    const probe = `${stack.issuer}/auth?client_id=late&response_type=code&scope=openid&redirect_uri=${encodeURIComponent(`${stack.sink.url}/late/callback`)}`;
    assert.equal((await fetch(probe, { redirect: 'manual' })).status, 400, 'unknown before the reload');
    gw.reload(next);
    // The gateway rebuilds the issuer in the background (keys come from storage): wait until it knows the client.
    const deadline = Date.now() + 5_000;
    while ((await fetch(probe, { redirect: 'manual' })).status !== 303) {
      assert.ok(Date.now() < deadline, 'the new client never appeared');
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(gw.ctx.issuer as Issuer, 'the same issuer stays mounted');
    const rp = await rpFor(stack, 'rp-post', { secret });
    const late = { ...rp, clientId: 'late', redirectUri: `${stack.sink.url}/late/callback` };
    const oc = await import('openid-client');
    const config = await oc.discovery(
      new URL(stack.issuer),
      'late',
      undefined,
      oc.ClientSecretBasic(secret),
      {
        execute: [oc.allowInsecureRequests],
      },
    );
    const { url, checks } = await authorizationUrl({ ...late, config });
    const tokens = await redeem({ ...late, config }, await authorize(new Browser(), url), checks);
    assert.equal(tokens.claims()?.aud, 'late');
  } finally {
    await stack.close();
  }
});

test('a retired key whose window has passed rebuilds the issuer once, not on every key poll', async () => {
  const stack = await startIssuerStack();
  try {
    const issuer = stack.gws[0]!.ctx.issuer as Issuer;
    const store = new KeyStore(issuer.storage, stack.gws[0]!.ctx.config.cookieKeys);
    // Rotated long ago with no verification window: the retired key has lapsed already.
    await store.rotate(Math.floor(Date.now() / 1000) - 10_000, 0);
    assert.equal(await issuer.refreshKeys(), true, 'the new version is picked up');
    assert.equal(await issuer.refreshKeys(), false, 'nothing changed since');
    assert.equal(await issuer.refreshKeys(), false);
    const reloads = stack.logs.filter((l) => l['event'] === 'issuer.keys-reloaded');
    assert.equal(reloads.length, 1);
  } finally {
    await stack.close();
  }
});
