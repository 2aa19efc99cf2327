// The authenticating reverse proxy end to end: a real IdP, the real sample app as upstream and the real
// gateway, driven with raw HTTP so every header is sent exactly as a hostile client would.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { type Echo, openWebSocket, rawRequest, sha256 } from '../support/raw.ts';
import { type Stack, startStack } from '../support/stack.ts';

const IDENTITY = [
  ['x-forwarded-user', 'alice'],
  ['x-forwarded-provider', 'test'],
  ['x-forwarded-email', 'alice@example.com'],
  ['x-forwarded-preferred-username', 'alice'],
  ['x-forwarded-groups', 'admins,engineering'],
] as const;

/** Header names (any case, `_` for `-`) that only the gateway may set. */
function isIdentityName(name: string): boolean {
  const n = name.toLowerCase().replaceAll('_', '-');
  return n.startsWith('x-forwarded-') || n.startsWith('x-auth-request-') || n === 'x-portcullis-assertion';
}

const SPOOFED = [
  'X-Forwarded-User',
  'mallory',
  'x-forwarded-user',
  'mallory2',
  'X_Forwarded_User',
  'mallory3',
  'x-forwarded_user',
  'mallory4',
  'X-FORWARDED-EMAIL',
  'mallory@evil.example',
  'X-Forwarded-Groups',
  'admins',
  'X-Forwarded-Provider',
  'evil',
  'X-Forwarded-Preferred-Username',
  'root',
  'X-Forwarded-Access-Token',
  'forged',
  'X-Auth-Request-User',
  'mallory',
  'x_auth_request_email',
  'mallory@evil.example',
  'X-Auth-Request-Anything',
  'x',
  'X-Auth_Request-Role',
  'x',
  'X-Portcullis-Assertion',
  'eyJhbGciOiJub25lIn0.eyJzdWIiOiJtYWxsb3J5In0.',
  'X-Forwarded-User',
  'mallory5',
];

async function freeClosedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

function echoOf(body: string): Echo {
  return JSON.parse(body) as Echo;
}

function identityIn(echo: Echo): [string, string][] {
  return echo.rawHeaders.filter(([k]) => isIdentityName(k) && !/^x-forwarded-(for|proto|host)$/i.test(k));
}

