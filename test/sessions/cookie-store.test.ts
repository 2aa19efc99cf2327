import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { CHUNK_SIZE, CookieSessionStore, cookieNames } from '../../src/sessions/cookie-store.ts';
import { parseCookies } from '../../src/sessions/cookies.ts';
import { Sealer } from '../../src/sessions/sealer.ts';
import type { Session } from '../../src/sessions/session.ts';
import { rawRequest } from '../support/raw.ts';
import { type Stack, startStack } from '../support/stack.ts';

const NOW = 1_800_000_000;

function session(over: Partial<Session> = {}, groups: readonly string[] = ['admins']): Session {
  return {
    v: 1,
    provider: 'test',
    identity: { sub: 'alice', email: 'alice@example.com', groups },
    createdAt: NOW,
    expiresAt: NOW + 3600,
    accessToken: 'at-123',
    ...over,
  };
}

/** Roughly `bytes` of group names. */
function manyGroups(bytes: number): string[] {
  const out: string[] = [];
  for (let n = 0; n * 24 < bytes; n++)
    out.push(`group-${String(n).padStart(4, '0')}-${randomBytes(4).toString('hex')}`);
  return out;
}

interface SetCookie {
  name: string;
  value: string;
  attributes: string[];
  raw: string;
}

function parseSetCookie(raw: string): SetCookie {
  const [pair = '', ...attributes] = raw.split('; ');
  const eq = pair.indexOf('=');
  return { name: pair.slice(0, eq), value: pair.slice(eq + 1), attributes, raw };
}

/** What a browser would send back after these Set-Cookie values, starting from `jar`. */
function apply(jar: Map<string, string>, setCookies: readonly string[]): Map<string, string> {
  const next = new Map(jar);
  for (const raw of setCookies) {
    const c = parseSetCookie(raw);
    if (c.attributes.includes('Max-Age=0')) next.delete(c.name);
    else next.set(c.name, c.value);
  }
  return next;
}

function store(opts: { secure?: boolean; domain?: string; keys?: Buffer[] } = {}) {
  const secure = opts.secure ?? false;
  return new CookieSessionStore(
    new Sealer(opts.keys ?? [randomBytes(32)]),
    cookieNames('portcullis', secure, opts.domain),
    { secure, domain: opts.domain },
  );
}

