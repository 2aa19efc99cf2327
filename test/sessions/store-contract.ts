/**
 * The contract every session store passes (cookie, and the server store on memory, sqlite and redis):
 * what the gateway relies on, whatever the store. Store-specific behaviour (revocation, the store never
 * asked about a forged cookie, at-rest encryption, the cross-instance refresh lock) is tested beside each
 * store.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, test } from 'node:test';
import type { Session } from '../../src/sessions/session.ts';
import type { SessionStore } from '../../src/sessions/store.ts';

export const NOW = 1_800_000_000;

export function session(over: Partial<Session> = {}): Session {
  return {
    v: 1,
    provider: 'test',
    identity: { sub: 'alice', email: 'alice@example.com', groups: ['admins'] },
    createdAt: NOW,
    expiresAt: NOW + 3600,
    accessToken: `at-${randomBytes(8).toString('hex')}`,
    accessTokenExpiresAt: NOW + 60,
    refreshToken: `rt-${randomBytes(8).toString('hex')}`,
    ...over,
  };
}

export interface SetCookie {
  name: string;
  value: string;
  attributes: string[];
}

export function parseSetCookie(raw: string): SetCookie {
  const [pair = '', ...attributes] = raw.split('; ');
  const eq = pair.indexOf('=');
  return { name: pair.slice(0, eq), value: pair.slice(eq + 1), attributes };
}

/** What a browser sends back after these Set-Cookie values, starting from `jar`. */
export function apply(jar: ReadonlyMap<string, string>, setCookies: readonly string[]): Map<string, string> {
  const next = new Map(jar);
  for (const raw of setCookies) {
    const c = parseSetCookie(raw);
    if (c.attributes.includes('Max-Age=0')) next.delete(c.name);
    else next.set(c.name, c.value);
  }
  return next;
}

export interface StoreFixture {
  /**
   * A store with cookie name `portcullis` (not secure) and these cookie secrets (the first seals). Stores
   * opened by one fixture share their state (one storage), as instances sharing redis do.
   */
  open(secrets: readonly Buffer[], o?: { lockSeconds?: number }): SessionStore | Promise<SessionStore>;
  /**
   * True for stores that keep sessions on the server (sign-out revokes there, and refreshes race across
   * instances): they must also pass the sign-out/refresh race tests. A cookie session cannot be revoked.
   */
  readonly serverSide?: boolean;
  dispose?(): Promise<void>;
}

