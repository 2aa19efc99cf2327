/**
 * X-Portcullis-Assertion end to end: a real IdP, the real gateway and the sample app as the upstream, which
 * echoes the headers it received; the upstream's view is then verified as an upstream would, with jose
 * against the JWKS fetched from the gateway.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  createLocalJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  type JSONWebKeySet,
  type JWTPayload,
  jwtVerify,
} from 'jose';
import { ConfigError } from '../../src/config/errors.ts';
import { resolveConfig } from '../../src/config/load.ts';
import type { RawConfig } from '../../src/config/schema.ts';
import { KeyStore } from '../../src/keys/store.ts';
import { createLogger } from '../../src/observability/log.ts';
import { AssertionSigner, assertionSpec } from '../../src/proxy/assertion.ts';
import type { Session } from '../../src/sessions/session.ts';
import { MemoryStorage } from '../../src/storage/memory.ts';
import { type Echo, openWebSocket, rawRequest } from '../support/raw.ts';
import { type Stack, startStack } from '../support/stack.ts';

const SPOOF = 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJtYWxsb3J5In0.';

interface Seen {
  readonly echo: Echo;
  /** Every X-Portcullis-Assertion line the upstream received, in any spelling. */
  readonly assertions: string[];
}

async function jwksOf(url: string): Promise<JSONWebKeySet> {
  const r = await fetch(url);
  assert.equal(r.status, 200);
  return (await r.json()) as JSONWebKeySet;
}

/** Verifies as an upstream would: the gateway's keys, its origin as `iss`, our own `aud`, ES256 only. */
async function verify(
  jwt: string,
  jwks: JSONWebKeySet,
  o: { iss: string; aud: string; at?: number },
): Promise<JWTPayload> {
  const { payload } = await jwtVerify(jwt, createLocalJWKSet(jwks), {
    issuer: o.iss,
    audience: o.aud,
    algorithms: ['ES256'],
    ...(o.at !== undefined ? { currentDate: new Date(o.at * 1000) } : {}),
  });
  return payload;
}

