/**
 * The operator console over HTTP against a whole stack (real IdP, Redis sessions): anonymous → sign-in,
 * non-admin → 403, admin → each panel with real data (a denial of bob's, an explanation, a what-if, live
 * checks, sessions revoked, sign-in traces); cross-site POSTs refused; every action audited; and no page
 * carries a cookie value, a token or a secret.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import type { Browser, BrowserResponse } from '../support/browser.ts';
import { rawRequest } from '../support/raw.ts';
import { type Stack, startStack } from '../support/stack.ts';

const REDIS = process.env['PORTCULLIS_TEST_REDIS'] ?? 'redis://127.0.0.1:6379/0';
const prefix = `portcullis-test:console:${randomBytes(4).toString('hex')}:`;
let stack: Stack;
let alice: Browser;
let bob: Browser;
const tokens: string[] = [];
const pages: string[] = [];

before(async () => {
  stack = await startStack({
    config: (c) => ({
      ...c,
      admin: { enabled: true, allow: { groups: ['admins'] } },
      sessions: { store: 'redis', url: REDIS, keyPrefix: prefix },
      routes: [
        ...(c['routes'] as unknown[]),
        { path: '/admin/', allow: { groups: ['admins'] } },
        { path: '/finance/', allow: { requirements: { dept: 'finance' } } },
      ],
    }),
  });
  stack.idp.setTokenResponseHook((body) => {
    for (const k of ['access_token', 'refresh_token', 'id_token'])
      if (typeof body[k] === 'string') tokens.push(body[k]);
    return body;
  });
  bob = await stack.signIn('bob');
  alice = await stack.signIn('alice');
});

after(async () => {
  await stack?.close();
  const r = new Redis(REDIS);
  const keys = await r.keys(`${prefix}*`);
  if (keys.length > 0) await r.del(...keys);
  await r.quit();
});

const at = (path: string) => `${stack.url}/oauth2/admin${path}`;

async function page(b: Browser, path: string): Promise<BrowserResponse> {
  const r = await b.get(at(path));
  pages.push(r.body);
  return r;
}

async function post(b: Browser, path: string, form: Record<string, string>): Promise<BrowserResponse> {
  const r = await b.post(at(path), form, { headers: { origin: stack.url, 'sec-fetch-site': 'same-origin' } });
  pages.push(r.body);
  return r;
}

test('anonymous: sent to sign in, back to the console after', async () => {
  const r = await stack.browser().get(at('/denials?user=x'), { followRedirects: false });
  assert.equal(r.status, 302);
  const to = new URL(r.headers.location!, stack.url);
  assert.equal(to.pathname, '/oauth2/sign_in');
  assert.equal(to.searchParams.get('rd'), '/oauth2/admin/denials?user=x');
});

test('a signed-in user the admin rule does not admit: 403, audited with the console surface', async () => {
  const r = await bob.get(at(''));
  assert.equal(r.status, 403);
  assert.match(r.body, /Error PCL_FORBIDDEN · HTTP 403/);
  assert.ok(stack.logs.some((l) => l['event'] === 'access.denied' && l['surface'] === 'console'));
  const posted = await bob.post(
    at('/sessions'),
    { action: 'revoke-all', provider: 'test', sub: 'x' },
    {
      headers: { origin: stack.url },
    },
  );
  assert.equal(posted.status, 403, 'no action for a non-admin either');
});

test('the console path read one way only: a raw #, dot segments, encoded slashes never walk past its rule', async () => {
  // bob is signed in but not an admin; alice is. A target that servers read differently is refused (400)
  // unless every reading reaches the console itself, whose own rule then decides (403 for bob).
  const u = new URL(stack.url);
  const cases: readonly (readonly [string, number, number])[] = [
    // target, bob, alice
    ['/oauth2/admin#/../denials', 400, 400],
    ['/oauth2/admin/../admin/denials', 400, 400],
    ['/oauth2/admin/%2e%2e/admin/sessions', 400, 400],
    ['/oauth2/admin/denials/..', 400, 400],
    ['/oauth2/admin/./denials', 400, 400],
    ['/oauth2%2Fadmin/denials', 400, 400],
    ['/x/..%2F..%2Foauth2/admin', 400, 400],
    // every reading is the console: its rule decides
    ['/oauth2/admin%2Fdenials', 403, 200],
    ['/oauth2//admin/denials', 403, 200],
  ];
  const seen: string[] = [];
  const want: string[] = [];
  for (const [path, forBob, forAlice] of cases) {
    for (const [who, b, expected] of [
      ['bob', bob, forBob],
      ['alice', alice, forAlice],
    ] as const) {
      const cookie = b.jar.header(new URL(at('/denials'))) ?? '';
      const r = await rawRequest(stack.url, { path, headers: ['Host', u.host, 'Cookie', cookie] });
      pages.push(r.text);
      seen.push(`${who} ${path} ${r.status}`);
      want.push(`${who} ${path} ${expected}`);
    }
  }
  assert.deepEqual(seen, want);
});

test('recent denials: bob refused on /admin/ is listed, filterable, with an explain link', async () => {
  assert.equal((await bob.get(`${stack.url}/admin/x`)).status, 403);
  const r = await page(alice, '/denials');
  assert.equal(r.status, 200);
  assert.match(String(r.headers['content-security-policy']), /default-src 'none'/);
  assert.match(r.body, /bob@example\.com/);
  assert.match(r.body, /<code>group-missing<\/code>/);
  assert.match(r.body, /<code>\/admin\/x<\/code>/);
  assert.doesNotMatch((await page(alice, '/denials?user=nobody-here')).body, /bob@example\.com/);
  assert.match((await page(alice, '/denials?reason=group&path=/admin')).body, /bob@example\.com/);
  assert.ok(
    stack.logs.some(
      (l) => l['event'] === 'console.view' && l['panel'] === 'denials' && l['email'] === 'alice@example.com',
    ),
  );
});

test('explain: a recent user at a path, layer by layer, as the gate decided', async () => {
  const sub = stack.idp.users.find((u) => u.username === 'bob')!.sub!;
  const r = await page(alice, `/explain?user=${encodeURIComponent(`test ${sub}`)}&path=/admin/x`);
  assert.equal(r.status, 200);
  assert.match(r.body, /id="outcome">refused</);
  assert.match(r.body, /group-missing/);
  const typed = await page(
    alice,
    '/explain?provider=test&email=carol%40example.com&groups=admins&path=/admin/y',
  );
  assert.match(typed.body, /id="outcome">allowed</);
  const typedClaims = (dept: string) =>
    page(alice, `/explain?provider=test&email=dan%40example.com&claims=dept%3D${dept}&path=/finance/q`);
  assert.match((await typedClaims('finance')).body, /id="outcome">allowed</);
  const eng = (await typedClaims('eng')).body;
  assert.match(eng, /id="outcome">refused</);
  assert.match(eng, /requirement-failed:dept/);
  assert.ok(stack.logs.some((l) => l['event'] === 'console.explain'));
});

test('what-if: a pasted rule shows whose decisions would turn; invalid YAML names the key; cross-site refused', async () => {
  const r = await post(alice, '/what-if', { change: 'allow:\n  emails: [bob@example.com]\n' });
  assert.equal(r.status, 200);
  assert.match(r.body, /id="what-if-result"/);
  assert.match(r.body, /alice@example\.com/, 'alice would be shut out');
  const bad = await post(alice, '/what-if', { change: 'allow:\n  groupz: [x]\n' });
  assert.match(bad.body, /id="what-if-problems"/);
  const cross = await alice.post(
    at('/what-if'),
    { change: 'allow: {}' },
    { headers: { origin: 'http://evil.example' } },
  );
  assert.equal(cross.status, 403);
  assert.match(cross.body, /PCL_CROSS_SITE/);
});

test('live checks: re-run on demand, findings with fixes', async () => {
  assert.match((await page(alice, '/checks')).body, /Run the checks now/);
  const r = await post(alice, '/checks', {});
  assert.match(r.body, /id="findings"/);
  assert.match(r.body, /provider\.discovery|provider\./);
  assert.ok(stack.logs.some((l) => l['event'] === 'console.checks-run'));
});

test('sign-in trace: every step of a sign-in by request id, and the exact failure of a broken one', async () => {
  const list = await page(alice, '/trace');
  const id = /trace\?id=([^"]+)"/.exec(list.body)?.[1];
  assert.ok(id, 'a recent sign-in is listed');
  const t = await page(alice, `/trace?id=${id}`);
  for (const step of [
    'start',
    'redirect to the IdP',
    'callback',
    'code exchange',
    'ID token checks',
    'access rules',
  ])
    assert.match(t.body, new RegExp(`<td>${step}</td>`), step);
  assert.match(t.body, /id="trace-outcome">signed in</);
  const broken = await stack.browser().get(`${stack.url}/oauth2/callback?state=nope&code=x`);
  const rid = broken.headers['x-request-id']!;
  const f = await page(alice, `/trace?id=${rid}`);
  assert.match(f.body, /PCL_STATE_UNKNOWN/);
  assert.match(f.body, /id="trace-outcome">failed</);
});

test('sessions: who is signed in; one session ended; a user signed out everywhere', async () => {
  const r = await page(alice, '/sessions');
  assert.match(r.body, /bob@example\.com/);
  assert.match(r.body, /alice@example\.com/);
  const sub = stack.idp.users.find((u) => u.username === 'bob')!.sub!;
  const out = await post(alice, '/sessions', { action: 'revoke-all', provider: 'test', sub });
  assert.match(out.body, /1 session\(s\) ended/);
  const after = await bob.get(`${stack.url}/oauth2/userinfo`);
  assert.equal(after.status, 401, 'bob is signed out');
  // One session by its ref: a second alice session ended, the first one kept.
  const aliceSub = stack.idp.users.find((u) => u.username === 'alice')!.sub!;
  const refsOf = async () =>
    [
      ...(await page(alice, `/sessions?provider=test&sub=${aliceSub}`)).body.matchAll(
        /name="ref" value="([^"]+)"/g,
      ),
    ].map((m) => m[1]!);
  const before = new Set(await refsOf());
  const second = await stack.signIn('alice');
  const fresh = [...new Set(await refsOf())].filter((r) => !before.has(r));
  assert.equal(fresh.length, 1, 'the new session is listed');
  await post(alice, '/sessions', { action: 'revoke-one', provider: 'test', sub: aliceSub, ref: fresh[0]! });
  assert.equal((await second.get(`${stack.url}/oauth2/userinfo`)).status, 401, 'the newest one ended');
  assert.equal((await alice.get(`${stack.url}/oauth2/userinfo`)).status, 200, 'the other kept');
  assert.ok(stack.logs.some((l) => l['event'] === 'console.user-signed-out' && l['user'] === sub));
  assert.ok(stack.logs.some((l) => l['event'] === 'console.session-revoked' && l['ended'] === true));
});

test('an unknown panel is 404; other methods 405', async () => {
  assert.equal((await alice.get(at('/nope'))).status, 404);
  assert.equal((await alice.request(at(''), { method: 'DELETE' })).status, 405);
});

test('without admin.enabled nothing answers at /oauth2/admin (404, never the upstream)', async () => {
  const plain = await startStack();
  try {
    const b = await plain.signIn('alice');
    const r = await b.get(`${plain.url}/oauth2/admin`);
    assert.equal(r.status, 404);
    assert.match(r.body, /PCL_NOT_FOUND/);
  } finally {
    await plain.close();
  }
});

test('under a base path: the console at <base>/oauth2/admin, its links and forms under it', async () => {
  const sub = await startStack({
    basePath: '/auth',
    config: (c) => ({ ...c, admin: { enabled: true, allow: { groups: ['admins'] } } }),
  });
  try {
    const b = await sub.signIn('alice');
    const r = await b.get(`${sub.url}/auth/oauth2/admin/denials`);
    assert.equal(r.status, 200);
    assert.match(r.body, /href="\/auth\/oauth2\/admin\/explain"/);
    assert.match(r.body, /action="\/auth\/oauth2\/admin\/denials"/);
    assert.doesNotMatch(r.body, /href="\/oauth2\//);
  } finally {
    await sub.close();
  }
});

test('a reload keeps the recorded denials; turning the console off unmounts it, on again mounts it', async () => {
  const config = stack.gw.ctx.config;
  stack.gw.reload(config);
  assert.match((await page(alice, '/denials')).body, /bob@example\.com/, 'denials kept across the reload');
  stack.gw.reload({ ...config, admin: { ...config.admin, enabled: false } });
  assert.equal((await alice.get(at(''))).status, 404);
  stack.gw.reload(config);
  assert.equal((await alice.get(at(''))).status, 200);
});

test('no console page carries a cookie value, a token or a secret', async () => {
  pages.push((await page(alice, '')).body);
  const secrets = [
    ...alice.jar.all().map((c) => c.value),
    ...bob.jar.all().map((c) => c.value),
    ...tokens,
    stack.clientSecret,
  ].filter((v) => v.length >= 12);
  assert.ok(tokens.length >= 4, 'tokens were captured');
  const all = pages.join('\n');
  for (const v of secrets)
    assert.ok(!all.includes(v), `a secret of ${v.length} characters in a console page`);
  // Control: the check sees a value that is there.
  assert.ok(all.includes('alice@example.com'));
});