describe('proxy: headers, cookies, bodies, upgrades and failures (untrusted peer)', () => {
  let stack: Stack;
  let cookie: string;
  let host: string;

  before(async () => {
    const closed = await freeClosedPort();
    stack = await startStack({
      config: (base) => {
        const [sample] = base['upstreams'] as { url: string }[];
        return {
          ...base,
          upstreams: [
            ...(base['upstreams'] as unknown[]),
            { id: 'down-app', path: '/down/', url: `http://127.0.0.1:${closed}` },
            { id: 'slow-app', path: '/slow', url: sample!.url, timeout: 1 },
            { id: 'ws-short', path: '/ws', url: sample!.url, timeout: 1 },
            { id: 'no-host', path: '/nohost/', url: sample!.url, preserveHost: false },
          ],
        };
      },
    });
    host = new URL(stack.url).host;
    // Only the gateway's cookie: the jar also holds the IdP's (cookies are per host, not per port).
    const b = await stack.signIn('alice');
    cookie = `portcullis=${b.jar.value('portcullis', stack.url)}`;
  });
  after(() => stack.close());

  const get = (path: string, headers: readonly string[] = []) =>
    rawRequest(stack.url, { path, headers: ['Host', host, 'Accept', 'application/json', ...headers] });

  test('with a session the upstream sees the real identity exactly once, never a spoofed one', async () => {
    const r = await get('/api/whoami', ['Cookie', cookie, ...SPOOFED]);
    assert.equal(r.status, 200, r.text);
    const echo = echoOf(r.text);
    assert.deepEqual(
      identityIn(echo).map(([k, v]) => [k.toLowerCase(), v]),
      IDENTITY.map(([k, v]) => [k, v]),
    );
    assert.ok(!r.text.includes('mallory'), 'a spoofed value reached the upstream');
    assert.ok(!r.text.includes('forged'));
    assert.equal(echo.headers['x-portcullis-assertion'], undefined);
  });

  test('on a public route no spoofed identity reaches the upstream; a signed-in visitor’s real one does', async () => {
    for (const withCookie of [false, true]) {
      const r = await get('/public/info', [...(withCookie ? ['Cookie', cookie] : []), ...SPOOFED]);
      assert.equal(r.status, 200, r.text);
      const names = identityIn(echoOf(r.text)).map(([k]) => k.toLowerCase());
      // Anonymous: nothing at all. With a session (docs/access-rules.md, public routes): exactly ours, once each.
      assert.deepEqual(
        names.filter((n) => n === 'x-forwarded-user' || n === 'x-forwarded-email'),
        withCookie ? ['x-forwarded-user', 'x-forwarded-email'] : [],
        `withCookie=${withCookie}`,
      );
      assert.ok(!r.text.includes('mallory'));
    }
  });

  test('spoofed X-Forwarded-Host/-Proto/-For from an untrusted peer are replaced', async () => {
    const r = await get('/api/fwd', [
      'Cookie',
      cookie,
      'X-Forwarded-For',
      '203.0.113.9',
      'x-forwarded-for',
      '10.0.0.1',
      'X_Forwarded_For',
      '10.0.0.2',
      'X-Forwarded-Proto',
      'https',
      'X-Forwarded-Host',
      'evil.example',
      'Forwarded',
      'for=203.0.113.9;host=evil.example;proto=https',
    ]);
    const echo = echoOf(r.text);
    const fwd = echo.rawHeaders
      .filter(([k]) => /^(x[-_]forwarded[-_](for|proto|host)|forwarded)$/i.test(k))
      .map(([k, v]) => [k.toLowerCase(), v]);
    assert.deepEqual(fwd, [
      ['x-forwarded-for', '127.0.0.1'],
      ['x-forwarded-proto', 'http'],
      ['x-forwarded-host', host],
    ]);
  });

  test("Portcullis's own cookies never reach the upstream; other cookies do", async () => {
    const own = [
      cookie,
      'portcullis_0=chunk0',
      'portcullis_1=chunk1',
      'portcullis_12=chunk12',
      'portcullis_f_0123456789abcdef=flow',
    ].join('; ');
    for (const path of ['/api/cookies', '/public/cookies']) {
      const r = await get(path, [
        'Cookie',
        `theme=dark; ${own}; portcullisx=1; portcullis_other=2`,
        'Cookie',
        'portcullis_f_x=flow2; lang=en',
      ]);
      assert.equal(r.status, 200, r.text);
      const sent = echoOf(r.text)
        .rawHeaders.filter(([k]) => k.toLowerCase() === 'cookie')
        .map(([, v]) => v)
        .join('; ');
      assert.equal(sent, 'theme=dark; portcullisx=1; portcullis_other=2; lang=en', path);
    }
  });

  test('hop-by-hop headers, including those named in Connection, are not forwarded; Host is preserved', async () => {
    // A chunked POST, so that Trailer is a legitimate request header.
    const r = await rawRequest(stack.url, {
      method: 'POST',
      path: '/api/hop',
      body: Readable.from([Buffer.from('x')]),
      headers: [
        'Host',
        host,
        'Accept',
        'application/json',
        'Transfer-Encoding',
        'chunked',
        'Cookie',
        cookie,
        'Connection',
        'keep-alive, X-Secret',
        'X-Secret',
        '1',
        'Keep-Alive',
        'timeout=5',
        'Proxy-Authorization',
        'Basic bWFsbG9yeTpwdw==',
        'Proxy-Connection',
        'keep-alive',
        'TE',
        'trailers',
        'Trailer',
        'X-Late',
        'HTTP2-Settings',
        'AAMAAABkAARAAAAAAAIAAAAA',
        'X-Kept',
        'yes',
      ],
    });
    assert.equal(r.status, 200, r.text);
    const echo = echoOf(r.text);
    const names = echo.rawHeaders.map(([k]) => k.toLowerCase());
    for (const h of [
      'x-secret',
      'keep-alive',
      'proxy-authorization',
      'proxy-connection',
      'te',
      'trailer',
      'http2-settings',
    ]) {
      assert.ok(!names.includes(h), `${h} was forwarded`);
    }
    assert.equal(echo.headers['x-kept'], 'yes');
    // The upstream's own Keep-Alive (timeout=120) is hop-by-hop on the way back too.
    assert.notEqual(r.headers['keep-alive'], 'timeout=120');
    assert.equal(echo.headers['host'], host, 'Host preserved by default');
    assert.equal(names.filter((n) => n === 'host').length, 1);
  });

  test('every Connection header counts: tokens from each are hop-by-hop', async () => {
    const r = await get('/api/hop2', [
      'Cookie',
      cookie,
      'Connection',
      'X-One',
      'Connection',
      'X-Two',
      'X-One',
      '1',
      'X-Two',
      '2',
    ]);
    const names = echoOf(r.text).rawHeaders.map(([k]) => k.toLowerCase());
    assert.ok(!names.includes('x-one'), 'X-One forwarded');
    assert.ok(!names.includes('x-two'), 'X-Two forwarded');
  });

  test('a second Host header is never passed on (and is not blamed on the upstream)', async () => {
    const r = await get('/api/dup-host', ['Host', 'evil.example', 'Cookie', cookie]);
    assert.notEqual(r.status, 502, r.text);
    if (r.status === 200) {
      const hosts = echoOf(r.text).rawHeaders.filter(([k]) => k.toLowerCase() === 'host');
      assert.deepEqual(hosts, [['host', host]], 'only the Host the gateway itself read');
    } else assert.equal(r.status, 400);
  });

  test('preserveHost: false sends the upstream its own host', async () => {
    const r = await get('/nohost/x', ['Cookie', cookie]);
    const echo = echoOf(r.text);
    assert.equal(echo.path, '/nohost/x');
    assert.equal(echo.headers['host'], new URL(stack.app.url).host);
    assert.equal(echo.headers['x-forwarded-host'], host, 'the client host is still in X-Forwarded-Host');
  });

  test('query strings and raw paths reach the upstream unchanged', async () => {
    const r = await get('/api/things?x=1&y=%2F&z=a+b', ['Cookie', cookie]);
    assert.equal(echoOf(r.text).path, '/api/things?x=1&y=%2F&z=a+b');
  });

  test('a chunked request body of a few MB streams through both ways intact', async () => {
    const size = 5 * 1024 * 1024;
    const data = randomBytes(size);
    async function* chunks() {
      for (let i = 0; i < size; i += 64 * 1024) yield data.subarray(i, i + 64 * 1024);
    }
    const r = await rawRequest(stack.url, {
      method: 'POST',
      path: '/echo',
      headers: ['Host', host, 'Cookie', cookie, 'Content-Type', 'application/octet-stream'],
      body: Readable.from(chunks()),
      timeoutMs: 30_000,
    });
    assert.equal(r.status, 200, r.text.slice(0, 300));
    assert.equal(r.body.length, size);
    assert.equal(sha256(r.body), sha256(data));
  });

  test('a body sent with Content-Length and Expect: 100-continue (as curl does for large uploads) arrives intact', async () => {
    const data = randomBytes(2 * 1024 * 1024);
    const r = await rawRequest(stack.url, {
      method: 'POST',
      path: '/echo',
      headers: [
        'Host',
        host,
        'Cookie',
        cookie,
        'Content-Type',
        'application/octet-stream',
        'Content-Length',
        String(data.length),
        'Expect',
        '100-continue',
      ],
      body: data,
      timeoutMs: 30_000,
    });
    assert.equal(r.status, 200, r.text.slice(0, 300));
    assert.equal(sha256(r.body), sha256(data));
  });

  test('WebSocket with a session: tunnelled, echoes, and the upstream sees the identity only', async () => {
    const out = await openWebSocket(stack.url, '/ws', ['Cookie', `${cookie}; theme=dark`, ...SPOOFED]);
    assert.ok(out.upgraded, out.upgraded ? '' : `${out.status} ${out.body}`);
    const { ws } = out;
    try {
      ws.send('hello through the gateway');
      assert.equal(await ws.next(), 'hello through the gateway');
      ws.send('__headers__');
      const headers = JSON.parse(await ws.next()) as Record<string, string>;
      assert.equal(headers['x-forwarded-user'], 'alice');
      assert.equal(headers['x-forwarded-email'], 'alice@example.com');
      assert.equal(headers['x-forwarded-groups'], 'admins,engineering');
      assert.equal(headers['x-forwarded-for'], '127.0.0.1');
      assert.equal(headers['cookie'], 'theme=dark');
      assert.equal(headers['x-portcullis-assertion'], undefined);
      assert.equal(headers['x-auth-request-user'], undefined);
      assert.equal(headers['x_forwarded_user'], undefined);
      assert.ok(!JSON.stringify(headers).includes('mallory'));
      const big = 'x'.repeat(70_000);
      ws.send(big.slice(0, 60_000));
      assert.equal((await ws.next()).length, 60_000);
    } finally {
      ws.close();
    }
  });

  test('an idle WebSocket outlives the upstream response timeout', async () => {
    // The upstream /ws has timeout: 1 (seconds to wait for the handshake answer), not an idle limit.
    const out = await openWebSocket(stack.url, '/ws', ['Cookie', cookie]);
    assert.ok(out.upgraded);
    const { ws } = out;
    try {
      await new Promise((r) => setTimeout(r, 1_800));
      ws.send('still there?');
      assert.equal(await ws.next(), 'still there?');
    } finally {
      ws.close();
    }
  });

  test('a WebSocket upgrade to one of Portcullis’s own endpoints is refused, never tunnelled', async () => {
    for (const path of ['/oauth2/userinfo', '/oauth2/callback', '/oauth2/auth/ws', '/ping']) {
      const out = await openWebSocket(stack.url, path, ['Cookie', cookie]);
      assert.equal(out.upgraded, false, path);
      if (out.upgraded) return;
      assert.equal(out.status, 404, path);
      assert.equal(JSON.parse(out.body).error, 'PCL_NO_UPSTREAM');
    }
  });

  test('WebSocket without a session gets 401 and no tunnel', async () => {
    const out = await openWebSocket(stack.url, '/ws', ['Cookie', 'portcullis=garbage', ...SPOOFED]);
    assert.equal(out.upgraded, false);
    if (out.upgraded) return;
    assert.equal(out.status, 401);
    assert.equal(JSON.parse(out.body).error, 'PCL_UNAUTHENTICATED');
  });

  test('upstream down: 502 PCL_UPSTREAM_UNAVAILABLE with a request id, logged under the upstream id', async () => {
    const r = await rawRequest(stack.url, {
      path: '/down/page',
      headers: ['Host', host, 'Cookie', cookie, 'Accept', 'text/html'],
    });
    assert.equal(r.status, 502);
    assert.match(String(r.headers['content-type']), /text\/html/);
    const id = String(r.headers['x-request-id']);
    assert.match(id, /^[0-9a-f-]{36}$/);
    assert.match(r.text, /PCL_UPSTREAM_UNAVAILABLE/);
    assert.ok(r.text.includes(id), 'the page shows the request id');
    const line = stack.logs.find((l) => l['requestId'] === id && l['code'] === 'PCL_UPSTREAM_UNAVAILABLE');
    assert.ok(line, 'logged under the same request id');
    assert.match(String(line['detail']), /down-app/);

    const api = await get('/down/api', ['Cookie', cookie]);
    assert.equal(api.status, 502);
    const body = JSON.parse(api.text) as { error: string; requestId: string };
    assert.equal(body.error, 'PCL_UPSTREAM_UNAVAILABLE');
    assert.equal(body.requestId, api.headers['x-request-id']);

    const ws = await openWebSocket(stack.url, '/down/ws', ['Cookie', cookie]);
    assert.equal(ws.upgraded, false);
    if (!ws.upgraded) {
      assert.equal(ws.status, 502);
      assert.equal(JSON.parse(ws.body).error, 'PCL_UPSTREAM_UNAVAILABLE');
    }
  });

  test('upstream down: the 502 page names the upstream id', async () => {
    const r = await rawRequest(stack.url, {
      path: '/down/page',
      headers: ['Host', host, 'Cookie', cookie, 'Accept', 'text/html'],
    });
    assert.equal(r.status, 502);
    assert.match(r.text, /down-app/);
  });

  test('a slow upstream past its timeout: 504 PCL_UPSTREAM_TIMEOUT in about a second, never a hang', async () => {
    let t0 = performance.now();
    const page = await rawRequest(stack.url, {
      path: '/slow?ms=3000',
      headers: ['Host', host, 'Cookie', cookie, 'Accept', 'text/html'],
    });
    let elapsed = performance.now() - t0;
    assert.equal(page.status, 504);
    assert.match(page.text, /PCL_UPSTREAM_TIMEOUT/);
    assert.ok(page.text.includes(String(page.headers['x-request-id'])));
    assert.ok(elapsed >= 900 && elapsed < 2_500, `took ${elapsed} ms`);

    t0 = performance.now();
    const api = await get('/slow?ms=3000', ['Cookie', cookie]);
    elapsed = performance.now() - t0;
    assert.equal(api.status, 504);
    assert.equal(JSON.parse(api.text).error, 'PCL_UPSTREAM_TIMEOUT');
    assert.ok(elapsed < 2_500, `took ${elapsed} ms`);

    const fast = await get('/slow?ms=10', ['Cookie', cookie]);
    assert.equal(fast.status, 200);
    assert.deepEqual(JSON.parse(fast.text), { slept: 10 });
  });

  test('routes match on the normalised path: traversal cannot reach a protected path as public', async () => {
    for (const path of [
      '/public/../admin',
      '/public/./../admin',
      '/public/%2e%2e/admin',
      '/public/%2E%2E/admin',
      '/public/.%2e/admin',
      '/public/..%2fadmin',
      '/public/..%5cadmin',
      '/public//../admin',
      '/publicx',
      '/publicx/y',
      '/public',
      '/admin?/public/',
      '/admin?x=/public/../',
    ]) {
      const r = await rawRequest(stack.url, { path, headers: ['Host', host, 'Accept', 'text/html'] });
      if (path === '/public') {
        assert.equal(r.status, 200, `${path} is the public prefix itself`);
        continue;
      }
      if (/(^|\/)(\.|%2e){1,2}(\/|%2f|%5c|$)|\.\.%/i.test(path.split('?')[0]!)) {
        // Dot segments, raw or encoded: what the upstream serves would depend on how it resolves them.
        assert.equal(r.status, 400, `${path} -> ${r.status}`);
        assert.match(r.text, /PCL_AMBIGUOUS_PATH/);
        continue;
      }
      assert.equal(r.status, 302, `${path} -> ${r.status}`);
      assert.match(String(r.headers.location), /^\/oauth2\/sign_in\?rd=/, path);
    }
    // and the other way round, public paths stay public whatever the query says
    const q = await rawRequest(stack.url, {
      path: '/public/x?next=/admin',
      headers: ['Host', host, 'Accept', 'application/json'],
    });
    assert.equal(q.status, 200);
    assert.equal(echoOf(q.text).path, '/public/x?next=/admin');
  });

  test('a path that only looks public after decoding %2F or %5C is refused', {}, async () => {
    const r = await rawRequest(stack.url, {
      path: '/admin/..%2Fpublic/x',
      headers: ['Host', host, 'Accept', 'text/html'],
    });
    assert.equal(r.status, 400, `${r.status}: ${r.text.slice(0, 200)}`);
    for (const path of ['/admin/..%5Cpublic/x', '/admin\\..\\public/x', '/admin/%2e%2e/public/x']) {
      const again = await rawRequest(stack.url, { path, headers: ['Host', host, 'Accept', 'text/html'] });
      assert.equal(again.status, 400, path);
    }
    // An encoded slash without dot segments is an ordinary path (GitLab-style project ids).
    const plain = await rawRequest(stack.url, {
      path: '/public/group%2Fproject',
      headers: ['Host', host, 'Accept', 'application/json'],
    });
    assert.equal(plain.status, 200);
    assert.equal(echoOf(plain.text).path, '/public/group%2Fproject');
  });

  test('a request with two Host headers is refused with 400 (RFC 9112 §3.2)', async () => {
    const r = await rawRequest(stack.url, {
      path: '/public/x',
      headers: ['Host', host, 'Host', 'evil.example', 'Accept', 'application/json'],
    });
    assert.equal(r.status, 400);
    assert.equal(JSON.parse(r.text).error, 'PCL_BAD_REQUEST');
  });

  test('an undecodable path gets 400 PCL_BAD_REQUEST and the gateway keeps serving', async () => {
    for (const path of ['/%E0%A4%A', '/api/%E0%A4%A', '/%', '/a%00b']) {
      const html = await rawRequest(stack.url, { path, headers: ['Host', host, 'Accept', 'text/html'] });
      assert.equal(html.status, 400, path);
      assert.match(html.text, /PCL_BAD_REQUEST/);
      const json = await rawRequest(stack.url, {
        path,
        headers: ['Host', host, 'Accept', 'application/json'],
      });
      assert.equal(json.status, 400);
      assert.equal(JSON.parse(json.text).error, 'PCL_BAD_REQUEST');
    }
    const ws = await openWebSocket(stack.url, '/%E0%A4%A', ['Cookie', cookie]);
    assert.equal(ws.upgraded, false);
    if (!ws.upgraded) assert.equal(ws.status, 400);
    const ping = await rawRequest(stack.url, { path: '/ping' });
    assert.equal(ping.status, 200);
    assert.equal(ping.text, 'OK');
  });
});