describe('cookie session store', () => {
  test('round trip through one cookie', () => {
    const st = store();
    const s = session();
    const set = st.write(s, new Map(), NOW);
    assert.equal(set.length, 1);
    const jar = apply(new Map(), set);
    assert.deepEqual([...jar.keys()], ['portcullis']);
    assert.deepEqual(st.read(jar, NOW), s);
    assert.deepEqual(st.read(jar, NOW + 3599), s);
  });

  test('cookie attributes: HttpOnly, SameSite=Lax, Path=/, Max-Age to the session end; Secure when secure', () => {
    const plain = parseSetCookie(store().write(session(), new Map(), NOW)[0]!);
    assert.equal(plain.name, 'portcullis');
    assert.ok(plain.attributes.includes('HttpOnly'));
    assert.ok(plain.attributes.includes('SameSite=Lax'));
    assert.ok(plain.attributes.includes('Path=/'));
    assert.ok(plain.attributes.includes('Max-Age=3600'));
    assert.ok(!plain.attributes.includes('Secure'));
    assert.ok(!plain.attributes.some((a) => a.startsWith('Domain=')));

    const secure = parseSetCookie(store({ secure: true }).write(session(), new Map(), NOW)[0]!);
    assert.equal(secure.name, '__Host-portcullis', '__Host- prefix when secure and host-only');
    assert.ok(secure.attributes.includes('Secure'));
    assert.ok(secure.attributes.includes('HttpOnly'));
    assert.ok(secure.attributes.includes('SameSite=Lax'));
    assert.ok(secure.attributes.includes('Path=/'));
    assert.ok(!secure.attributes.some((a) => a.startsWith('Domain=')), '__Host- forbids Domain');

    const domain = parseSetCookie(
      store({ secure: true, domain: 'example.com' }).write(session(), new Map(), NOW)[0]!,
    );
    assert.equal(domain.name, 'portcullis', 'no __Host- prefix with a Domain');
    assert.ok(domain.attributes.includes('Domain=example.com'));
    assert.ok(domain.attributes.includes('Secure'));
  });

  test('cookie names: __Host- only when secure without a domain; flow prefix follows the session name', () => {
    assert.deepEqual(cookieNames('portcullis', true, undefined), {
      session: '__Host-portcullis',
      flowPrefix: '__Host-portcullis_f_',
    });
    assert.deepEqual(cookieNames('portcullis', false, undefined), {
      session: 'portcullis',
      flowPrefix: 'portcullis_f_',
    });
    assert.deepEqual(cookieNames('pc', true, 'example.com'), { session: 'pc', flowPrefix: 'pc_f_' });
  });

  for (const variant of [
    { secure: false },
    { secure: true },
    { secure: true, domain: 'platform.example.com' },
  ] as const) {
    test(`a big session is split into chunks under 4096 bytes each, read back joined (${JSON.stringify(variant)})`, () => {
      const st = store(variant);
      const s = session(
        { idToken: `eyJ${'a'.repeat(1500)}`, refreshToken: 'r'.repeat(500) },
        manyGroups(10_000),
      );
      const set = st.write(s, new Map(), NOW);
      const base = st.names.session;
      assert.ok(set.length >= 3, `${set.length} cookies`);
      set.forEach((raw, i) => {
        const c = parseSetCookie(raw);
        assert.equal(c.name, `${base}_${i}`);
        assert.ok(
          Buffer.byteLength(raw) < 4096,
          `${c.name} is ${Buffer.byteLength(raw)} bytes with attributes`,
        );
        assert.ok(c.value.length <= CHUNK_SIZE);
        assert.ok(c.attributes.includes('HttpOnly'));
        assert.ok(c.attributes.includes('Path=/'));
      });
      const jar = apply(new Map(), set);
      assert.deepEqual(st.read(jar, NOW), s);
      assert.ok(!jar.has(base), 'no unchunked cookie alongside the chunks');
    });
  }

  test('a missing, reordered or extra chunk means no session', () => {
    const st = store();
    const s = session({}, manyGroups(10_000));
    const jar = apply(new Map(), st.write(s, new Map(), NOW));
    const n = jar.size;
    assert.ok(n >= 3);
    const missingMiddle = new Map(jar);
    missingMiddle.delete('portcullis_1');
    assert.equal(st.read(missingMiddle, NOW), undefined);
    const missingLast = new Map(jar);
    missingLast.delete(`portcullis_${n - 1}`);
    assert.equal(st.read(missingLast, NOW), undefined);
    const missingFirst = new Map(jar);
    missingFirst.delete('portcullis_0');
    assert.equal(st.read(missingFirst, NOW), undefined);
    const swapped = new Map(jar);
    swapped.set('portcullis_0', jar.get('portcullis_1')!);
    swapped.set('portcullis_1', jar.get('portcullis_0')!);
    assert.equal(st.read(swapped, NOW), undefined);
    const extra = new Map(jar);
    extra.set(`portcullis_${n}`, 'AAAA');
    assert.equal(st.read(extra, NOW), undefined);
    assert.deepEqual(st.read(jar, NOW), s, 'the complete set still opens');
  });

  test('shrinking from chunks to one cookie expires the stale chunks; growing expires the single cookie', () => {
    const st = store();
    const big = session({}, manyGroups(10_000));
    let jar = apply(new Map([['theme', 'dark']]), st.write(big, new Map(), NOW));
    const chunks = [...jar.keys()].filter((k) => k.startsWith('portcullis_'));
    assert.ok(chunks.length >= 3);

    const small = session();
    const set = st.write(small, jar, NOW);
    const expired = set.map(parseSetCookie).filter((c) => c.attributes.includes('Max-Age=0'));
    assert.deepEqual(expired.map((c) => c.name).sort(), chunks.sort());
    for (const c of expired) assert.ok(c.attributes.includes('Path=/'), 'expired with the same Path');
    assert.ok(!expired.some((c) => c.name === 'theme'), 'other cookies are left alone');
    jar = apply(jar, set);
    assert.deepEqual([...jar.keys()].sort(), ['portcullis', 'theme']);
    assert.deepEqual(st.read(jar, NOW), small);

    const regrow = st.write(big, jar, NOW);
    const regrown = regrow.map(parseSetCookie);
    assert.ok(regrown.some((c) => c.name === 'portcullis' && c.attributes.includes('Max-Age=0')));
    jar = apply(jar, regrow);
    assert.ok(!jar.has('portcullis'));
    assert.deepEqual(st.read(jar, NOW), big);

    // Fewer chunks than before: the surplus ones go.
    const medium = session({}, manyGroups(5_000));
    const fewer = st.write(medium, jar, NOW);
    jar = apply(jar, fewer);
    assert.deepEqual(st.read(jar, NOW), medium);
    assert.ok(jar.size - 1 < chunks.length, 'surplus chunks expired');
  });

  test('an expired session is no session, also when it was read (and cached) before', () => {
    const st = store();
    const s = session({ expiresAt: NOW + 10 });
    const jar = apply(new Map(), st.write(s, new Map(), NOW));
    assert.deepEqual(st.read(jar, NOW + 9), s);
    assert.equal(st.read(jar, NOW + 10), undefined);
    assert.equal(st.read(jar, NOW + 1000), undefined);

    const past = session({ expiresAt: NOW - 1 });
    const pastSet = st.write(past, new Map(), NOW);
    const pastCookie = parseSetCookie(pastSet[0]!);
    assert.ok(pastCookie.attributes.includes('Max-Age=0'), 'written already expired');
    assert.equal(st.read(new Map([['portcullis', pastCookie.value]]), NOW), undefined);
  });

  test('values that are not a session are no session: other purpose, other key, bad JSON, wrong shape', () => {
    const keys = [randomBytes(32)];
    const st = store({ keys });
    const sealer = new Sealer(keys);
    const cases: [string, string][] = [
      ['flow purpose', sealer.seal('flow', JSON.stringify(session()))],
      ['other key', new Sealer([randomBytes(32)]).seal('session', JSON.stringify(session()))],
      ['not JSON', sealer.seal('session', 'not json')],
      ['JSON null', sealer.seal('session', 'null')],
      ['wrong version', sealer.seal('session', JSON.stringify({ ...session(), v: 2 }))],
      ['no identity', sealer.seal('session', JSON.stringify({ ...session(), identity: null }))],
      [
        'groups not a list',
        sealer.seal('session', JSON.stringify({ ...session(), identity: { sub: 'a', groups: 'x' } })),
      ],
      [
        'expiresAt a string',
        sealer.seal('session', JSON.stringify({ ...session(), expiresAt: String(NOW + 99) })),
      ],
      ['empty', ''],
      ['garbage', 'garbage'],
    ];
    for (const [what, value] of cases) {
      assert.equal(st.read(new Map([['portcullis', value]]), NOW), undefined, what);
      assert.equal(st.read(new Map([['portcullis_0', value]]), NOW), undefined, `${what} (as a chunk)`);
    }
    const good = sealer.seal('session', JSON.stringify(session()));
    assert.deepEqual(st.read(new Map([['portcullis', good]]), NOW), session());
  });

  test('owns(): the session, its chunks and flow cookies, nothing else', () => {
    for (const st of [store(), store({ secure: true })]) {
      const n = st.names.session;
      for (const name of [n, `${n}_0`, `${n}_1`, `${n}_12`, `${n}_f_abc`, `${n}_f_`]) {
        assert.equal(st.owns(name), true, name);
      }
      for (const name of [
        `${n}x`,
        `${n}_`,
        `${n}_x`,
        `${n}_0x`,
        `x${n}`,
        `${n.toUpperCase()}`,
        'theme',
        '',
      ]) {
        assert.equal(st.owns(name), false, name);
      }
    }
  });

  test('clear() expires every session cookie the browser sent, and nothing else', () => {
    const st = store();
    const present = new Map([
      ['portcullis', 'a'],
      ['portcullis_0', 'b'],
      ['portcullis_3', 'c'],
      ['portcullis_f_abc', 'flow'],
      ['theme', 'dark'],
    ]);
    const out = st.clear(present).map(parseSetCookie);
    assert.deepEqual(out.map((c) => c.name).sort(), ['portcullis', 'portcullis_0', 'portcullis_3']);
    for (const c of out) {
      assert.equal(c.value, '');
      assert.ok(c.attributes.includes('Max-Age=0'));
      assert.ok(c.attributes.includes('Path=/'));
    }
  });
});

