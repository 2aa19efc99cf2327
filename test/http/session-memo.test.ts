/**
 * The per-connection memo of the last cookie session (src/http/session.ts): requests on one keep-alive
 * connection with the same Cookie header skip the store's digest and cache, and nothing is decided
 * differently — another header (a changed character) is read afresh, an expired session is refused, a
 * session due for a refresh is refreshed, and a server-side session revoked by sign-out is refused on the
 * very connection that had it.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { type Stack, startStack } from '../support/stack.ts';

interface Answer {
  readonly status: number;
  readonly reused: boolean;
  readonly setCookie: readonly string[];
  readonly body: string;
}

/** A GET on `agent` (one keep-alive connection) with exactly this Cookie header. */
function get(agent: http.Agent, url: string, cookie: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent, headers: { cookie, accept: 'text/html' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          reused: req.reusedSocket,
          setCookie: res.headers['set-cookie'] ?? [],
          body,
        }),
      );
    });
    req.on('error', reject);
  });
}

const USER = '<th>User (X-Forwarded-User)</th><td>';

async function sessionCookie(stack: Stack): Promise<string> {
  const b = await stack.signIn('alice', '/');
  return b.jar.header(stack.url);
}

describe('cookie sessions: the memo on a keep-alive connection', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ accessTokenTtlSeconds: 600 });
  });
  after(() => stack.close());

  test('the same header again is the same session; a changed character is read afresh and refused', async (t) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    t.after(() => agent.destroy());
    const cookie = await sessionCookie(stack);
    const first = await get(agent, `${stack.url}/`, cookie);
    assert.equal(first.status, 200);
    assert.ok(first.body.includes(`${USER}alice</td>`), 'the app saw alice');
    const second = await get(agent, `${stack.url}/`, cookie);
    assert.equal(second.status, 200);
    assert.equal(second.reused, true, 'the second request went over the same connection');
    // One character of the sealed value changed (the control: the memo must compare the whole header).
    const i = cookie.length - 5;
    const forged = cookie.slice(0, i) + (cookie[i] === 'A' ? 'B' : 'A') + cookie.slice(i + 1);
    const third = await get(agent, `${stack.url}/`, forged);
    assert.equal(third.reused, true);
    assert.equal(third.status, 302);
    assert.equal((await get(agent, `${stack.url}/`, cookie)).status, 200);
  });

  test('a session due for a refresh is refreshed, and an expired one refused, on the same connection', async (t) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    t.after(() => agent.destroy());
    const cookie = await sessionCookie(stack);
    assert.equal((await get(agent, `${stack.url}/`, cookie)).status, 200);
    stack.advance(600); // past the access token's expiry (less its 30 s skew): refresh
    const refreshed = await get(agent, `${stack.url}/`, cookie);
    assert.equal(refreshed.reused, true);
    assert.equal(refreshed.status, 200);
    assert.ok(
      refreshed.setCookie.some((c) => c.startsWith('portcullis=')),
      'a refreshed session cookie',
    );
    stack.advance(13 * 3600); // past the session's absolute lifetime (12 h)
    const expired = await get(agent, `${stack.url}/`, cookie);
    assert.equal(expired.reused, true);
    assert.equal(expired.status, 302);
  });
});

describe('server-side sessions: never served from the memo', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({
      config: (c) => ({ ...c, sessions: { store: 'storage' }, storage: { type: 'memory' } }),
    });
  });
  after(() => stack.close());

  test('sign-out revokes the session for the connection that kept sending it', async (t) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    t.after(() => agent.destroy());
    const b = await stack.signIn('alice', '/');
    const cookie = b.jar.header(stack.url);
    assert.equal((await get(agent, `${stack.url}/`, cookie)).status, 200);
    assert.equal((await get(agent, `${stack.url}/`, cookie)).status, 200);
    // The sign-out button on Portcullis's own page (Fetch Metadata says so), from another connection.
    const out = await b.post(
      `${stack.url}/oauth2/sign_out`,
      {},
      { headers: { 'sec-fetch-site': 'same-origin' }, followRedirects: false },
    );
    assert.equal(out.status, 303);
    const replay = await get(agent, `${stack.url}/`, cookie);
    assert.equal(replay.reused, true);
    assert.equal(replay.status, 302);
  });
});
