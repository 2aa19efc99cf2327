/**
 * Server-side sessions (`sessions.store: redis`): the store on its own (forged cookies never reach it,
 * revocation, encryption at rest, one redemption per refresh token across instances, failures as
 * PCL_SESSION_STORE_UNAVAILABLE), then the real gateway against real Redis and a real oidc-provider IdP.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { request } from 'undici';
import { sessionsCommand } from '../../src/cli/sessions.ts';
import { ConfigError } from '../../src/config/errors.ts';
import { resolveConfig } from '../../src/config/load.ts';
import type { RawConfig } from '../../src/config/schema.ts';
import type { Result } from '../../src/doctor/finding.ts';
import { sessionStore as sessionStoreCheck } from '../../src/doctor/reach.ts';
import { PortcullisError } from '../../src/errors/codes.ts';
import { createLogger } from '../../src/observability/log.ts';
import { type RunningGateway, startGateway } from '../../src/server/start.ts';
import { cookieNames } from '../../src/sessions/cookie-store.ts';
import { Sealer } from '../../src/sessions/sealer.ts';
import { LOCK_KIND, SESSION_KIND, ServerSessionStore } from '../../src/sessions/server-store.ts';
import type { Session } from '../../src/sessions/session.ts';
import { MemoryStorage } from '../../src/storage/memory.ts';
import { RedisStorage } from '../../src/storage/redis.ts';
import type { Storage } from '../../src/storage/storage.ts';
import { openWebSocket } from '../support/raw.ts';
import { type Stack, startStack } from '../support/stack.ts';
import { apply, NOW, session } from './store-contract.ts';

const REDIS_URL = process.env['PORTCULLIS_TEST_REDIS'] ?? 'redis://127.0.0.1:6379/0';
const names = cookieNames('portcullis', false, undefined);

function newPrefix(): string {
  return `portcullis-test:${randomBytes(6).toString('hex')}:`;
}

async function redisDump(prefix: string): Promise<Map<string, string>> {
  const r = new Redis(REDIS_URL);
  const out = new Map<string, string>();
  for (const key of await r.keys(`${prefix}*`)) {
    const type = await r.type(key);
    out.set(
      key,
      type === 'hash'
        ? JSON.stringify(await r.hgetall(key))
        : type === 'set'
          ? JSON.stringify(await r.smembers(key))
          : String(await r.get(key)),
    );
  }
  await r.quit();
  return out;
}

async function removePrefix(prefix: string): Promise<void> {
  const r = new Redis(REDIS_URL);
  const keys = await r.keys(`${prefix}*`);
  if (keys.length > 0) await r.del(...keys);
  await r.quit();
}

/** A storage that counts the calls it gets and can be made to fail or hang. */
class Probe implements Storage {
  readonly type = 'memory' as const;
  readonly inner = new MemoryStorage();
  calls = 0;
  mode: 'ok' | 'fail' | 'hang' = 'ok';
  #go<T>(f: () => Promise<T>): Promise<T> {
    this.calls++;
    if (this.mode === 'fail') return Promise.reject(new Error('ECONNREFUSED 127.0.0.1:6379'));
    if (this.mode === 'hang') return new Promise<T>(() => {});
    return f();
  }
  upsert: Storage['upsert'] = (...a) => this.#go(() => this.inner.upsert(...a));
  create: Storage['create'] = (...a) => this.#go(() => this.inner.create(...a));
  swap: Storage['swap'] = (...a) => this.#go(() => this.inner.swap(...a));
  find: Storage['find'] = (...a) => this.#go(() => this.inner.find(...a));
  findBy: Storage['findBy'] = (...a) => this.#go(() => this.inner.findBy(...a));
  consume: Storage['consume'] = (...a) => this.#go(() => this.inner.consume(...a));
  destroy: Storage['destroy'] = (...a) => this.#go(() => this.inner.destroy(...a));
  revokeGrant: Storage['revokeGrant'] = (...a) => this.#go(() => this.inner.revokeGrant(...a));
  listGrant: Storage['listGrant'] = (...a) => this.#go(() => this.inner.listGrant(...a));
  cleanup = () => this.inner.cleanup();
  close = () => this.inner.close();
}

function serverStore(
  storage: Storage,
  secret: Buffer,
  extra: { onError?: () => void; timeoutMs?: number } = {},
) {
  return new ServerSessionStore({
    storage,
    type: 'redis',
    cookieKeys: [secret],
    names,
    cookieOptions: { secure: false },
    ownsStorage: false,
    ...extra,
  });
}

