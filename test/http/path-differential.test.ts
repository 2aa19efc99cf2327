/**
 * The path decided is the path served — a differential test. A corpus of raw request targets (dot segments,
 * `%2e` in any case, `%2f`, `%5c`, `\`, `;`, `#`, `?`, `//`, NUL, overlong and invalid UTF-8, double encoding,
 * trailing dots, the Envoy prefix form) is sent, as bob (not in `admins`) and anonymously:
 *
 *   (a) straight to Portcullis in proxy mode;
 *   (b) to a real nginx (Debian's package) in front, configured from examples/nginx.conf itself, with
 *       Portcullis answering its auth_request sub-requests.
 *
 * An echo upstream records every request target it is sent. Whatever it receives is read the ways servers
 * read a path (RFC 3986 dot-segment removal as nginx/WHATWG do, decoded once; strict; Tomcat/IIS-lenient)
 * and every reading must lie under a route whose rules allowed the user: for bob never under /admin/, for
 * an anonymous client only under /public/. A control row proves the checker sees a violation.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  freePort,
  type GatewayHarness,
  type PublicAddress,
  reserveAddress,
  startHarness,
} from '../support/gateway.ts';
import { type DevUser, startTestIdp, type TestIdp } from '../support/idp.ts';
import { openWebSocket } from '../support/raw.ts';

const SECRET = randomBytes(16).toString('hex');
const NGINX = '/usr/sbin/nginx';

const USERS: DevUser[] = [
  { username: 'alice', password: 'alice', email: 'alice@example.com', name: 'alice', groups: ['admins'] },
  { username: 'bob', password: 'bob', email: 'bob@example.com', name: 'bob', groups: ['engineering'] },
];

/** Raw targets, as bytes on the wire (latin1: one char, one byte). */
const CORPUS: readonly string[] = [
  '/admin/x',
  '/public/x',
  '/admin/x#/../../x',
  '/admin/x#/../../public/',
  '/public#/../admin/x',
  '/public/x#',
  '/public/../admin/x',
  '/public/./../admin/x',
  '/./admin/x',
  '/public/%2e%2e/admin/x',
  '/public/%2E%2e/admin/x',
  '/public/.%2e/admin/x',
  '/public/%2e./admin/x',
  '/public/%2e/../admin/x',
  '/public/..%2fadmin/x',
  '/public/..%2Fadmin/x',
  '/public%2f..%2fadmin/x',
  '/public/..%5cadmin/x',
  '/public/..\\admin/x',
  '/public\\..\\admin/x',
  '/public/..;/admin/x',
  '/public;x/../admin/x',
  '/public/;/../admin/x',
  '/admin;x/y',
  '/admin;/y',
  '/public//../admin/x',
  '//admin/x',
  '///admin/x',
  '/admin//x',
  '/admin%2fx',
  '/admin%2Fx',
  '/admin%5cx',
  '/admin\\x',
  '/admin/x?/public/',
  '/public/x?/../../admin/x',
  '/public/x?#/../admin',
  '/admin%00/x',
  '/public/%00/../admin/x',
  '/public/\x00/../admin/x',
  '/public/%c0%ae%c0%ae/admin/x',
  '/public/%c0%af../admin/x',
  '/public/%ff/x',
  '/public/\xc0\xae\xc0\xae/admin/x',
  '/public/%e0%80%ae%e0%80%ae/admin/x',
  '/public/%252e%252e/admin/x',
  '/public/%252e%252e%252fadmin/x',
  '/public/%25%32%65%25%32%65/admin/x',
  '/admin./x',
  '/admin../x',
  '/admin%2e/x',
  '/admin%20/x',
  '/admin /x',
  '/public/...',
  '/public/.../admin/x',
  '/admin/.',
  '/public/x/..',
  '/%61dmin/x',
  '/%2561dmin/x',
  '/public/%2e%2e%2fadmin/x',
  '/oauth2/auth/../admin/x',
  '/oauth2/auth/x/../../admin/x',
  '/oauth2/auth/%2e%2e/admin/x',
  '/oauth2/../admin/x',
  '/oauth2/%2e%2e/admin/x',
  '/oauth2%2f..%2fadmin/x',
  '/oidc/../admin/x',
  '/oauth2/nothing',
  '/oauth2/sign_in/../../admin/x',
  'http://platform.example.com/public/../admin/x',
  'http://platform.example.com/admin/x',
];

type Who = 'anonymous' | 'bob';

function underPrefix(path: string, prefix: string): boolean {
  return path === prefix.slice(0, -1) || path.startsWith(prefix);
}