describe('X-Portcullis-Assertion without the issuer (sqlite keys)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-assertion-'));
  let stack: Stack;
  let raw: Record<string, unknown>;
  let cookie: string;
  let host: string;
  let appOrigin: string;

  before(async () => {
    stack = await startStack({
      config: (base) => {
        const [sample] = base['upstreams'] as { url: string }[];
        raw = {
          ...base,
          upstreams: [
            { id: 'sample', path: '/', url: sample!.url, timeout: 2, assertion: {} },
            {
              id: 'aud',
              path: '/aud/',
              url: sample!.url,
              assertion: { audience: 'https://aud.example', lifetime: '1m' },
            },
            { id: 'off', path: '/off/', url: sample!.url, assertion: { enabled: false } },
            { id: 'plain', path: '/plain/', url: sample!.url },
          ],
          storage: { type: 'sqlite', path: join(dir, 'portcullis.db') },
        };
        return raw;
      },
    });
    appOrigin = new URL(stack.app.url).origin;
    host = new URL(stack.url).host;
    const b = await stack.signIn('alice');
    cookie = `portcullis=${b.jar.value('portcullis', stack.url)}`;
  });
  after(async () => {
    await stack.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const now = () => stack.gw.ctx.now();

  async function get(path: string, headers: readonly string[] = []): Promise<Seen> {
    const r = await rawRequest(stack.url, {
      path,
      headers: ['Host', host, 'Accept', 'application/json', 'Cookie', cookie, ...headers],
    });
    assert.equal(r.status, 200, r.text);
    const echo = JSON.parse(r.text) as Echo;
    const assertions = echo.rawHeaders
      .filter(([k]) => k.toLowerCase().replaceAll('_', '-') === 'x-portcullis-assertion')
      .map(([, v]) => v);
    return { echo, assertions };
  }

  test('the upstream gets one assertion that verifies with /oauth2/jwks and says who the user is', async () => {
    const { echo, assertions } = await get('/api/whoami', [
      'X-Portcullis-Assertion',
      SPOOF,
      'x_portcullis_assertion',
      SPOOF,
    ]);
    assert.equal(assertions.length, 1, 'exactly one, the gateway’s');
    const jwt = assertions[0]!;
    assert.notEqual(jwt, SPOOF);
    const header = decodeProtectedHeader(jwt);
    assert.equal(header.alg, 'ES256');
    assert.equal(header.typ, 'JWT');
    const jwks = await jwksOf(`${stack.url}/oauth2/jwks`);
    assert.ok(
      jwks.keys.some((k) => k.kid === header.kid),
      'the signing key is published',
    );
    const claims = await verify(jwt, jwks, { iss: new URL(stack.url).origin, aud: appOrigin });
    assert.equal(claims.sub, echo.headers['x-forwarded-user'], 'the subject of X-Forwarded-User');
    assert.equal(claims.sub, 'alice');
    assert.equal(claims['email'], 'alice@example.com');
    assert.equal(claims['preferred_username'], 'alice');
    assert.equal(claims['name'], 'Alice Admin');
    assert.deepEqual(claims['groups'], ['admins', 'engineering']);
    assert.equal(claims['provider'], 'test');
    assert.equal(typeof claims['auth_time'], 'number');
    assert.equal(claims.exp! - claims.iat!, 300, 'the default lifetime');
    assert.ok(Math.abs(claims.iat! - now()) <= 2);
    // Another audience does not accept it, nor does the issuer's identifier as `iss`.
    await assert.rejects(verify(jwt, jwks, { iss: new URL(stack.url).origin, aud: 'https://aud.example' }), {
      code: 'ERR_JWT_CLAIM_VALIDATION_FAILED',
    });
    await assert.rejects(verify(jwt, jwks, { iss: `${new URL(stack.url).origin}/oidc`, aud: appOrigin }), {
      code: 'ERR_JWT_CLAIM_VALIDATION_FAILED',
    });
  });

  test('audience and lifetime per upstream; none where it is off or not configured', async () => {
    const jwks = await jwksOf(`${stack.url}/oauth2/jwks`);
    const aud = await get('/aud/x');
    assert.equal(aud.assertions.length, 1);
    const claims = await verify(aud.assertions[0]!, jwks, {
      iss: new URL(stack.url).origin,
      aud: 'https://aud.example',
    });
    assert.equal(claims.exp! - claims.iat!, 60);
    for (const path of ['/off/x', '/plain/x']) {
      const seen = await get(path, ['X-Portcullis-Assertion', SPOOF]);
      assert.deepEqual(seen.assertions, [], `${path}: no assertion, and the spoofed one is stripped`);
      assert.equal(seen.echo.headers['x-forwarded-user'], 'alice', 'identity headers are still sent');
    }
  });

  test('a public route gets no assertion, and a spoofed one never reaches the upstream', async () => {
    const r = await rawRequest(stack.url, {
      path: '/public/x',
      headers: ['Host', host, 'Accept', 'application/json', 'X-Portcullis-Assertion', SPOOF],
    });
    assert.equal(r.status, 200);
    assert.ok(!r.text.toLowerCase().includes('x-portcullis-assertion'), r.text);
  });

  test('the assertion is reused across requests and re-signed once a third of its lifetime is left', async () => {
    // Only '/aud/' (60 s) here: the clock moves, and other upstreams' cached assertions stay out of it.
    const first = (await get('/aud/a')).assertions[0]!;
    const again = (await get('/aud/b')).assertions[0]!;
    assert.equal(again, first, 'cached, not signed per request');
    const iat = decodeJwt(first).iat!;
    stack.advance(iat + 39 - now());
    assert.equal((await get('/aud/c')).assertions[0], first, 'more than a third left: still the same');
    stack.advance(iat + 40 - now());
    const renewed = (await get('/aud/d')).assertions[0]!;
    assert.notEqual(renewed, first, 'a third left: re-signed');
    const claims = decodeJwt(renewed);
    assert.equal(claims.iat, iat + 40);
    assert.equal(claims.exp, iat + 100);
    assert.equal((await get('/aud/e')).assertions[0], renewed, 'and then reused again');
    // The first one is no good once expired: an upstream checking exp turns it away.
    const jwks = await jwksOf(`${stack.url}/oauth2/jwks`);
    await assert.rejects(
      verify(first, jwks, { iss: new URL(stack.url).origin, aud: 'https://aud.example', at: iat + 61 }),
      { code: 'ERR_JWT_EXPIRED' },
    );
  });

  test('a WebSocket upgrade carries the assertion too', async () => {
    const out = await openWebSocket(stack.url, '/ws', ['Cookie', cookie, 'X-Portcullis-Assertion', SPOOF]);
    assert.ok(out.upgraded, out.upgraded ? '' : `${out.status} ${out.body}`);
    const { ws } = out;
    try {
      ws.send('__headers__');
      const headers = JSON.parse(await ws.next()) as Record<string, string>;
      const jwt = headers['x-portcullis-assertion'];
      assert.ok(jwt !== undefined && jwt !== SPOOF, String(jwt));
      const claims = await verify(jwt, await jwksOf(`${stack.url}/oauth2/jwks`), {
        iss: new URL(stack.url).origin,
        aud: appOrigin,
        at: now(),
      });
      assert.equal(claims.sub, 'alice');
    } finally {
      ws.close();
    }
  });

  test('/oauth2/jwks: public keys only, as a JWK set; GET and HEAD only', async () => {
    const r = await fetch(`${stack.url}/oauth2/jwks`);
    assert.equal(r.headers.get('content-type'), 'application/jwk-set+json');
    const { keys } = (await r.json()) as { keys: Record<string, unknown>[] };
    assert.deepEqual(keys.map((k) => k['alg']).sort(), ['ES256', 'RS256']);
    for (const k of keys) {
      for (const priv of ['d', 'p', 'q', 'dp', 'dq', 'qi']) assert.equal(k[priv], undefined, priv);
      assert.equal(k['use'], 'sig');
    }
    const head = await fetch(`${stack.url}/oauth2/jwks`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    const post = await fetch(`${stack.url}/oauth2/jwks`, { method: 'POST' });
    assert.equal(post.status, 405);
  });

  test('after `keys rotate --now` and a reload, the new key signs and the old one verifies until its assertions expire', async () => {
    const before = (await get('/api/before')).assertions[0]!;
    const oldKid = decodeProtectedHeader(before).kid!;
    const beforeClaims = decodeJwt(before);

    const configFile = join(dir, 'portcullis.json');
    writeFileSync(configFile, JSON.stringify(raw));
    const cli = spawnSync(
      process.execPath,
      ['src/cli/main.ts', 'keys', 'rotate', '--now', '--config', configFile],
      {
        encoding: 'utf8',
      },
    );
    assert.equal(cli.status, 0, cli.stderr);
    assert.match(cli.stdout, /rotated the signing keys \(now version 2\)/);
    assert.match(cli.stdout, /\/oauth2\/jwks/);
    const retired = new RegExp(`retired\\s+ES256\\s+${oldKid}\\s+verifies until (\\S+)`).exec(cli.stdout);
    assert.ok(retired, cli.stdout);
    // Kept at least as long as the longest assertion lifetime (300 s), counted from the rotation.
    assert.ok(Date.parse(retired[1]!) / 1000 >= Date.now() / 1000 + 300, retired[1]);

    // Until the instance looks again (every minute), the old key keeps signing.
    assert.equal((await get('/api/still')).assertions[0], before);
    const signer = stack.gw.ctx.assertions!;
    assert.equal(await signer.refresh(), true);
    const newKid = signer.kid;
    assert.notEqual(newKid, oldKid);

    const jwks = await jwksOf(`${stack.url}/oauth2/jwks`);
    assert.equal(jwks.keys.length, 4, 'new and retired keys are published');
    // The same session: its cached assertion is dropped, and the new key signs from now on.
    const after_ = (await get('/api/after')).assertions[0]!;
    assert.equal(decodeProtectedHeader(after_).kid, newKid, 'signed with the new key');
    await verify(after_, jwks, { iss: new URL(stack.url).origin, aud: appOrigin });
    // A reload (SIGHUP) keeps the signer and its keys.
    stack.gw.reload(stack.gw.ctx.config);
    assert.equal(await stack.gw.ctx.assertions!.refresh(), false);
    const reloaded = (await get('/api/reloaded')).assertions[0]!;
    assert.equal(decodeProtectedHeader(reloaded).kid, newKid);
    // The assertion signed before the rotation still verifies against the new key set until it expires.
    await verify(before, jwks, { iss: new URL(stack.url).origin, aud: appOrigin, at: beforeClaims.exp! - 1 });
  });
});

describe('X-Portcullis-Assertion with the issuer mounted', () => {
  let stack: Stack;

  before(async () => {
    stack = await startStack({
      config: (base) => ({
        ...base,
        upstreams: (base['upstreams'] as Record<string, unknown>[]).map((u) => ({
          ...u,
          assertion: { audience: 'sample-app' },
        })),
        issuer: {
          clients: [
            {
              id: 'svc',
              secret: 'a-client-secret-of-at-least-32-characters',
              redirectUris: ['http://127.0.0.1:9/cb'],
            },
          ],
        },
        storage: { type: 'memory' },
      }),
    });
  });
  after(() => stack.close());

  test('/oidc/jwks and /oauth2/jwks publish the same keys, and the assertion verifies with either', async () => {
    const b = await stack.signIn('bob');
    const r = await b.get(`${stack.url}/whoami`, { headers: { accept: 'application/json' } });
    assert.equal(r.status, 200, r.body);
    const jwt = (JSON.parse(r.body) as Echo).headers['x-portcullis-assertion'] as string;
    assert.equal(typeof jwt, 'string');
    const own = await jwksOf(`${stack.url}/oauth2/jwks`);
    const issuers = await jwksOf(`${stack.url}/oidc/jwks`);
    const kids = (s: JSONWebKeySet) => s.keys.map((k) => k.kid).sort();
    assert.deepEqual(kids(own), kids(issuers));
    for (const jwks of [own, issuers]) {
      const claims = await verify(jwt, jwks, { iss: new URL(stack.url).origin, aud: 'sample-app' });
      assert.equal(claims.sub, 'bob');
    }
  });
});

describe('X-Portcullis-Assertion is off unless configured', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(() => stack.close());

  test('no signer, no header, and /oauth2/jwks is an empty set', async () => {
    assert.equal(stack.gw.ctx.assertions, undefined, 'no keys, no storage opened');
    assert.deepEqual(await jwksOf(`${stack.url}/oauth2/jwks`), { keys: [] });
    const b = await stack.signIn('alice');
    const r = await b.get(`${stack.url}/api/x`);
    const echo = JSON.parse(r.body) as Echo;
    assert.equal(echo.headers['x-forwarded-user'], 'alice');
    assert.equal(echo.headers['x-portcullis-assertion'], undefined);
  });
});