describe('server session store', () => {
  test('the cookie holds a sealed id only; a forged or tampered one is refused without asking the store', async () => {
    const probe = new Probe();
    const secret = randomBytes(32);
    const st = serverStore(probe, secret);
    const s = session({ idToken: `eyJ${'a'.repeat(3000)}` });
    const jar = apply(new Map(), await st.write(s, new Map(), NOW));
    const value = jar.get('portcullis')!;
    assert.ok(value.length < 120, `cookie value is ${value.length} characters`);
    for (const token of [s.accessToken!, s.refreshToken!, 'alice'])
      assert.ok(!Buffer.from(value, 'base64url').toString('latin1').includes(token));
    probe.calls = 0;
    const flipped = value.slice(0, 30) + (value[30] === 'A' ? 'B' : 'A') + value.slice(31);
    const foreign = new Sealer([randomBytes(32)]).seal('session-ref', randomBytes(32).toString('base64url'));
    // The cookie store's format with the right key is not an id either (other purpose).
    const cookieSession = new Sealer([secret]).seal('session', JSON.stringify(s));
    for (const bad of [flipped, foreign, cookieSession, value.slice(1)])
      assert.equal(st.read(new Map([['portcullis', bad]]), NOW), undefined);
    assert.equal(probe.calls, 0, 'the store was not asked');
    // A well-formed id that the store does not know: one lookup, no session.
    const unknown = new Sealer([secret]).seal('session-ref', randomBytes(32).toString('base64url'));
    assert.equal(await st.read(new Map([['portcullis', unknown]]), NOW), undefined);
    assert.equal(probe.calls, 1);
  });

  test('clear() revokes: the old cookie, replayed, is no session; sign-in again issues a new id', async () => {
    const st = serverStore(new MemoryStorage(), randomBytes(32));
    const jar = apply(new Map(), await st.write(session(), new Map(), NOW));
    const again = apply(jar, await st.write(session(), jar, NOW));
    assert.notEqual(again.get('portcullis'), jar.get('portcullis'), 'a new id at every sign-in');
    assert.equal(await st.read(jar, NOW), undefined, 'the previous session of this browser was deleted');
    assert.ok(await st.read(again, NOW));
    await st.clear(again);
    assert.equal(await st.read(again, NOW), undefined, 'replayed after sign-out');
  });

  test('a failing or hanging store is PCL_SESSION_STORE_UNAVAILABLE (never "no session"), and counted', async () => {
    const probe = new Probe();
    let errors = 0;
    const st = serverStore(probe, randomBytes(32), { onError: () => errors++, timeoutMs: 100 });
    const jar = apply(new Map(), await st.write(session(), new Map(), NOW));
    for (const mode of ['fail', 'hang'] as const) {
      probe.mode = mode;
      await assert.rejects(
        Promise.resolve(st.read(jar, NOW)),
        (err: unknown) =>
          err instanceof PortcullisError &&
          err.code === 'PCL_SESSION_STORE_UNAVAILABLE' &&
          err.status === 503,
      );
      await assert.rejects(st.clear(jar), /PCL_SESSION_STORE_UNAVAILABLE/);
    }
    assert.equal(errors, 4);
    probe.mode = 'ok';
    assert.ok(await st.read(jar, NOW), 'back when the store is');
  });

  test('the refresh lock expires by itself, and only its holder releases it', async () => {
    let clock = Date.now();
    const storage = new MemoryStorage({ now: () => clock });
    const secret = randomBytes(32);
    const a = serverStore(storage, secret);
    const b = serverStore(storage, secret);
    const s = session();
    const jar = apply(new Map(), await a.write(s, new Map(), NOW));
    const id = new Sealer([secret]).open('session-ref', jar.get('portcullis')!)!;
    const key = createHash('sha256').update(id).digest('base64url');
    const gated = (tag: string) => {
      const started = Promise.withResolvers<void>();
      const answer = Promise.withResolvers<void>();
      const redeem = async (current: Session): Promise<Session> => {
        started.resolve();
        await answer.promise;
        return {
          ...current,
          accessToken: `at-${tag}`,
          accessTokenExpiresAt: NOW + 400,
          refreshToken: `rt-${tag}`,
        };
      };
      return { started: started.promise, answer: () => answer.resolve(), redeem };
    };
    const ra = gated('a');
    const onA = a.refresh(jar, s, NOW + 100, ra.redeem);
    await ra.started;
    // A hangs past its lock's lifetime: the lock is gone by itself, and B takes it (nothing breaks it).
    clock += 16_000;
    const rb = gated('b');
    const onB = b.refresh(jar, s, NOW + 100, rb.redeem);
    await rb.started;
    ra.answer();
    assert.equal((await onA).session?.refreshToken, 'rt-a', 'A wrote back first');
    assert.ok(await storage.find(LOCK_KIND, key), 'A did not release the lock B holds');
    rb.answer();
    assert.equal(
      (await onB).session?.refreshToken,
      'rt-a',
      'B lost the compare-and-set and uses A’s session',
    );
    assert.equal((await a.read(jar, NOW + 100))?.refreshToken, 'rt-a');
    assert.equal(await storage.find(LOCK_KIND, key), undefined, 'B released its lock');
  });

  describe('on redis', () => {
    const prefix = newPrefix();
    const storages: RedisStorage[] = [];
    const connect = async () => {
      const s = await RedisStorage.connect({ url: REDIS_URL, keyPrefix: prefix });
      storages.push(s);
      return s;
    };
    after(async () => {
      for (const s of storages) await s.close();
      await removePrefix(prefix);
    });

    test('redis holds neither the cookie value, the id, nor any token in clear; TTL = remaining lifetime', async () => {
      const st = serverStore(await connect(), randomBytes(32));
      const s = session({ expiresAt: NOW + 600, idToken: 'eyJ.id-token-secret' });
      const jar = apply(new Map(), await st.write(s, new Map(), NOW));
      const dump = await redisDump(prefix);
      const keys = [...dump.keys()].filter((k) => k.includes(`e:${SESSION_KIND}:`));
      assert.equal(keys.length, 1);
      const text = [...dump].join('\n');
      for (const secret of [
        s.accessToken!,
        s.refreshToken!,
        'id-token-secret',
        'alice@example.com',
        jar.get('portcullis')!,
      ])
        assert.ok(!text.includes(secret), `redis shows ${secret.slice(0, 12)}…`);
      const r = new Redis(REDIS_URL);
      const ttl = await r.pttl(keys[0]!);
      await r.quit();
      assert.ok(ttl > 590_000 && ttl <= 600_000, `ttl ${ttl} ms`);
    });

    test('two instances refreshing one session at once redeem the refresh token once', async () => {
      const secret = randomBytes(32);
      const a = serverStore(await connect(), secret);
      const b = serverStore(await connect(), secret);
      const s = session();
      const jar = apply(new Map(), await a.write(s, new Map(), NOW));
      let redeemed = 0;
      const redeem = async (current: Session): Promise<Session> => {
        redeemed++;
        await new Promise((r) => setTimeout(r, 200));
        return { ...current, accessToken: 'at-2', accessTokenExpiresAt: NOW + 400, refreshToken: 'rt-2' };
      };
      const later = NOW + 100;
      const results = await Promise.all([a, b, a, b, b, a].map((st) => st.refresh(jar, s, later, redeem)));
      assert.equal(redeemed, 1);
      for (const r of results) assert.equal(r.session?.accessToken, 'at-2');
      assert.equal((await b.read(jar, later))?.refreshToken, 'rt-2');
      const dump = await redisDump(prefix);
      assert.ok(![...dump.keys()].some((k) => k.includes(LOCK_KIND)), 'the lock is released');
    });

    test('a refused refresh ends the session on every instance', async () => {
      const secret = randomBytes(32);
      const a = serverStore(await connect(), secret);
      const b = serverStore(await connect(), secret);
      const s = session();
      const jar = apply(new Map(), await a.write(s, new Map(), NOW));
      await assert.rejects(
        a.refresh(jar, s, NOW + 100, async () => {
          throw new Error('invalid_grant');
        }),
      );
      assert.equal(await b.read(jar, NOW + 100), undefined);
    });
  });
});