function decodeOr(p: string): string | undefined {
  try {
    return decodeURIComponent(p);
  } catch {
    return undefined;
  }
}

/** How servers read a received target's path: every reading we can think of, decoded once. */
function servedReadings(received: string): string[] {
  const raw = received.split('?')[0]!.split('#')[0]!;
  const out = new Set<string>();
  const add = (p: string | undefined) => {
    if (p !== undefined) out.add(p);
  };
  // nginx / WHATWG: dot segments (and %2e) removed, `\` a separator in special URLs, then decoded once.
  try {
    add(decodeOr(new URL(raw, 'http://upstream.test').pathname));
  } catch {}
  // Strict: decoded once, nothing resolved.
  const strict = decodeOr(raw);
  add(strict);
  if (strict !== undefined) {
    // Decoded first, then resolved, with `\` as `/`, `//` merged, `;params` and trailing dots dropped.
    const segs: string[] = [];
    for (const seg of strict.replaceAll('\\', '/').split('/')) {
      const s = seg.replace(/;.*$/, '').replace(/[. ]+$/, (m) => (/^\.+$/.test(seg) ? m : ''));
      if (s === '' || s === '.') continue;
      if (s === '..') segs.pop();
      else segs.push(s);
    }
    add(`/${segs.join('/')}`);
  }
  return [...out];
}

/** A violation, or undefined: what the upstream received must lie where the user was allowed. */
function violation(who: Who, received: string): string | undefined {
  for (const p of servedReadings(received)) {
    if (who === 'bob' && underPrefix(p, '/admin/')) return `bob reached ${p} (received ${received})`;
    if (who === 'anonymous' && !underPrefix(p, '/public/'))
      return `anonymous reached ${p} (received ${received})`;
  }
  return undefined;
}

/** Sends the bytes of one request on a fresh connection; the status, or 0 when the server hung up. */
function send(port: number, target: string, headers: string[]): Promise<number> {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    let data = '';
    const done = () => {
      sock.destroy();
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(data);
      resolve(m ? Number(m[1]) : 0);
    };
    sock.setTimeout(5_000, done);
    sock.on('data', (c) => {
      data += c.toString('latin1');
    });
    sock.on('end', done);
    sock.on('error', done);
    sock.on('connect', () => {
      const head = [`GET ${target} HTTP/1.1`, 'Host: platform.example.com', ...headers, 'Connection: close'];
      // write, not end: nginx reads a half-closed client as gone (499) and answers nothing.
      sock.write(Buffer.from(`${head.join('\r\n')}\r\n\r\n`, 'latin1'));
    });
  });
}

let idp: TestIdp;
let h: GatewayHarness;
let address: PublicAddress;
let echo: http.Server;
let echoPort: number;
const received: string[] = [];
let bobCookie: string;

before(async () => {
  echo = http.createServer((req, res) => {
    received.push(req.url ?? '');
    res.end('ok');
  });
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  echoPort = (echo.address() as net.AddressInfo).port;
  address = await reserveAddress();
  idp = await startTestIdp({
    clients: [{ client_id: 'portcullis-diff', client_secret: SECRET, redirect_uris: [address.redirectUri] }],
    users: USERS,
  });
  h = await startHarness({
    address,
    providers: [
      {
        id: 'test',
        type: 'oidc',
        issuer: idp.issuer,
        clientId: 'portcullis-diff',
        clientSecret: SECRET,
        scopes: ['openid', 'email', 'profile'],
      },
    ],
    config: {
      upstreams: [{ id: 'echo', path: '/', url: `http://127.0.0.1:${echoPort}`, timeout: 2 }],
      routes: [
        { path: '/public/', public: true },
        { path: '/admin/', allow: { groups: ['admins'] } },
      ],
      trustedProxies: ['127.0.0.1'],
      logging: { level: 'warn' },
    },
  });
  const b = h.browser();
  const login = await b.get(`${h.url}/oauth2/start?rd=%2F`);
  const back = await b.signInAtDevIdp(login, 'bob', 'bob');
  assert.equal(back.status, 200);
  bobCookie = b.jar.header(h.url);
});

after(async () => {
  await h?.close();
  await idp?.close();
  echo?.closeAllConnections();
  await new Promise<void>((r) => (echo ? echo.close(() => r()) : r()));
});

async function run(port: number, who: Who, target: string): Promise<{ status: number; got: string[] }> {
  received.length = 0;
  const status = await send(port, target, who === 'bob' ? [`Cookie: ${bobCookie}`] : []);
  return { status, got: [...received] };
}

