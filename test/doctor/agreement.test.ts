/**
 * `portcullis check` and `portcullis serve` agree on the issuer: the same configuration file, run through
 * both against a real IdP (oidc-provider on loopback), for a matrix of spellings — the IdP with and
 * without a path, a trailing slash on either side, letter case. Where `check` says the issuer is right,
 * `serve` signs a user in; where `check` fails it, `serve` refuses discovery, with the same words.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { loadConfigFile } from '../../src/config/load.ts';
import type { Report } from '../../src/doctor/finding.ts';
import { providerKind, providerView } from '../../src/doctor/providers.ts';
import { runDoctor } from '../../src/doctor/run.ts';
import { PortcullisError } from '../../src/errors/codes.ts';
import { createProvider } from '../../src/idp/registry.ts';
import { Browser } from '../support/browser.ts';
import { closeAfter } from '../support/cleanup.ts';
import { startTestIdp, type TestIdp } from '../support/idp.ts';
import { type ConfigDir, configDir, configYaml, REDIRECT_URI, startIdpProxy } from './support.ts';

const SECRET = 'agreement-secret-0123456789abcdef';
const parts = closeAfter();
let dir: ConfigDir;

/** The IdPs, by how they publish their issuer. */
const idps: Record<string, TestIdp> = {};
const PUBLISHED = {
  'bare host': undefined,
  'bare host with slash': '/',
  path: '/realms/acme',
  'path with slash': '/realms/acme/',
} as const;

before(async () => {
  dir = configDir();
  for (const [name, issuerPath] of Object.entries(PUBLISHED)) {
    idps[name] = parts.add(
      await startTestIdp({
        clients: [{ client_id: 'conf', client_secret: SECRET, redirect_uris: [REDIRECT_URI] }],
        ...(issuerPath !== undefined ? { issuerPath } : {}),
      }),
    );
  }
});
after(() => dir?.remove());

type Spelling = (issuer: string) => string;
const withSlash: Spelling = (i) => (i.endsWith('/') ? i : `${i}/`);
const withoutSlash: Spelling = (i) => i.replace(/\/+$/, '');
const upperScheme: Spelling = (i) => i.replace(/^http:/, 'HTTP:');
const upperPath: Spelling = (i) => i.replace('/realms/', '/REALMS/');

/**
 * [IdP, spelling, outcome]: written out, so a change of rule is a reviewed change. `mismatch`: the IdP
 * serves its document there, but it names another issuer; `not found`: no document at that path.
 */
type Outcome = 'same' | 'mismatch' | 'not found';
const MATRIX: [keyof typeof PUBLISHED, string, Spelling, Outcome][] = [
  ['bare host', 'as published', (i) => i, 'same'],
  ['bare host', 'with a trailing slash', withSlash, 'same'],
  ['bare host', 'upper-case scheme', upperScheme, 'same'],
  ['bare host with slash', 'as published', (i) => i, 'same'],
  ['bare host with slash', 'without the trailing slash', withoutSlash, 'same'],
  ['path', 'as published', (i) => i, 'same'],
  ['path', 'with a trailing slash', withSlash, 'mismatch'],
  ['path', 'upper-case scheme', upperScheme, 'same'],
  ['path', 'upper-case path', upperPath, 'not found'],
  ['path with slash', 'as published', (i) => i, 'same'],
  ['path with slash', 'without the trailing slash', withoutSlash, 'mismatch'],
  ['path with slash', 'upper-case scheme', upperScheme, 'same'],
];

let n = 0;

/** `serve`: the provider as the gateway builds it, discovery, then a sign-in through the IdP's login form. */
async function serve(file: string): Promise<{ ok: true } | { ok: false; detail: string }> {
  const config = loadConfigFile(file, {});
  const provider = createProvider(config.providers[0]!, {
    redirectUri: new URL(REDIRECT_URI),
    timeoutSeconds: 5,
    now: () => Math.floor(Date.now() / 1000),
  });
  try {
    await provider.ready();
  } catch (err) {
    assert.ok(err instanceof PortcullisError, String(err));
    return { ok: false, detail: err.detail };
  }
  const flow = { state: `s${n}`, nonce: `n${n}`, codeVerifier: 'v'.repeat(43) };
  const b = new Browser();
  let r = await b.get(await provider.authorizationUrl(flow));
  r = await b.submitForm(r.body, r.url, {
    formId: 'login',
    values: { username: 'alice', password: 'alice' },
    followRedirects: false,
  });
  // Follow the IdP's redirects by hand up to the callback, where nothing listens.
  for (let i = 0; i < 10 && !r.headers.location?.startsWith(REDIRECT_URI); i++) {
    assert.ok(r.headers.location, `the IdP stopped at ${r.url}: HTTP ${r.status}`);
    r = await b.get(new URL(r.headers.location, r.url), { followRedirects: false });
  }
  const result = await provider.signIn(new URL(r.headers.location!), flow);
  assert.ok(result.identity.sub, 'signed in');
  return { ok: true };
}

async function check(file: string): Promise<Report> {
  return runDoctor({ file, env: {} }, { timeoutMs: 3000 });
}