describe('assertion configuration', () => {
  const base = (assertion: unknown): RawConfig =>
    ({
      publicUrl: 'https://platform.example.com',
      cookie: { secret: 'x'.repeat(32) },
      providers: [{ id: 'corp', type: 'oidc', issuer: 'https://login.example.com', clientId: 'c' }],
      upstreams: [{ path: '/', url: 'http://app.internal:8080/base', assertion }],
    }) as RawConfig;

  test('an empty section turns it on with the defaults', () => {
    const c = resolveConfig(base({}));
    assert.deepEqual(c.upstreams[0]!.assertion, { enabled: true, lifetime: 300 });
  });

  test('a lifetime outside 30s–1h and unknown keys are refused with the key named', () => {
    for (const [value, pattern] of [
      [{ lifetime: '10s' }, /upstreams\[0\]\.assertion\.lifetime: 10s; must be between 30s and 1h/],
      [{ lifetime: '2h' }, /upstreams\[0\]\.assertion\.lifetime: 7200s/],
      [{ audiance: 'x' }, /upstreams\[0\]\.assertion\.audiance: unknown key — did you mean "audience"\?/],
    ] as const) {
      assert.throws(
        () => resolveConfig(base(value)),
        (err: unknown) => err instanceof ConfigError && pattern.test(err.problems.join('\n')),
        JSON.stringify(value),
      );
    }
  });
});