export function sessionStoreContract(name: string, fixture: StoreFixture): void {
  describe(`session store contract: ${name}`, () => {
    const secret = randomBytes(32);
    const stores: SessionStore[] = [];
    const open = async (keys: readonly Buffer[] = [secret], o?: { lockSeconds?: number }) => {
      const st = await fixture.open(keys, o);
      stores.push(st);
      return st;
    };
    after(async () => {
      for (const st of stores) await st.close();
      await fixture.dispose?.();
    });

    test('a written session is read back from the cookies it set, until it expires', async () => {
      const st = await open();
      const s = session();
      const jar = apply(new Map(), await st.write(s, new Map(), NOW));
      assert.ok(jar.has('portcullis'));
      assert.deepEqual(await st.read(jar, NOW), s);
      assert.deepEqual(await st.read(jar, NOW + 3599), s);
      assert.equal(await st.read(jar, NOW + 3600), undefined);
    });

    test('the cookie is HttpOnly, SameSite=Lax, Path=/, with Max-Age to the session end', async () => {
      const st = await open();
      const [raw] = await st.write(session({ expiresAt: NOW + 1234 }), new Map(), NOW);
      const c = parseSetCookie(raw!);
      assert.equal(c.name, 'portcullis');
      for (const a of ['HttpOnly', 'SameSite=Lax', 'Path=/', 'Max-Age=1234'])
        assert.ok(c.attributes.includes(a), a);
    });

    test('no cookie, or one that does not open, is no session (answered without waiting)', async () => {
      const st = await open();
      assert.equal(st.read(new Map(), NOW), undefined);
      const jar = apply(new Map(), await st.write(session(), new Map(), NOW));
      const value = jar.get('portcullis')!;
      const flipped = value.slice(0, 20) + (value[20] === 'A' ? 'B' : 'A') + value.slice(21);
      for (const bad of [flipped, value.slice(0, -4), 'x', '', randomBytes(60).toString('base64url')]) {
        assert.equal(st.read(new Map([['portcullis', bad]]), NOW), undefined, bad.slice(0, 30));
      }
      // Another deployment's secret.
      const other = await open([randomBytes(32)]);
      assert.equal(await other.read(jar, NOW), undefined);
    });

    test('a rotated secret list still reads sessions written with the old first secret', async () => {
      const old = await open();
      const jar = apply(new Map(), await old.write(session(), new Map(), NOW));
      const both = await open([randomBytes(32), secret]);
      assert.equal((await both.read(jar, NOW))?.identity.sub, 'alice');
      // What the new first secret writes, the old list alone cannot read.
      const fresh = apply(new Map(), await both.write(session(), new Map(), NOW));
      assert.equal(await old.read(fresh, NOW), undefined);
    });

    test('clear() expires the session cookie; expireCookies() too, and nothing else', async () => {
      const st = await open();
      const jar = apply(new Map([['theme', 'dark']]), await st.write(session(), new Map(), NOW));
      const cleared = apply(jar, await st.clear(jar));
      assert.deepEqual([...cleared.keys()], ['theme']);
      assert.equal(await st.read(cleared, NOW), undefined);
      assert.deepEqual(
        st.expireCookies(jar).map((c) => parseSetCookie(c).name),
        ['portcullis'],
      );
    });

    test('owns(): the session cookie, its chunks and flow cookies', async () => {
      const st = await open();
      for (const n of ['portcullis', 'portcullis_0', 'portcullis_9', 'portcullis_f_abc'])
        assert.ok(st.owns(n), n);
      for (const n of ['theme', 'portcullisx', 'portcullis_x', 'other_0']) assert.ok(!st.owns(n), n);
    });

    test('refresh() redeems once and the refreshed session is what the cookies read next', async () => {
      const st = await open();
      const s = session();
      let jar = apply(new Map(), await st.write(s, new Map(), NOW + 100));
      let calls = 0;
      const out = await st.refresh(jar, s, NOW + 100, async (current) => {
        calls++;
        assert.equal(current.refreshToken, s.refreshToken);
        return { ...current, accessToken: 'at-new', accessTokenExpiresAt: NOW + 400, refreshToken: 'rt-new' };
      });
      assert.equal(calls, 1);
      assert.equal(out.session?.accessToken, 'at-new');
      jar = apply(jar, out.setCookies);
      const again = await st.read(jar, NOW + 100);
      assert.equal(again?.accessToken, 'at-new');
      assert.equal(again?.refreshToken, 'rt-new');
    });

    test('concurrent refreshes of one session in one process redeem once and share the result', async () => {
      const st = await open();
      const jar = apply(new Map(), await st.write(session(), new Map(), NOW + 100));
      // As the gateway does: each request reads the session, then refreshes what it read.
      const read = (await st.read(jar, NOW + 100))!;
      let calls = 0;
      const redeem = async (current: Session): Promise<Session> => {
        calls++;
        await new Promise((r) => setTimeout(r, 50));
        return {
          ...current,
          accessToken: 'at-once',
          accessTokenExpiresAt: NOW + 400,
          refreshToken: 'rt-once',
        };
      };
      const out = await Promise.all([1, 2, 3].map(() => st.refresh(jar, read, NOW + 100, redeem)));
      assert.equal(calls, 1);
      for (const o of out) assert.equal(o.session?.accessToken, 'at-once');
    });

    test('a refresh that the IdP refuses throws, for the caller to end the session', async () => {
      const st = await open();
      const s = session();
      const jar = apply(new Map(), await st.write(s, new Map(), NOW + 100));
      await assert.rejects(
        st.refresh(jar, s, NOW + 100, async () => {
          throw new Error('invalid_grant');
        }),
        /invalid_grant/,
      );
    });

    const server = { skip: fixture.serverSide ? false : 'a cookie session cannot be revoked' };

    test(
      'sign-out on B while A redeems: A\u2019s write-back does not bring the session back',
      server,
      async () => {
        const a = await open();
        const b = await open();
        const s = session();
        const jar = apply(new Map(), await a.write(s, new Map(), NOW + 100));
        const redeeming = Promise.withResolvers<void>();
        const answer = Promise.withResolvers<void>();
        let calls = 0;
        const pending = a.refresh(jar, s, NOW + 100, async (current) => {
          calls++;
          redeeming.resolve();
          await answer.promise;
          return {
            ...current,
            accessToken: 'at-late',
            accessTokenExpiresAt: NOW + 400,
            refreshToken: 'rt-late',
          };
        });
        await redeeming.promise;
        // A request on B with the same session waits for A's refresh meanwhile.
        const waiting = b.refresh(jar, s, NOW + 100, async () => {
          throw new Error('B must not redeem while A holds the lock');
        });
        await b.clear(jar);
        answer.resolve();
        const out = await pending;
        assert.equal(calls, 1);
        assert.equal(out.session, undefined, 'the request that lost the race is signed out');
        assert.ok(
          !out.setCookies.some((c) => !parseSetCookie(c).attributes.includes('Max-Age=0')),
          'and is handed no new cookie',
        );
        assert.equal((await waiting).session, undefined);
        for (const st of [a, b, a]) assert.equal(await st.read(jar, NOW + 100), undefined);
        // Nor does a refresh started afterwards, with the session read before the sign-out.
        const again = await a.refresh(jar, s, NOW + 100, async (current) => ({
          ...current,
          refreshToken: 'rt-x',
        }));
        assert.equal(again.session, undefined);
        assert.equal(await b.read(jar, NOW + 100), undefined);
      },
    );

    test(
      'a refused refresh racing a sign-out still ends the session; a refused one never ends a newer one',
      server,
      async () => {
        const a = await open();
        const b = await open();
        const s = session();
        const jar = apply(new Map(), await a.write(s, new Map(), NOW + 100));
        await b.clear(jar);
        const out = await a.refresh(jar, s, NOW + 100, async () => {
          throw new Error('invalid_grant');
        });
        assert.equal(out.session, undefined, 'the entry read under the lock is already gone');
        assert.equal(await a.read(jar, NOW + 100), undefined);
      },
    );

    test(
      'two write-backs of one session (a lock that expired): one lands, both requests use it',
      server,
      async () => {
        const a = await open([secret], { lockSeconds: 1 });
        const b = await open([secret], { lockSeconds: 1 });
        const s = session();
        const jar = apply(new Map(), await a.write(s, new Map(), NOW + 100));
        const slow = (tag: string, ms: number) => async (current: Session) => {
          await new Promise((r) => setTimeout(r, ms));
          return {
            ...current,
            accessToken: `at-${tag}`,
            accessTokenExpiresAt: NOW + 400,
            refreshToken: `rt-${tag}`,
          };
        };
        // A holds the lock past its expiry; B takes the expired lock and redeems too (the IdP was slow).
        const onA = a.refresh(jar, s, NOW + 100, slow('a', 1_600));
        await new Promise((r) => setTimeout(r, 200));
        const onB = b.refresh(jar, s, NOW + 100, slow('b', 1_000));
        const [outA, outB] = await Promise.all([onA, onB]);
        const stored = await b.read(jar, NOW + 100);
        assert.ok(stored);
        assert.ok(['rt-a', 'rt-b'].includes(stored.refreshToken!), stored.refreshToken);
        assert.equal(outA.session?.refreshToken, stored.refreshToken, 'A uses what is stored');
        assert.equal(outB.session?.refreshToken, stored.refreshToken, 'B uses what is stored');
        assert.equal((await a.read(jar, NOW + 100))?.refreshToken, stored.refreshToken);
      },
    );
  });
}
