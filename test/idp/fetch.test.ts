/**
 * The IdP fetch (src/idp/fetch.ts) against real local servers: what openid-client and jose read of a
 * Response (status, headers, body), the form body of a token request, connections kept alive, fetch's error
 * shapes (TypeError "fetch failed", the signal's reason), and an egress proxy taken from the environment.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { after, before, test } from 'node:test';
import { Agent, EnvHttpProxyAgent } from 'undici';
import { createIdpFetch, envProxyWanted, idpFetch } from '../../src/idp/fetch.ts';

let server: http.Server;
let base: string;
let connections = 0;
const seen: { method: string; url: string; headers: http.IncomingHttpHeaders; body: string }[] = [];

before(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => {
      body += d;
    });
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      if (req.url === '/empty') {
        res.writeHead(204).end();
      } else if (req.url === '/slow') {
        setTimeout(() => res.end('late'), 2000).unref();
      } else {
        res.setHeader('set-cookie', ['a=1', 'b=2']);
        res.writeHead(req.url === '/missing' ? 404 : 200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ ok: true, path: req.url }));
      }
    });
  });
  server.on('connection', () => connections++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => {
  server.closeAllConnections();
  server.close();
});

test('a JSON answer: status, headers (repeated ones too) and body as fetch gives them', async () => {
  const r = await idpFetch(`${base}/x`, { headers: { accept: 'application/json' }, redirect: 'manual' });
  assert.ok(r instanceof Response);
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('content-type'), 'application/json');
  assert.deepEqual(r.headers.getSetCookie(), ['a=1', 'b=2']);
  assert.deepEqual(await r.json(), { ok: true, path: '/x' });
  const missing = await idpFetch(`${base}/missing`);
  assert.equal(missing.status, 404);
  assert.equal(missing.ok, false);
  const empty = await idpFetch(`${base}/empty`);
  assert.equal(empty.status, 204);
  assert.equal(empty.body, null);
});

test('a token request: the form body with its content type and length; Headers objects accepted', async () => {
  const form = new URLSearchParams({ grant_type: 'authorization_code', code: 'abc', code_verifier: 'v' });
  await idpFetch(`${base}/token`, {
    method: 'POST',
    headers: new Headers({ authorization: 'Basic eDp5' }),
    body: form,
  });
  const got = seen.at(-1)!;
  assert.equal(got.method, 'POST');
  assert.equal(got.body, form.toString());
  assert.equal(got.headers['content-type'], 'application/x-www-form-urlencoded;charset=UTF-8');
  assert.equal(got.headers['content-length'], String(form.toString().length));
  assert.equal(got.headers.authorization, 'Basic eDp5');
});

test('connections are kept alive between calls', async () => {
  const f = createIdpFetch(() => pool);
  const pool = new Agent();
  const before = connections;
  for (let i = 0; i < 5; i++) await (await f(`${base}/k${i}`)).text();
  assert.ok(connections - before <= 2, `${connections - before} connections for 5 calls`);
  await pool.close();
});

test('errors keep fetch’s shape: "fetch failed" with the cause; a time-out rejects with the signal’s reason', async () => {
  const refused = await idpFetch('http://127.0.0.1:1/', {}).catch((e: unknown) => e);
  assert.ok(refused instanceof TypeError);
  assert.equal(refused.message, 'fetch failed');
  assert.match(String((refused.cause as { code?: string }).code), /ECONNREFUSED/);
  const timedOut = await idpFetch(`${base}/slow`, { signal: AbortSignal.timeout(100) }).catch((e) => e);
  assert.equal((timedOut as Error).name, 'TimeoutError');
});

test('an egress proxy from the environment, only as Node’s fetch would use it', async () => {
  assert.equal(envProxyWanted({}, []), false);
  assert.equal(envProxyWanted({ HTTPS_PROXY: 'http://proxy:3128' }, []), false);
  assert.equal(envProxyWanted({ NODE_USE_ENV_PROXY: '1' }, []), true);
  assert.equal(envProxyWanted({}, ['--use-env-proxy']), true);
  assert.equal(envProxyWanted({ NODE_OPTIONS: '--max-old-space-size=100 --use-env-proxy' }, []), true);
  // A forward proxy that tunnels (HTTP CONNECT, RFC 9110 §9.3.6), as undici's proxy agent asks it to.
  const tunnels: string[] = [];
  const proxy = http.createServer((_req, res) => res.writeHead(405).end());
  proxy.on('connect', (req: http.IncomingMessage, client: Duplex) => {
    tunnels.push(req.url!);
    const [host, port] = req.url!.split(':');
    const upstream = net.connect(Number(port), host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.pipe(client).pipe(upstream);
    });
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  const agent = new EnvHttpProxyAgent({
    httpProxy: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
    noProxy: '',
  });
  try {
    const r = await createIdpFetch(() => agent)(`${base}/via-proxy`);
    assert.deepEqual(await r.json(), { ok: true, path: '/via-proxy' });
    assert.deepEqual(tunnels, [new URL(base).host]);
  } finally {
    await agent.close();
    proxy.closeAllConnections();
    proxy.close();
  }
});