describe('proxy behind a trusted proxy (trustedProxies: 127.0.0.1/32)', () => {
  let stack: Stack;
  let cookie: string;
  let host: string;

  before(async () => {
    stack = await startStack({ config: (base) => ({ ...base, trustedProxies: ['127.0.0.1/32'] }) });
    host = new URL(stack.url).host;
    cookie = `portcullis=${(await stack.signIn('alice')).jar.value('portcullis', stack.url)}`;
  });
  after(() => stack.close());

  test('X-Forwarded-For/-Proto/-Host from the trusted peer are honoured and extended', async () => {
    const r = await rawRequest(stack.url, {
      path: '/api/fwd',
      headers: [
        'Host',
        host,
        'Accept',
        'application/json',
        'Cookie',
        cookie,
        'X-Forwarded-For',
        '203.0.113.9',
        'X-Forwarded-Proto',
        'https',
        'X-Forwarded-Host',
        'portal.example.com',
        'X-Forwarded-User',
        'mallory',
      ],
    });
    assert.equal(r.status, 200, r.text);
    const echo = echoOf(r.text);
    assert.equal(echo.headers['x-forwarded-for'], '203.0.113.9, 127.0.0.1');
    assert.equal(echo.headers['x-forwarded-proto'], 'https');
    assert.equal(echo.headers['x-forwarded-host'], 'portal.example.com');
    assert.equal(echo.headers['x-forwarded-user'], 'alice', 'identity headers are never trusted');
    assert.equal(echo.headers['host'], host);
  });

  test('the sign-in redirect and rd stay same-origin whatever X-Forwarded-Host says', async () => {
    const r = await rawRequest(stack.url, {
      path: '/some/page?x=1',
      headers: [
        'Host',
        host,
        'Accept',
        'text/html',
        'X-Forwarded-Host',
        'evil.example',
        'X-Forwarded-Proto',
        'https',
      ],
    });
    assert.equal(r.status, 302);
    assert.equal(r.headers.location, `/oauth2/sign_in?rd=${encodeURIComponent('/some/page?x=1')}`);

    // Signing in from that "host" still lands on the configured public origin.
    const b = stack.browser();
    const login = await b.get(`${stack.url}/oauth2/start?rd=${encodeURIComponent('/landing')}`, {
      headers: { 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https' },
    });
    const back = await b.signInAtDevIdp(login, 'alice', 'alice');
    assert.equal(back.url, `${stack.url}/landing`);
    assert.ok(
      back.history.every((u) => !u.includes('evil.example')),
      back.history.join(' -> '),
    );
  });
});

describe('identity header values', () => {
  test('non-ASCII text travels as UTF-8 bytes; control characters are dropped', async () => {
    const { headerValue } = await import('../../src/proxy/identity.ts');
    const v = headerValue('José Müller\r\nX-Evil: 1');
    assert.equal(Buffer.from(v, 'latin1').toString('utf8'), 'José MüllerX-Evil: 1');
    assert.equal(headerValue('plain@example.com'), 'plain@example.com');
  });
});

describe('X-Real-IP and methods on own endpoints', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(() => stack.close());

  test('a spoofed X-Real-IP is replaced by the client address', async () => {
    const host = new URL(stack.url).host;
    const r = await rawRequest(stack.url, {
      path: '/public/ip',
      headers: ['Host', host, 'X-Real-IP', '6.6.6.6', 'X_Real_IP', '6.6.6.7', 'Accept', 'application/json'],
    });
    const echo = JSON.parse(r.text) as { rawHeaders: [string, string][] };
    const real = echo.rawHeaders.filter(([k]) => k.toLowerCase().replaceAll('_', '-') === 'x-real-ip');
    assert.deepEqual(
      real.map(([, v]) => v),
      ['127.0.0.1'],
    );
  });

  test('own endpoints refuse other methods with 405 and Allow', async () => {
    const r = await fetch(`${stack.url}/oauth2/start`, {
      method: 'DELETE',
      headers: { accept: 'application/json' },
    });
    assert.equal(r.status, 405);
    assert.equal(r.headers.get('allow'), 'GET, HEAD');
    assert.equal(((await r.json()) as { error: string }).error, 'PCL_METHOD_NOT_ALLOWED');
    const out = await fetch(`${stack.url}/oauth2/sign_out`, {
      method: 'POST',
      redirect: 'manual',
      headers: { origin: stack.url },
    });
    assert.equal(out.status, 303, 'sign-out accepts POST (from its own origin)');
    const authz = await fetch(`${stack.url}/oauth2/auth`, { method: 'PUT' });
    assert.equal(authz.status, 401, 'forward-auth answers any method');
  });
});
