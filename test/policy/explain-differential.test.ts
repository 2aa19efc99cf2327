/**
 * Issue 15's "Done means" for explain: for every case of explain-cases.ts, what `portcullis explain --json`
 * answers equals what a real request gets from a running gateway on the same configuration file — users
 * signed in at a real oidc-provider IdP with the claims of the table, the machine with a real
 * client_credentials token of the gateway's issuer: 200/202 against allowed, 403 against denied with the
 * same reason codes (the 403 JSON's, or the audit line's for a sign-in). A control row shows the checker
 * catches a mismatch.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as oc from 'openid-client';
import { runExplain } from '../../src/cli/explain.ts';
import { closeAfter } from '../support/cleanup.ts';
import { type GatewayHarness, type PublicAddress, reserveAddress, startHarness } from '../support/gateway.ts';
import { startTestIdp, type TestIdp } from '../support/idp.ts';
import { rawRequest } from '../support/raw.ts';
import { CASES, type Case, cliArgs, EXTRA_CLAIMS, RULES, USERS } from './explain-cases.ts';

const SECRET = randomBytes(16).toString('hex');
const SVC_SECRET = randomBytes(32).toString('base64url');
const dir = mkdtempSync(join(tmpdir(), 'pcl-explain-'));
const parts = closeAfter();
let idp: TestIdp;
let h: GatewayHarness;
let address: PublicAddress;
let configFile: string;
let machineToken: string;

/** An answer, from either side: allowed, or denied with reason codes. */
type Answer = { allow: true } | { allow: false; reasons: readonly string[] };

/** The differential check: '' when the two agree, else what differs. */
function disagreement(cli: Answer, real: Answer): string {
  if (cli.allow !== real.allow)
    return `CLI says ${cli.allow ? 'allowed' : 'denied'}, the gate ${real.allow ? 'allowed' : 'denied'}`;
  if (!cli.allow && !real.allow && cli.reasons.join(',') !== real.reasons.join(',')) {
    return `reasons differ: CLI ${cli.reasons.join(',')}, gate ${real.reasons.join(',')}`;
  }
  return '';
}

function configOf(address: PublicAddress, extra: Record<string, unknown>): Record<string, unknown> {
  return {
    cookie: { secret: randomBytes(32).toString('base64url') },
    allow: RULES.allow,
    routes: RULES.routes,
    issuer: {
      clients: [{ id: 'svc', secret: SVC_SECRET, clientCredentials: true, scopes: ['openid'] }],
    },
    storage: { type: 'memory' },
    ...extra,
    publicUrl: address.publicUrl,
  };
}

before(async () => {
  address = await reserveAddress();
  idp = parts.add(
    await startTestIdp({
      clients: [{ client_id: 'portcullis-x', client_secret: SECRET, redirect_uris: [address.redirectUri] }],
      users: USERS,
      extraClaims: EXTRA_CLAIMS,
    }),
  );
  const provider = {
    id: 'test',
    type: 'oidc',
    issuer: idp.issuer,
    clientId: 'portcullis-x',
    clientSecret: SECRET,
    scopes: ['openid', 'email', 'profile'],
    allow: RULES.providerAllow,
  };
  const config = configOf(address, {});
  h = parts.add(await startHarness({ address, providers: [provider], config }));
  // The file the CLI reads: the harness's configuration, as an operator would have written it.
  configFile = join(dir, 'portcullis.json');
  const file = {
    ...config,
    listen: `127.0.0.1:${address.port}`,
    providers: [provider],
    upstreams: [{ id: 'sample', path: '/', url: h.app.url }],
  };
  writeFileSync(configFile, JSON.stringify(file, null, 2));
  const rp = await oc.discovery(
    new URL(`${h.url}/oidc`),
    'svc',
    undefined,
    oc.ClientSecretBasic(SVC_SECRET),
    {
      execute: [oc.allowInsecureRequests],
    },
  );
  machineToken = (await oc.clientCredentialsGrant(rp, { scope: 'openid' })).access_token;
});
after(async () => {
  await parts.close();
  rmSync(dir, { recursive: true, force: true });
});

const cookies = new Map<string, string>();

