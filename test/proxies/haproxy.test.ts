// HAProxy terminating TLS in front of two Portcullis instances (proxy mode), end to end: the configuration
// is examples/haproxy.cfg itself (addresses substituted), run by Debian's haproxy on loopback with a
// certificate made here with openssl. HAProxy connects to the instances from 127.0.0.2, the only address
// in their trustedProxies; the test's own direct requests come from 127.0.0.1. A sign-in over https goes
// through both instances (round robin, one shared cookie secret); the app sees X-Forwarded-Proto https and
// the public host from HAProxy, never a client's spoofed copies, and a direct request to an instance with
// spoofed X-Forwarded-* is not believed.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { Browser, decodeEntities } from '../support/browser.ts';
import { closeAfter } from '../support/cleanup.ts';
import { freePort, type GatewayHarness, startHarness } from '../support/gateway.ts';
import { startTestIdp } from '../support/idp.ts';
import {
  example,
  HAPROXY,
  skipWithout,
  startProcess,
  substitute,
  tempDir,
  versionOf,
} from '../support/proxies.ts';

const SKIP = skipWithout(HAPROXY, 'haproxy openssl');
const VERSION = SKIP ? '' : versionOf(HAPROXY, ['-v']).split(' ').slice(0, 3).join(' ');
const LB_SOURCE = '127.0.0.2';

interface Echo {
  path: string;
  headers: Record<string, string | undefined>;
}

describe(`${VERSION || 'HAProxy'}: TLS and load balancing in front of two instances`, { skip: SKIP }, () => {
  const parts = closeAfter();
  let front = '';
  let ca = '';
  const instances: GatewayHarness[] = [];

  before(async () => {
    const dir = parts.add(tempDir('pcl-haproxy-'));
    const key = join(dir.path, 'key.pem');
    const crt = join(dir.path, 'crt.pem');
    const made = spawnSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        key,
        '-out',
        crt,
      ],
      { encoding: 'utf8' },
    );
    assert.equal(made.status, 0, made.stderr);
    ca = readFileSync(crt, 'utf8');
    const pem = join(dir.path, 'platform.pem');
    writeFileSync(pem, ca + readFileSync(key, 'utf8'));

    const lbPort = await freePort();
    front = `https://127.0.0.1:${lbPort}`;
    const clientSecret = randomBytes(16).toString('hex');
    const idp = parts.add(
      await startTestIdp({
        clients: [
          {
            client_id: 'haproxy-e2e',
            client_secret: clientSecret,
            redirect_uris: [`${front}/oauth2/callback`],
          },
        ],
      }),
    );
    const cookieSecret = randomBytes(32).toString('base64url');
    for (let i = 0; i < 2; i++) {
      const port = await freePort();
      instances.push(
        parts.add(
          await startHarness({
            address: { port, publicUrl: front, redirectUri: `${front}/oauth2/callback` },
            providers: [
              { id: 'test', type: 'oidc', issuer: idp.issuer, clientId: 'haproxy-e2e', clientSecret },
            ],
            config: {
              cookie: { secret: cookieSecret },
              trustedProxies: [LB_SOURCE],
              logging: { level: 'info' },
            },
          }),
        ),
      );
    }
    const cfg = substitute(example('haproxy.cfg'), [
      ['bind :443 ssl crt /etc/haproxy/tls/platform.pem', `bind 127.0.0.1:${lbPort} ssl crt ${pem}`],
      ['10.0.0.11:4180 check', `127.0.0.1:${new URL(instances[0]!.url).port} check source ${LB_SOURCE}`],
      ['10.0.0.12:4180 check', `127.0.0.1:${new URL(instances[1]!.url).port} check source ${LB_SOURCE}`],
    ]);
    const file = join(dir.path, 'haproxy.cfg');
    writeFileSync(file, `global\n    pidfile ${dir.path}/haproxy.pid\n${cfg}\n`);
    const check = spawnSync(HAPROXY, ['-c', '-f', file], { encoding: 'utf8' });
    assert.equal(check.status, 0, `${check.stdout}${check.stderr}`);
    parts.add(await startProcess(HAPROXY, ['-db', '-f', file], [lbPort]));
  });

  test('a sign-in over https across both instances; forwarded proto and host honoured from HAProxy only', async () => {
    const b = new Browser({ ca });
    const deep = `${front}/reports/deep?x=1&y=2`;
    const page = await b.get(deep);
    const href = /<a class="button" href="([^"]+)"/.exec(page.body)?.[1];
    assert.ok(href, page.body.slice(0, 300));
    const login = await b.get(new URL(decodeEntities(href), front));
    const back = await b.signInAtDevIdp(login, 'alice', 'alice');
    assert.equal(back.status, 200);
    assert.equal(back.url, deep);
    assert.match(back.body, /GET \/reports\/deep\?x=1&amp;y=2/);
    const cookie = b.jar.get('__Host-portcullis', front);
    assert.ok(cookie?.secure, 'the Secure __Host- cookie of an https public URL');

    // Round robin: the requests reach both instances, which read one another's sessions; the client's
    // X-Forwarded-* and identity headers are replaced by HAProxy's and Portcullis's own.
    const served = instances.map(() => 0);
    for (const [i, h] of instances.entries()) {
      h.gw.server.on('request', (req: { url?: string }) => {
        if (req.url === '/api/who') served[i]!++;
      });
    }
    for (let i = 0; i < 4; i++) {
      const r = await b.get(`${front}/api/who`, {
        headers: {
          'X-Forwarded-Proto': 'http',
          'X-Forwarded-Host': 'evil.example',
          'X-Forwarded-For': '203.0.113.9',
          'X-Forwarded-User': 'mallory',
        },
      });
      assert.equal(r.status, 200);
      const echo = JSON.parse(r.body) as Echo;
      assert.equal(echo.headers['x-forwarded-proto'], 'https');
      assert.equal(echo.headers['x-forwarded-host'], `127.0.0.1:${new URL(front).port}`);
      assert.equal(
        echo.headers['x-real-ip'],
        '127.0.0.1',
        'the client address HAProxy saw, not a spoofed one',
      );
      assert.equal(echo.headers['x-forwarded-user'], 'alice');
    }
    assert.deepEqual(served, [2, 2], 'both instances served, in turn');

    // Straight to an instance (from 127.0.0.1, not a trusted proxy): the same spoofed headers are ignored.
    const direct = instances[0]!;
    const r = await new Browser().get(`${direct.url}/api/who`, {
      headers: {
        Cookie: b.jar.header(front),
        'X-Forwarded-Proto': 'https',
        'X-Forwarded-Host': 'evil.example',
        'X-Forwarded-For': '203.0.113.9',
      },
    });
    assert.equal(r.status, 200, r.body.slice(0, 200));
    const echo = JSON.parse(r.body) as Echo;
    assert.equal(echo.headers['x-forwarded-proto'], 'http');
    assert.equal(echo.headers['x-forwarded-host'], `127.0.0.1:${new URL(direct.url).port}`);
    assert.equal(echo.headers['x-real-ip'], '127.0.0.1');
    assert.equal(echo.headers['x-forwarded-for'], '127.0.0.1');
  });
});