describe('session cookies through the gateway', () => {
  let stack: Stack;
  let host: string;
  let good: string;

  before(async () => {
    stack = await startStack();
    host = new URL(stack.url).host;
    good = (await stack.signIn('alice')).jar.value('portcullis', stack.url)!;
  });
  after(() => stack.close());

  const navigate = (cookie: string, path = '/page') =>
    rawRequest(stack.url, { path, headers: ['Host', host, 'Accept', 'text/html', 'Cookie', cookie] });
  const api = (cookie: string) =>
    rawRequest(stack.url, {
      path: '/api/me',
      headers: ['Host', host, 'Accept', 'application/json', 'Cookie', cookie],
    });

  test('a valid session cookie gets through', async () => {
    const r = await api(`portcullis=${good}`);
    assert.equal(r.status, 200);
    assert.equal(JSON.parse(r.text).headers['x-forwarded-user'], 'alice');
  });

  test('tampered, truncated or foreign session cookies are simply no session: 302 for pages, 401 for APIs', async () => {
    const mid = Math.floor(good.length / 2);
    const other = good[mid] === 'A' ? 'B' : 'A';
    const ctx = stack.gw.ctx;
    const gwSealer = new Sealer(ctx.config.cookieKeys);
    const real = JSON.stringify({ ...session(), expiresAt: Math.floor(Date.now() / 1000) + 3600 });
    const values: [string, string][] = [
      ['tampered', good.slice(0, mid) + other + good.slice(mid + 1)],
      ['tampered last char', good.slice(0, -1) + (good.endsWith('A') ? 'B' : 'A')],
      ['truncated', good.slice(0, -10)],
      ['half', good.slice(0, mid)],
      ['appended', `${good}AAAA`],
      ['empty', ''],
      ['garbage', 'not-a-session'],
      ['foreign key', new Sealer([randomBytes(32)]).seal('session', real)],
      ['flow purpose with the real key', gwSealer.seal('flow', real)],
      ['expired', gwSealer.seal('session', JSON.stringify({ ...session(), expiresAt: 1 }))],
    ];
    for (const [what, value] of values) {
      const page = await navigate(`portcullis=${value}`, '/page?x=1');
      assert.equal(page.status, 302, `${what}: ${page.status} ${page.text.slice(0, 200)}`);
      assert.equal(page.headers.location, `/oauth2/sign_in?rd=${encodeURIComponent('/page?x=1')}`, what);
      const json = await api(`portcullis=${value}`);
      assert.equal(json.status, 401, what);
      assert.equal(JSON.parse(json.text).error, 'PCL_UNAUTHENTICATED', what);
    }
    const logged = stack.logs.filter((l) => l.level >= 50);
    assert.deepEqual(logged, [], 'nothing logged as an error');
  });

  test('a session written in chunks is read back; a missing middle chunk means no session', async () => {
    const s = session(
      { expiresAt: Math.floor(Date.now() / 1000) + 3600 },
      manyGroups(6_000), // the whole request must stay under Node's 16 KB header limit
    );
    const set = await stack.gw.ctx.sessions.write(s, new Map(), Math.floor(Date.now() / 1000));
    const cookies = set.map(parseSetCookie);
    assert.ok(cookies.length >= 2);
    assert.ok(cookies.every((c, i) => c.name === `portcullis_${i}`));
    const header = cookies.map((c) => `${c.name}=${c.value}`).join('; ');
    const r = await api(`${header}; theme=dark`);
    assert.equal(r.status, 200, r.text.slice(0, 200));
    const echo = JSON.parse(r.text) as { headers: Record<string, string> };
    assert.equal(echo.headers['x-forwarded-user'], 'alice');
    assert.equal(echo.headers['x-forwarded-groups'], s.identity.groups.join(','));
    assert.equal(echo.headers['cookie'], 'theme=dark', 'chunks are not forwarded');

    const withoutMiddle = cookies
      .filter((c) => c.name !== 'portcullis_1')
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
    const page = await navigate(withoutMiddle);
    assert.equal(page.status, 302);
    assert.equal((await api(withoutMiddle)).status, 401);
  });

  test('a session the store accepts (up to 10 chunks) can be sent back to the gateway', async () => {
    const now = Math.floor(Date.now() / 1000);
    const s = session({ expiresAt: now + 3600 }, manyGroups(14_000));
    const cookies = (await stack.gw.ctx.sessions.write(s, new Map(), now)).map(parseSetCookie);
    assert.ok(cookies.length >= 5);
    const header = cookies.map((c) => `${c.name}=${c.value}`).join('; ');
    const out = await rawRequest(stack.url, {
      method: 'POST',
      path: '/oauth2/sign_out',
      headers: ['Host', host, 'Cookie', header, 'Sec-Fetch-Site', 'same-origin', 'Content-Length', '0'],
    });
    assert.equal(out.status, 303, 'the user can at least sign out');
    assert.equal((await api(header)).status, 200);
  });
});

test('parseCookies with a prefix keeps only the names that start with it (others are never ours)', () => {
  const header = `${Array.from({ length: 500 }, (_, i) => `other${i}=x`).join('; ')}; portcullis=a; portcullis_f_0123456789abcdef=b; xportcullis=c`;
  assert.deepEqual(
    [...parseCookies(header, 'portcullis')],
    [
      ['portcullis', 'a'],
      ['portcullis_f_0123456789abcdef', 'b'],
    ],
  );
  assert.equal(parseCookies(header).size, 503, 'without a prefix, every cookie');
});