/** Signs `username` in (rd /); the sign-in's own answer: allowed, or the reasons of its audit line. */
async function signIn(username: string): Promise<Answer> {
  const b = h.browser();
  const login = await b.get(`${h.url}/oauth2/start?rd=%2F`);
  const back = await b.signInAtDevIdp(login, username, username);
  if (back.status === 200) {
    cookies.set(username, b.jar.header(h.url));
    return { allow: true };
  }
  assert.equal(back.status, 403, back.body.slice(0, 300));
  const id = back.headers['x-request-id'];
  const line = h.logs.find((l) => l['requestId'] === id && l['event'] === 'sign-in.denied');
  assert.ok(line, `the sign-in denial of ${username} is audited`);
  return { allow: false, reasons: line['reasons'] as string[] };
}

/** What the running gateway answers for a case. */
async function real(c: Case): Promise<Answer> {
  if (c.target === 'sign-in') return signIn(c.who);
  const credentials = c.who.startsWith('machine:')
    ? ['Authorization', `Bearer ${machineToken}`]
    : ['Cookie', cookies.get(c.who) ?? ((await signIn(c.who)).allow ? cookies.get(c.who)! : '')];
  const [kind, a, b] = c.target.split(' ') as [string, string, string | undefined];
  const request =
    kind === 'auth'
      ? { path: '/oauth2/auth', headers: ['X-Forwarded-Prefix', a, 'X-Forwarded-Uri', b!] }
      : { path: a, headers: [] };
  const r = await rawRequest(h.url, {
    method: 'GET',
    path: request.path,
    headers: ['Host', new URL(h.url).host, 'Accept', 'application/json', ...credentials, ...request.headers],
  });
  if (r.status === 200 || r.status === 202) return { allow: true };
  assert.equal(r.status, 403, `${c.who} ${c.target}: ${r.status} ${r.text.slice(0, 300)}`);
  return { allow: false, reasons: JSON.parse(r.text).reasons as string[] };
}

/** The CLI's answer, in process (runExplain is what `portcullis explain` runs) or as a real process. */
function cli(args: string[], spawn = false): Answer & { code: number } {
  const full = ['--config', configFile, '--json', ...args];
  let code: number;
  let out: string;
  if (spawn) {
    const r = spawnSync(process.execPath, ['src/cli/main.ts', 'explain', ...full], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.ok(r.status === 0 || r.status === 1, `exit ${r.status}: ${r.stderr}`);
    code = r.status;
    out = r.stdout;
  } else ({ code, out } = runExplain(full));
  const e = JSON.parse(out) as { allow: boolean; reasons: string[] };
  assert.equal(code, e.allow ? 0 : 1, 'exit 0 when allowed, 1 when denied');
  return e.allow ? { allow: true, code } : { allow: false, reasons: e.reasons, code };
}

const expected = (c: Case): Answer =>
  c.expect === 'allowed' ? { allow: true } : { allow: false, reasons: c.expect };

test(`the table has enough cases (${CASES.length})`, () => {
  assert.ok(CASES.length >= 25);
});

for (const [i, c] of CASES.entries()) {
  test(`${c.who} ${c.target}: the CLI answers what the gate does`, async () => {
    const gate = await real(c);
    assert.equal(disagreement(expected(c), gate), '', 'the gate behaves as the table says');
    // Every fourth case through a real `portcullis explain` process, the others in process.
    const answer = cli(cliArgs(c), i % 4 === 0);
    assert.equal(disagreement(answer, gate), '');
  });
}

test('control: the checker catches a mismatch (a CLI given other rules than the gate has)', async () => {
  const c: Case = { who: 'bob', target: 'GET /admin/x', expect: ['group-missing'] };
  const gate = await real(c);
  const other = join(dir, 'other.json');
  const doc = JSON.parse(readFileSync(configFile, 'utf8'));
  doc.routes = RULES.routes.filter((r) => r.path !== '/admin/');
  writeFileSync(other, JSON.stringify(doc));
  const { code, out } = runExplain(['--config', other, '--json', ...cliArgs(c)]);
  assert.equal(code, 0);
  const answer = JSON.parse(out) as { allow: boolean };
  assert.notEqual(disagreement(answer.allow ? { allow: true } : { allow: false, reasons: [] }, gate), '');
  // And reasons alone differing is caught too.
  assert.match(disagreement({ allow: false, reasons: ['email-not-allowed'] }, gate), /reasons differ/);
});