describe('check and serve agree on the issuer', () => {
  for (const [idpName, spellingName, spell, outcome] of MATRIX) {
    const same = outcome === 'same';
    test(`IdP ${idpName}, issuer ${spellingName}: ${same ? 'both accept' : `both refuse (${outcome})`}`, async () => {
      const published = idps[idpName]!.issuer;
      const configured = spell(published);
      const file = dir.write(
        `a${n++}.yaml`,
        configYaml({ issuer: configured, clientId: 'conf', clientSecret: SECRET }, ['http://127.0.0.1:1']),
      );
      const report = await check(file);
      const issuer = report.findings.find((f) => f.id === 'provider.issuer');
      assert.ok(issuer, JSON.stringify(report.findings, null, 2));
      const served = await serve(file);
      assert.equal(
        issuer.status === 'ok',
        served.ok,
        `check: ${issuer.message}; serve: ${JSON.stringify(served)}`,
      );
      assert.equal(served.ok, same, JSON.stringify(served));
      if (outcome === 'not found') {
        const discovery = report.findings.find((f) => f.id === 'provider.discovery');
        assert.equal(discovery?.status, 'fail');
        assert.match(discovery.message, /answered HTTP 404/);
        assert.ok(!served.ok && served.detail.includes('answered HTTP 404'), JSON.stringify(served));
      }
      if (outcome === 'mismatch') {
        assert.ok(!served.ok);
        // The same words in the log as in check's finding.
        const words = `the IdP publishes issuer "${published}", not the configured "${configured}"`;
        assert.ok(served.detail.includes(words), served.detail);
        assert.ok(issuer.message.includes(words), issuer.message);
        assert.equal(issuer.status, 'fail');
      }
    });
  }
});

describe('a discovery URL that redirects: neither follows it, both say where it went', () => {
  const WELL_KNOWN = '/.well-known/openid-configuration';

  async function both(issuer: string) {
    const file = dir.write(
      `r${n++}.yaml`,
      configYaml({ issuer, clientId: 'conf', clientSecret: SECRET }, ['http://127.0.0.1:1']),
    );
    const report = await check(file);
    const discovery = report.findings.find((f) => f.id === 'provider.discovery');
    assert.ok(discovery);
    return { discovery, served: await serve(file) };
  }

  test('301 to the same path plus a slash (a web server rule): the fix says the issuer is right', async () => {
    const p = parts.add(
      await startIdpProxy(idps['bare host']!.issuer, {
        redirect: { [WELL_KNOWN]: [301, `${WELL_KNOWN}/`] },
        alias: { [`${WELL_KNOWN}/`]: WELL_KNOWN },
      }),
    );
    const { discovery, served } = await both(p.url);
    const said = `${p.url}${WELL_KNOWN} answered HTTP 301 to ${WELL_KNOWN}/; discovery does not follow redirects`;
    assert.equal(discovery.status, 'fail');
    assert.equal(discovery.message, said);
    assert.doesNotMatch(discovery.fix ?? '', /<|>/, 'no placeholder left in the fix');
    assert.match(discovery.fix ?? '', /publishes the configured issuer .* redirects its own discovery URL/);
    assert.ok(!served.ok && served.detail.includes(said), JSON.stringify(served));
  });

  test('302 to another issuer’s document: the fix names the issuer to write', async () => {
    const real = idps['path']!.issuer;
    const p = parts.add(
      await startIdpProxy(idps['bare host']!.issuer, {
        redirect: { [WELL_KNOWN]: [302, `${real}${WELL_KNOWN}`] },
      }),
    );
    const { discovery, served } = await both(p.url);
    assert.equal(discovery.status, 'fail');
    assert.equal(
      discovery.fix,
      `the document behind the redirect publishes issuer ${real}: set providers[0].issuer: ${real} (copy it from ${real}${WELL_KNOWN})`,
    );
    assert.ok(
      !served.ok && served.detail.includes(`HTTP 302 to ${real}${WELL_KNOWN}`),
      JSON.stringify(served),
    );
  });
});

describe('JupyterHub: check and serve read the hub url the same way', () => {
  for (const suffix of ['', '/', '/hub', '/hub/']) {
    test(`url https://hub.example${suffix}: both ask /hub/api/oauth2/… once`, async () => {
      const file = dir.write(
        `j${n++}.yaml`,
        configYaml({ issuer: 'unused', clientId: 'svc', clientSecret: SECRET }, [
          'http://127.0.0.1:1',
        ]).replace(
          /- \{ id: corp, type: oidc, issuer: "unused",/,
          `- { id: corp, type: jupyterhub, url: "https://hub.example${suffix}",`,
        ),
      );
      const config = loadConfigFile(file, {});
      const provider = createProvider(config.providers[0]!, {
        redirectUri: new URL(REDIRECT_URI),
        timeoutSeconds: 5,
        now: () => 0,
      });
      const served = await provider.authorizationUrl({
        state: 's',
        nonce: 'n',
        codeVerifier: 'v'.repeat(43),
      });
      const located = providerKind('jupyterhub').locate(providerView(config.providers[0]!, 0));
      assert.equal(located.kind, 'endpoints');
      assert.equal(`${served.origin}${served.pathname}`, 'https://hub.example/hub/api/oauth2/authorize');
      assert.equal(located.endpoints.authorization, 'https://hub.example/hub/api/oauth2/authorize');
    });
  }
});