describe('configuration', () => {
  const base = {
    publicUrl: 'http://127.0.0.1:4180',
    cookie: { secret: randomBytes(32).toString('base64url') },
    providers: [{ id: 'x', type: 'oidc', issuer: 'https://idp.example.com', clientId: 'c' }],
    upstreams: [{ path: '/', url: 'http://127.0.0.1:8080' }],
  };
  const problems = (sessions: unknown): readonly string[] => {
    try {
      resolveConfig({ ...base, sessions } as RawConfig, {});
      return [];
    } catch (err) {
      assert.ok(err instanceof ConfigError, String(err));
      return err.problems;
    }
  };

  test('store redis needs a redis URL; the message names the key and the fix', () => {
    assert.deepEqual(problems({ store: 'redis' }), [
      'sessions.url: store redis needs a URL, e.g. redis://127.0.0.1:6379/0 (or sentinels + sentinelMasterName for Sentinel, or cluster for a Redis Cluster)',
    ]);
    assert.match(
      problems({ store: 'redis', url: 'http://user:pw@redis:6379' })[0]!,
      /^sessions\.url: "http:\/\/redis:6379\/" is not a redis:\/\//,
    );
    assert.deepEqual(problems({ store: 'redis', url: 'redis://127.0.0.1:6379/0' }), []);
  });

  test('redis settings with another store are refused rather than ignored; unknown stores are named', () => {
    assert.match(
      problems({ url: 'redis://127.0.0.1:6379' })[0]!,
      /^sessions\.url: only used with store redis \(store is cookie\)/,
    );
    assert.match(
      problems({ store: 'storage', password: 'x' })[0]!,
      /^sessions\.password: only used with store redis/,
    );
    assert.match(problems({ store: 'memcached' }).join('\n'), /sessions\.store/);
    const c = resolveConfig({ ...base, sessions: { store: 'storage' } } as RawConfig, {});
    assert.equal(c.sessions.store, 'storage');
    assert.equal(resolveConfig(base as RawConfig, {}).sessions.store, 'cookie');
  });
});

