/**
 * The demo shows access rules and API access: bob is refused /admin/ with the 403 page, and the curl lines
 * the banner prints — a client_credentials token from Portcullis's issuer, then a bearer call to /api/ —
 * work as printed (done here with fetch, the same requests).
 */
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { demoBanner, type RunningDemo, startDemo } from '../../src/demo/run.ts';
import { runDoctor } from '../../src/doctor/run.ts';
import { createLogger } from '../../src/observability/log.ts';
import { Browser } from '../support/browser.ts';

let demo: RunningDemo;

before(async () => {
  demo = await startDemo({ host: '127.0.0.1', port: 0, idpPort: 0, appPort: 0 }, createLogger('silent'));
});
after(() => demo?.close());

test('the banner prints the token request and the API call with this demo’s URL and secret', () => {
  const banner = demoBanner(demo);
  assert.ok(banner.includes(`curl -s -u demo-cli:${demo.cliSecret} -d grant_type=client_credentials`));
  assert.ok(banner.includes(`${demo.url}/oidc/token`));
  assert.ok(banner.includes(`curl -H "Authorization: Bearer $TOKEN" ${demo.url}/api/whoami`));
});

test('the printed calls work: the sample app sees the service as a machine', async () => {
  const t = await fetch(`${demo.url}/oidc/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`demo-cli:${demo.cliSecret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: 'grant_type=client_credentials&scope=openid',
  });
  assert.equal(t.status, 200);
  const token = ((await t.json()) as { access_token: string }).access_token;
  const r = await fetch(`${demo.url}/api/whoami`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(r.status, 200);
  const h = ((await r.json()) as { headers: Record<string, string> }).headers;
  assert.equal(h['x-forwarded-user'], 'client:demo-cli');
  assert.equal(h['x-forwarded-client-id'], 'demo-cli');
});

test('bob may not enter /admin/ (the 403 page says what is missing); alice may', async () => {
  for (const [user, status] of [
    ['bob', 403],
    ['alice', 200],
  ] as const) {
    const b = new Browser();
    const back = await b.signInAtDevIdp(
      await b.get(`${demo.url}/oauth2/start?provider=demo&rd=%2Fadmin%2F`),
      user,
      user,
    );
    assert.equal(back.status, status, `${user}: ${back.body.slice(0, 200)}`);
    if (status === 403) assert.match(back.body, /admins/);
  }
});

test('a token from the demo IdP, as the banner prints it, calls the gated API', async () => {
  const m = demo.idpMachine;
  const banner = demoBanner(demo);
  assert.ok(
    banner.includes(
      `curl -s -u ${m.id}:${m.secret} -d grant_type=client_credentials -d resource=${m.resource} ${demo.issuer}/token`,
    ),
  );
  const t = await fetch(`${demo.issuer}/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${m.id}:${m.secret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', resource: m.resource }).toString(),
  });
  assert.equal(t.status, 200, await t.clone().text());
  const token = ((await t.json()) as { access_token: string }).access_token;
  assert.equal(token.split('.').length, 3, 'a JWT');
  const r = await fetch(`${demo.url}/api/whoami`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(r.status, 200, await r.clone().text());
  const h = ((await r.json()) as { headers: Record<string, string> }).headers;
  assert.equal(h['x-forwarded-provider'], 'demo');
  assert.equal(h['x-forwarded-user'], m.id);
  // control: without the token the API answers 401
  assert.equal(
    (await fetch(`${demo.url}/api/whoami`, { headers: { accept: 'application/json' } })).status,
    401,
  );
});

test('portcullis check passes against the running demo, with the file the banner names', async () => {
  assert.ok(demoBanner(demo).includes(`npm run portcullis -- check --config ${demo.configFile}`));
  assert.equal(statSync(demo.configFile).mode & 0o777, 0o600, 'the file holds secrets: this user only');
  const r = await runDoctor({ file: demo.configFile, env: {} }, { timeoutMs: 5000 });
  assert.equal(
    r.summary.exitCode,
    0,
    JSON.stringify(
      r.findings.filter((f) => f.status !== 'ok'),
      null,
      2,
    ),
  );
  assert.equal(r.summary.fail, 0);
  assert.ok(r.findings.some((f) => f.id === 'provider.credentials' && f.status === 'ok'));
  assert.ok(r.findings.some((f) => f.id === 'provider.bearer' && f.status === 'ok'));
});

test('the sample app verifies X-Portcullis-Assertion against /oauth2/jwks and says so', async () => {
  const b = new Browser();
  const back = await b.signInAtDevIdp(
    await b.get(`${demo.url}/oauth2/start?provider=demo&rd=%2F`),
    'alice',
    'alice',
  );
  assert.equal(back.status, 200);
  assert.match(
    back.body,
    /assertion verified: signature by key [^ ]+ from http:\/\/127\.0\.0\.1:\d+\/oauth2\/jwks/,
  );
  assert.match(back.body, /sub alice/);
});

test('the configuration file with the secrets is removed when the demo stops', async () => {
  const other = await startDemo(
    { host: '127.0.0.1', port: 0, idpPort: 0, appPort: 0 },
    createLogger('silent'),
  );
  assert.ok(existsSync(other.configFile));
  await other.close();
  assert.equal(existsSync(other.configFile), false);
});
