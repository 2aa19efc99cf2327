/**
 * The services page (/oauth2/services) lists the issuer's clients that have a display URL, to a signed-in
 * user the access rules let through; and the `allow` configuration (not a policy patched in) keeps a
 * denied user from getting a code at /oidc/auth.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { resolveConfig } from '../../src/config/load.ts';
import type { RawConfig } from '../../src/config/schema.ts';
import {
  authorizationUrl,
  authorize,
  Browser,
  type IssuerStack,
  rpFor,
  startIssuerStack,
} from '../support/issuer.ts';
import { startStack } from '../support/stack.ts';

describe('services page and issuer access rules from the configuration', () => {
  let stack: IssuerStack;
  before(async () => {
    stack = await startIssuerStack({
      config: (base) => ({ ...base, allow: { emails: ['alice@example.com'] } }),
    });
  });
  after(() => stack.close());

  test('signed in: the page lists services with a display URL, escaped, sorted by name', async () => {
    const b = new Browser();
    const first = await b.get(`${stack.url}/oauth2/services`);
    assert.equal(new URL(first.url).pathname, '/oauth2/sign_in', 'sent to sign in first');
    const login = await b.get(`${stack.url}/oauth2/start?provider=test&rd=%2Foauth2%2Fservices`);
    const signedIn = await b.signInAtDevIdp(login, 'alice', 'alice');
    assert.equal(signedIn.status, 200);
    assert.equal(new URL(signedIn.url).pathname, '/oauth2/services');
    assert.match(signedIn.body, /<h1>Services<\/h1>/);
    assert.match(signedIn.body, /<a href="https:\/\/hub\.example\.com\/">Notebook Hub<\/a>/);
    assert.match(signedIn.body, /Shared notebooks/);
    // rp-post has a display name but no URL: nothing to link to, so it is not listed.
    assert.doesNotMatch(signedIn.body, /Post Service/);
    assert.match(String(signedIn.headers['content-security-policy']), /default-src 'none'/);

    const json = await b.get(`${stack.url}/oauth2/services`, { headers: { accept: 'application/json' } });
    assert.equal(json.status, 200);
    assert.deepEqual(JSON.parse(json.body), {
      services: [
        {
          id: 'rp-consent',
          name: 'Notebook Hub',
          url: 'https://hub.example.com/',
          description: 'Shared notebooks',
        },
      ],
    });
  });

  test('without a session: a navigation is sent to sign in and back, an API client gets 401 JSON', async () => {
    const nav = await new Browser().get(`${stack.url}/oauth2/services`, { followRedirects: false });
    assert.equal(nav.status, 302);
    const loc = new URL(nav.headers.location!, stack.url);
    assert.equal(loc.searchParams.get('rd'), '/oauth2/services');
    const api = await new Browser().get(`${stack.url}/oauth2/services`, {
      headers: { accept: 'application/json' },
    });
    assert.equal(api.status, 401);
    assert.equal(JSON.parse(api.body).error, 'PCL_UNAUTHENTICATED');
  });

  test('a user the allow rules deny sees the 403 page on the services page and gets no code', async () => {
    const rp = await rpFor(stack, 'rp-post');
    const { url } = await authorizationUrl(rp);
    const b = new Browser();
    const r = await authorize(b, url, { username: 'bob' });
    assert.equal(r.status, 403);
    assert.match(r.body, /Error PCL_FORBIDDEN · HTTP 403/);
    assert.ok(!r.history.some((u) => u.startsWith(stack.sink.url)), 'never sent to the service');
    const audit = stack.logs.find((l) => l['event'] === 'sign-in.denied' && l['sub'] === 'bob');
    assert.deepEqual(audit?.['reasons'], ['email-not-allowed']);
    // No gate session was made for bob: the services page sends him to sign in, and that denies him again.
    const page = await b.get(`${stack.url}/oauth2/services`);
    assert.equal(new URL(page.url).pathname, '/oauth2/sign_in');
    const again = await b.get(`${stack.url}/oauth2/start?provider=test&rd=%2Foauth2%2Fservices`);
    assert.equal(again.status, 403);
    assert.match(again.body, /You do not have access/);
  });

  test('rules reloaded while signed in: the services page answers 403 with the reasons', async () => {
    const b = new Browser();
    const login = await b.get(`${stack.url}/oauth2/start?provider=test&rd=%2Foauth2%2Fservices`);
    assert.equal((await b.signInAtDevIdp(login, 'alice', 'alice')).status, 200);
    const gw = stack.gws[0]!;
    gw.reload(resolveConfig({ ...stack.raw, allow: { emailDomains: ['example.org'] } } as RawConfig));
    try {
      const r = await b.get(`${stack.url}/oauth2/services`, { headers: { accept: 'application/json' } });
      assert.equal(r.status, 403);
      const body = JSON.parse(r.body) as { error: string; reasons?: string[]; requestId: string };
      assert.equal(body.error, 'PCL_FORBIDDEN');
      assert.deepEqual(body.reasons, ['email-domain-not-allowed']);
      assert.equal(r.headers['x-request-id'], body.requestId);
    } finally {
      gw.reload(resolveConfig(stack.raw as RawConfig));
    }
  });
});

test('without an issuer /oauth2/services is still the gate’s: 404, never proxied to the upstream', async () => {
  const stack = await startStack();
  try {
    const b = await stack.signIn('alice', '/');
    const r = await b.get(`${stack.url}/oauth2/services`, { headers: { accept: 'application/json' } });
    assert.equal(r.status, 404);
    assert.equal((JSON.parse(r.body) as { error: string }).error, 'PCL_NOT_FOUND');
    for (const path of ['/oidc/.well-known/openid-configuration', '/oauth2/nothing', '/oauth2']) {
      const other = await b.get(`${stack.url}${path}`, { headers: { accept: 'application/json' } });
      assert.equal(other.status, 404, path);
    }
  } finally {
    await stack.close();
  }
});