/** A TCP relay to Redis that can be cut (connections dropped, new ones refused) and restored on the same port. */
class Relay {
  #server: net.Server | undefined;
  readonly #sockets = new Set<net.Socket>();
  port = 0;
  async up(): Promise<void> {
    const target = new URL(REDIS_URL);
    this.#server = net.createServer((client) => {
      const upstream = net.connect(Number(target.port || 6379), target.hostname);
      for (const s of [client, upstream]) {
        this.#sockets.add(s);
        s.on('close', () => this.#sockets.delete(s));
        s.on('error', () => s.destroy());
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => this.#server!.listen(this.port, '127.0.0.1', resolve));
    this.port = (this.#server.address() as net.AddressInfo).port;
  }
  async down(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server?.close(() => resolve()));
    for (const s of this.#sockets) s.destroy();
    await closed;
  }
}

describe('through the gateway (real Redis, real IdP)', () => {
  const prefix = newPrefix();
  const relay = new Relay();
  let stack: Stack;
  let second: RunningGateway;
  let tokenResponses = 0;
  const counting = async (body: Record<string, unknown>) => {
    tokenResponses++;
    // Widen the window in which two instances could both redeem the same refresh token.
    await new Promise((r) => setTimeout(r, 300));
    return body;
  };

  before(async () => {
    await relay.up();
    stack = await startStack({
      accessTokenTtlSeconds: 60,
      config: (c) => ({
        ...c,
        sessions: { store: 'redis', url: `redis://127.0.0.1:${relay.port}/0`, keyPrefix: prefix },
        upstreams: [
          {
            path: '/',
            url: (c['upstreams'] as { url: string }[])[0]!.url,
            passAuthorization: 'access_token',
          },
        ],
      }),
    });
    // A second instance: same configuration and clock, its own port and its own Redis connection.
    second = await startGateway(
      stack.gw.ctx.config,
      createLogger('silent', new Writable({ write: (_c, _e, cb) => cb() })),
      {
        port: 0,
        now: stack.gw.ctx.now,
      },
    );
    stack.idp.setTokenResponseHook(counting);
  });
  after(async () => {
    // Each, even when one fails: a listener left open keeps the file's process alive.
    await Promise.allSettled([second?.close(), stack?.close()]);
    await relay.down();
    await removePrefix(prefix);
  });

  /** A GET as a browser (undici's request: fetch would add sec-fetch-mode: cors, which reads as an API call). */
  const get = async (
    base: string,
    path: string,
    cookie: string | undefined,
    accept = 'application/json',
    method: 'GET' | 'POST' = 'GET',
  ) => {
    const r = await request(`${base}${path}`, {
      method,
      headers: {
        accept,
        // A POST here is the sign-out button on Portcullis's own page (Fetch Metadata says so).
        ...(method === 'POST' ? { 'sec-fetch-site': 'same-origin' } : {}),
        ...(accept.includes('html') ? { 'sec-fetch-mode': 'navigate' } : {}),
        ...(cookie ? { cookie: `portcullis=${cookie}` } : {}),
      },
    });
    const headers = new Headers();
    for (const [k, v] of Object.entries(r.headers))
      for (const one of Array.isArray(v) ? v : [v ?? '']) headers.append(k, one);
    return new Response(r.statusCode === 204 ? null : await r.body.arrayBuffer(), {
      status: r.statusCode,
      headers,
    });
  };

  async function signedIn(user = 'alice'): Promise<string> {
    const b = await stack.signIn(user, '/api/x');
    const c = b.jar.get('portcullis', stack.url);
    assert.ok(c);
    return c.value;
  }

  test('sign in: the cookie is small and holds no token; the proxied request carries the identity', async () => {
    const cookie = await signedIn('alice');
    assert.ok(cookie.length < 120, `cookie of ${cookie.length} characters`);
    const r = await get(stack.url, '/api/x', cookie);
    assert.equal(r.status, 200);
    const echo = (await r.json()) as { headers: Record<string, string> };
    assert.equal(echo.headers['x-forwarded-user'], 'alice');
    assert.equal(echo.headers['x-forwarded-email'], 'alice@example.com');
    const token = echo.headers['authorization']!.slice('Bearer '.length);
    assert.ok(token.length > 10);
    assert.ok(!cookie.includes(token));
    assert.equal(echo.headers['cookie'], undefined, 'the session cookie is not forwarded');
    const dump = [...(await redisDump(prefix))].join('\n');
    assert.ok(dump.length > 0, 'the session is in redis');
    assert.ok(!dump.includes(token), 'redis does not show the access token');
  });

  test('two instances sharing Redis serve one session; sign-out on one revokes it on both', async () => {
    const cookie = await signedIn('bob');
    for (const base of [stack.url, second.url]) {
      const r = await get(base, '/api/y', cookie);
      assert.equal(r.status, 200, base);
      assert.equal(
        ((await r.json()) as { headers: Record<string, string> }).headers['x-forwarded-user'],
        'bob',
      );
    }
    const out = await get(second.url, '/oauth2/sign_out', cookie, 'text/html', 'POST');
    assert.equal(out.status, 303);
    assert.ok(out.headers.getSetCookie().some((c) => /^portcullis=;.*Max-Age=0/.test(c)));
    // The old cookie, replayed: no session on either instance, and never an error page.
    for (const base of [stack.url, second.url]) {
      assert.equal((await get(base, '/api/y', cookie)).status, 401);
      const page = await get(base, '/y', cookie, 'text/html');
      assert.equal(page.status, 302);
      assert.match(page.headers.get('location') ?? '', /^\/oauth2\/sign_in\?rd=/);
    }
  });

  /** A sign-out form POSTed from Portcullis's own page (Fetch Metadata same-origin), or from elsewhere. */
  const postForm = async (base: string, cookie: string | undefined, form: string, site = 'same-origin') => {
    const r = await request(`${base}/oauth2/sign_out`, {
      method: 'POST',
      headers: {
        accept: 'text/html',
        'content-type': 'application/x-www-form-urlencoded',
        'sec-fetch-site': site,
        'sec-fetch-mode': 'navigate',
        ...(cookie ? { cookie } : {}),
      },
      body: form,
    });
    await r.body.dump();
    const set = r.headers['set-cookie'];
    return {
      status: r.statusCode,
      location: String(r.headers['location'] ?? ''),
      setCookies: set === undefined ? [] : Array.isArray(set) ? set : [set],
    };
  };
  const carol = { provider: 'test', sub: 'carol' };

  test('sign out everywhere: every session of the user ends on both instances at once; another user stays signed in', async () => {
    const laptop = await signedIn('carol');
    const phone = await signedIn('carol');
    const other = await signedIn('alice');
    const users = stack.gw.ctx.sessions.users!;
    assert.equal((await users.listUser(carol, stack.gw.ctx.now())).length, 2);
    for (const c of [laptop, phone]) assert.equal((await get(second.url, '/api/e', c)).status, 200);
    // From another site: refused, nothing ended.
    const cross = await postForm(second.url, `portcullis=${laptop}`, 'everywhere=1', 'cross-site');
    assert.equal(cross.status, 403);
    assert.equal((await get(stack.url, '/api/e', phone)).status, 200);

    const out = await postForm(second.url, `portcullis=${laptop}`, 'everywhere=1');
    assert.equal(out.status, 303);
    assert.equal(out.location, `${stack.gw.ctx.config.public.origin}/oauth2/signed_out?everywhere=1`);
    for (const base of [stack.url, second.url])
      for (const c of [laptop, phone]) {
        const r = await get(base, '/api/e', c);
        await r.body?.cancel();
        assert.equal(r.status, 401, `${base}: a session of carol survived`);
      }
    assert.equal((await get(stack.url, '/api/e', other)).status, 200, 'alice is still signed in');
    assert.deepEqual(await users.listUser(carol, stack.gw.ctx.now()), []);
  });

  test('endOne (the console): one session of a user ends on both instances, by its listing ref; the other stays', async () => {
    const laptop = await signedIn('carol');
    const phone = await signedIn('carol');
    const users = stack.gw.ctx.sessions.users!;
    const now = stack.gw.ctx.now();
    const listed = await users.listUser(carol, now);
    assert.equal(listed.length, 2);
    assert.equal(await users.endOne(carol, 'not-a-ref'), false, 'a malformed ref ends nothing');
    assert.equal(
      await users.endOne({ provider: 'test', sub: 'alice' }, listed[0]!.ref),
      false,
      'another user’s ref',
    );
    assert.equal(await users.endOne(carol, listed[0]!.ref), true);
    assert.equal(await users.endOne(carol, listed[0]!.ref), false, 'already ended');
    const status = async (c: string) => {
      const r = await get(second.url, '/api/e', c);
      await r.body?.cancel();
      return r.status;
    };
    assert.deepEqual([await status(laptop), await status(phone)].sort(), [200, 401]);
    assert.deepEqual(
      (await users.listUser(carol, now)).map((x) => x.ref),
      [listed[1]!.ref],
    );
    await users.endUser(carol);
  });

  test('the signed-out page offers "every device" after a sign-out, and that button ends the other sessions', async () => {
    const laptop = await signedIn('carol');
    const phone = await signedIn('carol');
    const out = await postForm(stack.url, `portcullis=${laptop}`, '');
    assert.equal(out.status, 303);
    const marker = out.setCookies.find((c) => c.startsWith('portcullis_signed_out='));
    assert.ok(marker, 'a signed-out-as cookie');
    assert.match(marker, /HttpOnly/);
    const jar = marker.split(';')[0]!;
    const page = await request(`${stack.url}/oauth2/signed_out`, { headers: { cookie: jar } });
    assert.match(await page.body.text(), /Sign out of every device/);
    const bare = await request(`${stack.url}/oauth2/signed_out`);
    assert.doesNotMatch(await bare.body.text(), /every device/);
    assert.equal((await get(second.url, '/api/e', phone)).status, 200, 'the phone is still signed in');
    const all = await postForm(second.url, jar, 'everywhere=1');
    assert.equal(all.status, 303);
    assert.equal((await get(second.url, '/api/e', phone)).status, 401, 'the phone is signed out');
    assert.ok(all.setCookies.some((c) => /^portcullis_signed_out=;.*Max-Age=0/.test(c)));
  });

  test('portcullis sessions list|revoke --user: lists the sessions of a user and ends them on every instance', async () => {
    const laptop = await signedIn('carol');
    const phone = await signedIn('carol');
    const other = await signedIn('alice');
    const dir = mkdtempSync(join(tmpdir(), 'pcl-sessions-cli-'));
    try {
      const file = join(dir, 'portcullis.yaml');
      const c = stack.gw.ctx.config;
      writeFileSync(
        file,
        JSON.stringify({
          publicUrl: c.public.href,
          cookie: { secret: c.cookieKeys[0]!.toString('base64url') },
          providers: [{ id: 'test', type: 'oidc', issuer: 'https://idp.invalid', clientId: 'x' }],
          upstreams: [{ path: '/', url: 'http://127.0.0.1:9' }],
          sessions:
            c.sessions.store === 'redis' ? { store: 'redis', url: c.sessions.url, keyPrefix: prefix } : {},
        }),
      );
      let text = '';
      const out = new Writable({
        write: (chunk, _e, cb) => {
          text += chunk;
          cb();
        },
      });
      await sessionsCommand(['list', '--user', 'carol', '--config', file], out);
      assert.match(text, /^carol at test: 2 session\(s\)\n {2}session \S{12} {2}signed in \d{4}-/);
      text = '';
      await sessionsCommand(['revoke', '--user=carol', '--provider', 'test', '--config', file], out);
      assert.match(text, /carol at test: ended 2 session\(s\)/);
      for (const base of [stack.url, second.url])
        for (const cookie of [laptop, phone]) {
          const r = await get(base, '/api/e', cookie);
          await r.body?.cancel();
          assert.equal(r.status, 401);
        }
      assert.equal((await get(second.url, '/api/e', other)).status, 200);
      await assert.rejects(sessionsCommand(['list', '--config', file], out), /needs --user/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a tampered or forged cookie is no session: 401 / redirect, never an error', async () => {
    const cookie = await signedIn('alice');
    const flipped = cookie.slice(0, 40) + (cookie[40] === 'A' ? 'B' : 'A') + cookie.slice(41);
    const forged = new Sealer([randomBytes(32)]).seal('session-ref', randomBytes(32).toString('base64url'));
    const unknownId = new Sealer(stack.gw.ctx.config.cookieKeys).seal(
      'session-ref',
      randomBytes(32).toString('base64url'),
    );
    for (const bad of [flipped, forged, unknownId, 'garbage', `${cookie}x`]) {
      assert.equal((await get(stack.url, '/api/x', bad)).status, 401, bad);
      assert.equal((await get(stack.url, '/x', bad, 'text/html')).status, 302, bad);
    }
  });

  test('an expired access token is refreshed once, whichever instances ask at the same time', async () => {
    const cookie = await signedIn('carol');
    const first = (
      (await (await get(stack.url, '/api/r', cookie)).json()) as { headers: Record<string, string> }
    ).headers['authorization'];
    stack.advance(120);
    const before = tokenResponses;
    const answers = await Promise.all(
      [stack.url, second.url, stack.url, second.url].map((base) => get(base, '/api/r', cookie)),
    );
    assert.deepEqual(
      answers.map((r) => r.status),
      [200, 200, 200, 200],
    );
    const tokens = new Set(
      await Promise.all(
        answers.map(
          async (r) => ((await r.json()) as { headers: Record<string, string> }).headers['authorization'],
        ),
      ),
    );
    assert.equal(tokenResponses - before, 1, 'the refresh token was redeemed once');
    assert.equal(tokens.size, 1, 'every instance used the same new access token');
    assert.ok(!tokens.has(first), 'a new access token');
    // Still signed in afterwards (a second redemption would have made the IdP revoke the grant).
    assert.equal((await get(second.url, '/api/r', cookie)).status, 200);
    assert.ok(!answers.some((r) => r.headers.getSetCookie().length > 0), 'the cookie did not change');
  });

  test('sign-out on B while A is refreshing: A’s late write does not bring the session back on A or B', async () => {
    const cookie = await signedIn('bob');
    assert.equal((await get(stack.url, '/api/race', cookie)).status, 200);
    stack.advance(120);
    // A's refresh reaches the IdP, which answers only when told: the refresh is in flight.
    const hold = stack.idp.holdTokenResponses();
    try {
      const onA = get(stack.url, '/api/race', cookie);
      await hold.held;
      const out = await get(second.url, '/oauth2/sign_out', cookie, 'text/html', 'POST');
      assert.equal(out.status, 303);
      hold.release();
      const late = await onA;
      await late.body?.cancel();
      assert.equal(late.status, 401, 'the request that lost the race is treated as signed out');
      assert.ok(
        !late.headers.getSetCookie().some((c) => /^portcullis=[^;]/.test(c)),
        'and is handed no session cookie',
      );
    } finally {
      hold.release();
      stack.idp.setTokenResponseHook(counting);
    }
    // The old cookie, replayed on either instance, is no session.
    for (const base of [stack.url, second.url, stack.url]) {
      const r = await get(base, '/api/race', cookie);
      await r.body?.cancel();
      assert.equal(r.status, 401, base);
    }
  });

  test('Redis down: 503 PCL_SESSION_STORE_UNAVAILABLE with a request id, a metric, then recovery', async () => {
    const cookie = await signedIn('alice');
    assert.equal((await get(stack.url, '/api/x', cookie)).status, 200);
    const up = await get(stack.url, '/ready', undefined);
    assert.equal(up.status, 200);
    assert.deepEqual(await up.json(), { ready: true, failingProviders: [], sessionStore: 'ok' });
    await relay.down();
    try {
      const started = performance.now();
      const api = await get(stack.url, '/api/x', cookie);
      assert.ok(performance.now() - started < 5_000, 'answered promptly');
      assert.equal(api.status, 503);
      const body = (await api.json()) as { error: string; requestId: string };
      assert.equal(body.error, 'PCL_SESSION_STORE_UNAVAILABLE');
      assert.ok(body.requestId);
      assert.equal(api.headers.get('x-request-id'), body.requestId);
      const page = await get(stack.url, '/x', cookie, 'text/html');
      assert.equal(page.status, 503);
      assert.match(page.headers.get('content-type') ?? '', /text\/html/);
      const html = await page.text();
      assert.match(html, /Sessions are unavailable right now/);
      assert.match(html, /PCL_SESSION_STORE_UNAVAILABLE/);
      assert.match(html, new RegExp(page.headers.get('x-request-id')!));
      // A WebSocket handshake is refused with the same 503, not tunnelled and not treated as signed out.
      const ws = await openWebSocket(stack.url, '/ws', ['Cookie', `portcullis=${cookie}`]);
      assert.equal(ws.upgraded, false);
      if (!ws.upgraded) {
        assert.equal(ws.status, 503);
        assert.equal(JSON.parse(ws.body).error, 'PCL_SESSION_STORE_UNAVAILABLE');
      }
      // Forward-auth and sign-out fail the same way (sign-out must not pretend it revoked).
      assert.equal((await get(stack.url, '/oauth2/auth', cookie)).status, 503);
      assert.equal((await get(stack.url, '/oauth2/sign_out', cookie, 'text/html', 'POST')).status, 503);
      // Without a cookie nothing needs the store: public paths and health still answer.
      assert.equal((await get(stack.url, '/ping', undefined)).status, 200);
      assert.equal((await get(stack.url, '/api/x', undefined)).status, 401);
      // /ready tells the load balancer: the store is part of being able to serve signed-in users.
      const notReady = await get(stack.url, '/ready', undefined);
      assert.equal(notReady.status, 503);
      assert.deepEqual(await notReady.json(), {
        ready: false,
        failingProviders: [],
        sessionStore: 'unavailable',
      });
      const metrics = await (await fetch(`${stack.gw.metricsUrl}/metrics`)).text();
      const m = /portcullis_session_store_errors_total\{store="redis"\} (\d+)/.exec(metrics);
      assert.ok(m && Number(m[1]) >= 1, 'session store errors counted');
      assert.ok(
        stack.logs.some(
          (l) => l['code'] === 'PCL_SESSION_STORE_UNAVAILABLE' && l['requestId'] === body.requestId,
        ),
      );
    } finally {
      await relay.up();
    }
    // ioredis reconnects by itself (backoff up to 2 s).
    let status = 0;
    for (let i = 0; i < 50 && status !== 200; i++) {
      status = (await get(stack.url, '/api/x', cookie)).status;
      if (status !== 200) await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(status, 200, 'recovered');
  });

  test('portcullis check: the sessions.store check PINGs the redis store', async () => {
    const okResult = (await sessionStoreCheck.run({ config: stack.gw.ctx.config }, {
      timeoutMs: 2_000,
    } as never)) as Result | undefined;
    assert.equal(okResult?.status, 'ok', JSON.stringify(okResult));
    assert.match(okResult?.message ?? '', /redis at redis:\/\/127\.0\.0\.1:\d+\/0 answers PING/);
    const dead = {
      ...stack.gw.ctx.config,
      sessions: {
        ...stack.gw.ctx.config.sessions,
        url: 'redis://127.0.0.1:1/0',
        // The check connects the way the gateway does: through the resolved connection.
        redis: { shape: { kind: 'standalone' as const, url: 'redis://127.0.0.1:1/0' } },
      },
    };
    const failed = (await sessionStoreCheck.run({ config: dead }, { timeoutMs: 1_000 } as never)) as
      | Result
      | undefined;
    assert.equal(failed?.status, 'fail');
    assert.match(failed?.fix ?? '', /sessions\.url/);
  });
});

describe('sessions.store: storage (the storage section, sqlite here)', () => {
  let stack: Stack;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'portcullis-sessions-'));
    stack = await startStack({
      config: (c) => ({
        ...c,
        sessions: { store: 'storage' },
        storage: { type: 'sqlite', path: join(dir, 'portcullis.db') },
      }),
    });
  });
  after(async () => {
    await stack?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('sign in, a proxied request with identity, sign-out revokes the replayed cookie', async () => {
    const b = await stack.signIn('alice', '/api/s');
    const cookie = b.jar.get('portcullis', stack.url)!.value;
    assert.ok(cookie.length < 120);
    const send = () =>
      request(`${stack.url}/api/s`, {
        headers: { accept: 'application/json', cookie: `portcullis=${cookie}` },
      });
    const ok = await send();
    assert.equal(ok.statusCode, 200);
    const echo = (await ok.body.json()) as { headers: Record<string, string> };
    assert.equal(echo.headers['x-forwarded-user'], 'alice');
    await b.signOut(stack.url);
    const replayed = await send();
    await replayed.body.dump();
    assert.equal(replayed.statusCode, 401);
  });
});
