/**
 * Security invariants of the sign-in flow against a real IdP whose token responses are tampered with:
 * state, replay, nonce, signature, alg none, aud/azp, iss, exp, at_hash, RFC 9207 iss, open redirects.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import type { Browser, BrowserResponse } from '../support/browser.ts';
import type { IdTokenPatch, ResignOptions } from '../support/idp.ts';
import { type Stack, startStack } from '../support/stack.ts';

let stack: Stack;
let stopTamper: (() => void) | undefined;

before(async () => {
  stack = await startStack({ config: (c) => ({ ...c, allowedRedirectDomains: ['.trusted.example'] }) });
});
after(() => stack.close());
afterEach(() => {
  stopTamper?.();
  stopTamper = undefined;
});

function assertErrorPage(r: BrowserResponse, status: number, code: string): void {
  assert.equal(r.status, status, `${r.status} at ${r.url}: ${r.body.slice(0, 400)}`);
  assert.match(r.body, new RegExp(code));
  assert.match(r.body, /request id <code>[0-9a-f-]{36}<\/code>/);
  assert.equal(r.headers['x-request-id']?.length, 36);
  assert.doesNotMatch(r.body, /at [\w.]+ \(|node:internal|\.ts:\d+/, 'no stack trace on the page');
}

async function signInWithTamperedToken(patch: IdTokenPatch, opts?: ResignOptions) {
  stopTamper = stack.idp.tamperIdTokens(patch, opts);
  const b = stack.browser();
  const login = await b.get(`${stack.url}/oauth2/start?rd=/`);
  const r = await b.signInAtDevIdp(login, 'alice', 'alice');
  return { r, session: b.jar.get('portcullis', stack.url) };
}

/** Starts a sign-in, submits the IdP form and follows redirects by hand up to (not into) the callback. */
async function walkToCallback(rd = '/'): Promise<{ b: Browser; callback: URL }> {
  const b = stack.browser();
  const login = await b.get(`${stack.url}/oauth2/start?rd=${encodeURIComponent(rd)}`);
  const action = /<form[^>]*id="login"[^>]*action="([^"]+)"|<form[^>]*action="([^"]+)"[^>]*id="login"/.exec(
    login.body,
  );
  assert.ok(action, 'login form');
  let r = await b.post(
    new URL((action[1] ?? action[2])!.replaceAll('&amp;', '&'), login.url),
    { username: 'alice', password: 'alice' },
    { followRedirects: false },
  );
  let location = r.headers.location;
  while (location && !location.includes('/oauth2/callback?')) {
    r = await b.get(new URL(location, r.url), { followRedirects: false });
    location = r.headers.location;
  }
  assert.ok(location, 'reached the redirect to the callback');
  return { b, callback: new URL(location, r.url) };
}

describe('callback state', () => {
  test('an unknown state is refused with an explained page', async () => {
    const r = await stack.browser().get(`${stack.url}/oauth2/callback?state=bogus&code=abc`);
    assertErrorPage(r, 400, 'PCL_STATE_UNKNOWN');
    const line = stack.logs.findLast((l) => l['code'] === 'PCL_STATE_UNKNOWN');
    assert.ok(line?.['requestId'], 'the log carries the same request id');
  });

  test('a state that does not match this browser’s flow is refused', async () => {
    const { b, callback } = await walkToCallback();
    callback.searchParams.set('state', `${callback.searchParams.get('state')}x`);
    assertErrorPage(await b.get(callback), 400, 'PCL_STATE_UNKNOWN');
    assert.equal(b.jar.get('portcullis', stack.url), undefined);
  });

  test('a callback started in another browser is refused (login CSRF)', async () => {
    const { callback } = await walkToCallback();
    const victim = stack.browser();
    assertErrorPage(await victim.get(callback), 400, 'PCL_STATE_UNKNOWN');
    assert.equal(victim.jar.get('portcullis', stack.url), undefined);
  });

  test('a replayed callback is refused, with or without the flow cookie', async () => {
    const b = stack.browser();
    const login = await b.get(`${stack.url}/oauth2/start?rd=/`);
    const flowCookies = b.jar.all().filter((c) => c.name.startsWith('portcullis_f_'));
    assert.equal(flowCookies.length, 1);
    const back = await b.signInAtDevIdp(login, 'alice', 'alice');
    const callbackUrl = back.history.find((u) => u.includes('/oauth2/callback?'));
    assert.ok(callbackUrl);
    // Same browser: the flow cookie was consumed.
    assertErrorPage(await b.get(callbackUrl), 400, 'PCL_STATE_UNKNOWN');
    // An attacker who also captured the flow cookie: the IdP refuses the used code.
    const attacker = stack.browser();
    attacker.jar.set(stack.url, flowCookies[0]!.name, flowCookies[0]!.value);
    const r = await attacker.get(callbackUrl);
    assertErrorPage(r, 502, 'PCL_CODE_EXCHANGE_FAILED');
    assert.equal(attacker.jar.get('portcullis', stack.url), undefined);
  });

  test('an error from the IdP is shown with what to do', async () => {
    const b = stack.browser();
    const login = await b.get(`${stack.url}/oauth2/start?rd=/`);
    const r = await b.submitForm(login.body, login.url, { formId: 'abort' }).catch(async () => {
      // The dev IdP's cancel button: POST /interaction/:uid/abort.
      const uid = new URL(login.url).pathname.split('/')[2];
      return b.post(`${stack.idp.issuer}/interaction/${uid}/abort`, {});
    });
    assertErrorPage(r, 400, 'PCL_IDP_ERROR');
    assert.match(r.body, /access_denied/);
    assert.match(r.body, /Try again/);
  });
});

describe('ID token validation', () => {
  const cases: [string, IdTokenPatch, ResignOptions?][] = [
    [
      'nonce mismatch',
      (c) => {
        c.nonce = 'not-the-nonce';
      },
    ],
    ['bad signature', () => {}, { key: 'foreign' }],
    ['alg none', () => {}, { alg: 'none' }],
    [
      'wrong aud',
      (c) => {
        c.aud = 'someone-else';
      },
    ],
    [
      'untrusted extra aud',
      (c) => void Object.assign(c, { aud: ['portcullis-test', 'other-app'], azp: 'portcullis-test' }),
    ],
    ['wrong azp', (c) => void Object.assign(c, { aud: ['portcullis-test', 'other-app'], azp: 'other-app' })],
    [
      'wrong iss',
      (c) => {
        c.iss = 'https://evil.example';
      },
    ],
    [
      'expired',
      (c) =>
        void Object.assign(c, {
          exp: Math.floor(Date.now() / 1000) - 3600,
          iat: Math.floor(Date.now() / 1000) - 7200,
        }),
    ],
    [
      'at_hash mismatch',
      (c) => {
        c.at_hash = 'AAAAAAAAAAAAAAAAAAAAAA';
      },
    ],
    ['missing sub', (c) => void delete c.sub],
  ];
  for (const [name, patch, opts] of cases) {
    test(`${name} → rejected`, async () => {
      const { r, session } = await signInWithTamperedToken(patch, opts);
      assertErrorPage(r, 502, 'PCL_ID_TOKEN_INVALID');
      assert.equal(session, undefined, 'no session cookie after a rejected sign-in');
      assert.ok(
        stack.logs.some((l) => l['event'] === 'sign-in.failure'),
        'audit event for the failure',
      );
    });
  }

  test('control: a token re-signed with the IdP key and unchanged claims is accepted', async () => {
    const { r, session } = await signInWithTamperedToken(() => {});
    assert.equal(r.status, 200);
    assert.ok(session, 'signed in');
  });

  test('an extra audience listed in audiences is accepted', async () => {
    const s2 = await startStack({ provider: { audiences: ['other-app'] } });
    try {
      const stop = s2.idp.tamperIdTokens(
        (c) => void Object.assign(c, { aud: ['portcullis-test', 'other-app'], azp: 'portcullis-test' }),
      );
      const b = s2.browser();
      const back = await b.signInAtDevIdp(await b.get(`${s2.url}/oauth2/start?rd=/`), 'alice', 'alice');
      stop();
      assert.equal(back.status, 200);
      assert.ok(b.jar.get('portcullis', s2.url));
    } finally {
      await s2.close();
    }
  });
});

describe('RFC 9207 iss response parameter (mix-up defence)', () => {
  test('a callback with another issuer in iss is refused', async () => {
    const { b, callback } = await walkToCallback();
    assert.equal(callback.searchParams.get('iss'), stack.idp.issuer, 'the IdP sends iss');
    callback.searchParams.set('iss', 'https://evil.example');
    assertErrorPage(await b.get(callback), 400, 'PCL_ISSUER_MISMATCH');
    assert.equal(b.jar.get('portcullis', stack.url), undefined);
  });

  test('a callback without iss from an IdP that advertises it is refused', async () => {
    const { b, callback } = await walkToCallback();
    callback.searchParams.delete('iss');
    assertErrorPage(await b.get(callback), 400, 'PCL_ISSUER_MISMATCH');
  });
});

describe('open redirects after sign-in', () => {
  const payloads = [
    'https://evil.com/',
    '//evil.com/',
    '///evil.com',
    '/\\evil.com',
    '\\\\evil.com',
    '/%5cevil.com',
    '/%2f%2fevil.com',
    '/ /evil.com',
    '/\t/evil.com',
    'https:evil.com',
    `http://127.0.0.1@evil.com/`,
    'javascript:alert(1)',
    'https://trusted.example.evil.com/',
  ];
  for (const rd of payloads) {
    test(`rd=${JSON.stringify(rd)} lands on / of the gateway`, async () => {
      const b = stack.browser();
      const login = await b.get(`${stack.url}/oauth2/start?rd=${encodeURIComponent(rd)}`);
      const back = await b.signInAtDevIdp(login, 'bob', 'bob');
      assert.equal(back.url, `${stack.url}/`);
      assert.ok(stack.logs.some((l) => l.msg.includes('redirect target rejected')));
    });
  }

  test('an allowed redirect domain is kept', async () => {
    const { b, callback } = await walkToCallback('http://app.trusted.example/x');
    const r = await b.get(callback, { followRedirects: false });
    assert.equal(r.status, 302);
    assert.equal(r.headers.location, 'http://app.trusted.example/x');
  });
});