test('the checker sees a violation (control)', () => {
  assert.ok(violation('bob', '/public/../admin/x'));
  assert.ok(violation('bob', '/admin;x/y'));
  assert.ok(violation('anonymous', '/admin/x'));
  assert.ok(violation('anonymous', '/public/%2e%2e/admin'));
  assert.equal(violation('bob', '/public/x'), undefined);
  assert.equal(violation('anonymous', '/public/x?next=/admin/'), undefined);
});

describe('(a) straight to Portcullis in proxy mode', () => {
  for (const who of ['bob', 'anonymous'] as const) {
    test(`${who}: whatever the upstream receives lies where ${who} is allowed`, async () => {
      const served: string[] = [];
      for (const target of CORPUS) {
        const { status, got } = await run(address.port, who, target);
        for (const g of got) {
          const v = violation(who, g);
          assert.equal(v, undefined, `${JSON.stringify(target)} → ${status}: ${v}`);
          served.push(g);
        }
        if (/#/.test(target)) assert.equal(status, 400, `${JSON.stringify(target)} is refused`);
        if (target.startsWith('/oauth2') || target.startsWith('/oidc'))
          assert.equal(got.length, 0, `${JSON.stringify(target)} never proxied`);
      }
      // The corpus is not all refused: ordinary paths still get through.
      assert.ok(
        served.some((p) => p.startsWith('/public/x')),
        served.join(' '),
      );
      if (who === 'bob') assert.ok(served.includes('/admin%2fx') === false);
    });
  }
});

test('WebSocket upgrades read the target the same way: a raw # or a dot segment is refused, nothing tunnelled', async () => {
  for (const target of [
    '/admin/x#/../../x',
    '/admin/x#/../../public/',
    '/public/../admin/x',
    '/oauth2/auth/../admin/x',
  ]) {
    received.length = 0;
    const r = await openWebSocket(h.url, target, ['Cookie', bobCookie]);
    assert.equal(r.upgraded, false, target);
    if (!r.upgraded) assert.equal(r.status, 400, target);
    assert.deepEqual(received, [], `${target} reached the upstream`);
  }
});

const haveNginx = spawnSync(NGINX, ['-v']).status === 0;

describe('(b) behind a real nginx configured from examples/nginx.conf', {
  skip: !haveNginx && !process.env['CI'] ? 'nginx not installed' : false,
}, () => {
  let dir: string;
  let nginx: ChildProcess;
  let port: number;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pcl-nginx-'));
    port = await freePort();
    const example = readFileSync(new URL('../../examples/nginx.conf', import.meta.url), 'utf8')
      .split('\n')
      .filter((l) => !/^\s*#/.test(l))
      .join('\n')
      .replace('listen 443 ssl;', `listen 127.0.0.1:${port};`)
      .replaceAll('http://127.0.0.1:4180', `http://127.0.0.1:${address.port}`)
      .replace('http://127.0.0.1:8080', `http://127.0.0.1:${echoPort}`);
    assert.match(example, new RegExp(`listen 127\\.0\\.0\\.1:${port}`), 'the example was adapted');
    const conf = `daemon off;
master_process off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
${example}
}
`;
    writeFileSync(join(dir, 'nginx.conf'), conf);
    nginx = spawn(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: 'ignore' });
    for (let i = 0; i < 100; i++) {
      if ((await send(port, '/public/ping', []).catch(() => 0)) !== 0) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`nginx did not start: ${readFileSync(join(dir, 'error.log'), 'utf8')}`);
  });

  after(() => {
    nginx?.kill('SIGKILL');
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  for (const who of ['bob', 'anonymous'] as const) {
    test(`${who}: whatever the upstream receives through nginx lies where ${who} is allowed`, async () => {
      const served: string[] = [];
      for (const target of CORPUS) {
        const { status, got } = await run(port, who, target);
        for (const g of got) {
          const v = violation(who, g);
          assert.equal(v, undefined, `${JSON.stringify(target)} → ${status}: ${v}`);
          served.push(g);
        }
      }
      if (who === 'bob')
        assert.ok(
          served.some((p) => p === '/public/x'),
          served.join(' '),
        );
    });
  }

  test('the issue’s own case: X-Original-URI /admin/x#/../../x is refused, nginx never proxies /admin/x', async () => {
    const { status, got } = await run(port, 'bob', '/admin/x#/../../x');
    assert.deepEqual(got, []);
    assert.notEqual(status, 200);
  });
});