describe('the signer', () => {
  const session = (expiresAt: number): Session => ({
    v: 1,
    provider: 'corp',
    identity: { sub: 'u1', groups: [] },
    createdAt: expiresAt - 3600,
    expiresAt,
  });
  const spec = assertionSpec({ url: 'http://app:8080/x', assertion: { enabled: true, lifetime: 300 } })!;

  test('an assertion never outlives its session, and the default audience is the upstream origin', async () => {
    const signer = await AssertionSigner.start(
      new MemoryStorage(),
      [randomBytes(32)],
      createLogger('silent'),
      {
        pollMs: 0,
      },
    );
    const t = 1_000_000;
    const jwt = await signer.assertion(session(t + 10), spec, 'https://gw.example', t);
    const claims = decodeJwt(jwt);
    assert.equal(claims.exp, t + 10);
    assert.equal(claims.aud, 'http://app:8080');
    assert.equal(claims.iss, 'https://gw.example');
    signer.close();
  });

  test('a retired key leaves the published set when its window ends, once (no reload every poll)', async () => {
    const storage = new MemoryStorage();
    const secret = [randomBytes(32)];
    const signer = await AssertionSigner.start(storage, secret, createLogger('silent'), { pollMs: 0 });
    const first = signer.kid;
    assert.equal(await signer.refresh(), false, 'nothing changed');
    // keepUntil = rotation + keepFor + 60 s of skew: here 2 s from now.
    const t = Math.floor(Date.now() / 1000);
    await new KeyStore(storage, secret).rotate(t - 58, 0);
    assert.equal(await signer.refresh(), true);
    assert.notEqual(signer.kid, first);
    const kids = () => (JSON.parse(signer.jwks) as JSONWebKeySet).keys.map((k) => k.kid);
    assert.equal(kids().length, 4);
    assert.ok(kids().includes(first));
    await sleep(Math.max(0, (t + 2) * 1000 - Date.now()) + 50);
    assert.equal(await signer.refresh(), true, 'the window ended');
    assert.equal(kids().length, 2);
    assert.ok(!kids().includes(first));
    assert.equal(await signer.refresh(), false, 'and that is all');
    signer.close();
  });
});
