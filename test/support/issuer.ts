/**
 * The issuer under test, with real parts on loopback: the dev IdP (oidc-provider) as the upstream, the
 * sample app, one or more Portcullis instances with `issuer` configured, a "service" landing server that
 * stands in for the relying parties' redirect URIs, and openid-client as the relying party.
 *
 * Several instances share one configuration (public URL, cookie secret, storage): they stand for replicas
 * behind a load balancer. Browsers talk to the first; a relying party can be pointed at any of them with
 * `rpFor(..., { instance })`, which rewrites the host of its back-channel requests (token, userinfo, …).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import * as oc from 'openid-client';
import { Agent } from 'undici';
import { resolveConfig } from '../../src/config/load.ts';
import type { RawConfig } from '../../src/config/schema.ts';
import { type SampleApp, startSampleApp } from '../../src/demo/app.ts';
import { createLogger } from '../../src/observability/log.ts';
import { type RunningGateway, startGateway } from '../../src/server/start.ts';
import { Browser, type BrowserResponse } from './browser.ts';
import { type Cleanup, type Closable, startOrRelease } from './cleanup.ts';
import { freePort } from './gateway.ts';
import { startTestIdp, type TestIdp } from './idp.ts';
import type { LogLine } from './stack.ts';

export interface ServiceSink {
  /** e.g. http://127.0.0.1:PORT */
  readonly url: string;
  close(): Promise<void>;
}

/** A landing server for redirect URIs: answers 200 to anything, so a browser's redirects end there. */
export async function startServiceSink(): Promise<ServiceSink> {
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' }).end(`service got ${req.url}`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export const SECRETS = {
  post: randomBytes(32).toString('base64url'),
  basic: randomBytes(32).toString('base64url'),
  service: randomBytes(32).toString('base64url'),
};

/** The clients registered in every test issuer (their redirect URIs point at the sink). */
export function testClients(sink: string): Record<string, unknown>[] {
  return [
    {
      id: 'rp-post',
      secret: SECRETS.post,
      redirectUris: [`${sink}/post/callback`],
      postLogoutRedirectUris: [`${sink}/post/bye`],
      skipConsent: true,
      display: { name: 'Post Service' },
    },
    {
      id: 'rp-basic',
      secret: SECRETS.basic,
      redirectUris: [`${sink}/basic/callback`],
      postLogoutRedirectUris: [`${sink}/basic/bye`],
      skipConsent: true,
    },
    {
      id: 'rp-public',
      public: true,
      redirectUris: [`${sink}/public/callback`],
      postLogoutRedirectUris: [`${sink}/public/bye`],
      skipConsent: true,
    },
    {
      id: 'rp-consent',
      public: true,
      redirectUris: [`${sink}/consent/callback`],
      scopes: ['openid', 'profile', 'email', 'groups'],
      display: { name: 'Notebook Hub', url: 'https://hub.example.com/', description: 'Shared notebooks' },
    },
    {
      id: 'svc',
      secret: SECRETS.service,
      clientCredentials: true,
      scopes: ['openid'],
    },
  ];
}

export interface IssuerStackOptions {
  /** `storage` section; default memory. */
  readonly storage?: Record<string, unknown>;
  /** How many Portcullis instances share the configuration (default 1). */
  readonly instances?: number;
  /** Changes to the configuration (after the issuer section is in). */
  readonly config?: (base: Record<string, unknown>) => Record<string, unknown>;
  /** Serve Portcullis under this path (`/auth`: publicUrl `http://127.0.0.1:PORT/auth/`). */
  readonly basePath?: string;
}

export interface IssuerStack {
  readonly idp: TestIdp;
  readonly app: SampleApp;
  readonly sink: ServiceSink;
  readonly gws: RunningGateway[];
  /** The public URL's origin (the first instance). */
  readonly url: string;
  /** The path publicUrl puts Portcullis under, without its trailing slash ('' by default). */
  readonly base: string;
  /** `<url><base>/oidc` */
  readonly issuer: string;
  readonly logs: LogLine[];
  rawLogs(): string;
  /** The resolved-config input, to start more instances or restart one. */
  readonly raw: Record<string, unknown>;
  /** Starts one more instance on the same configuration (on any free port, or `port`). */
  startInstance(port?: number): Promise<RunningGateway>;
  /** Registers something started for this stack (a relying party's connection pool), closed with it. */
  adopt<T extends Closable>(part: T): T;
  close(): Promise<void>;
}

export function startIssuerStack(o: IssuerStackOptions = {}): Promise<IssuerStack> {
  // Whatever started is closed again when a later part fails (the reserved port may be taken meanwhile).
  return startOrRelease((parts) => start(o, parts));
}

async function start(o: IssuerStackOptions, parts: Cleanup): Promise<IssuerStack> {
  const sink = parts.add(await startServiceSink());
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const basePath = o.basePath ?? '';
  const publicUrl = `${origin}${basePath}`;
  const clientSecret = randomBytes(16).toString('hex');
  const idp = parts.add(
    await startTestIdp({
      clients: [
        {
          client_id: 'portcullis-test',
          client_secret: clientSecret,
          redirect_uris: [`${publicUrl}/oauth2/callback`],
          post_logout_redirect_uris: [`${publicUrl}/oauth2/signed_out`],
        },
      ],
    }),
  );
  const app = parts.add(await startSampleApp());
  const base: Record<string, unknown> = {
    publicUrl: basePath === '' ? publicUrl : `${publicUrl}/`,
    listen: `127.0.0.1:${port}`,
    cookie: { secret: randomBytes(32).toString('base64url') },
    providers: [
      {
        id: 'test',
        type: 'oidc',
        issuer: idp.issuer,
        clientId: 'portcullis-test',
        clientSecret,
        scopes: ['openid', 'email', 'profile', 'offline_access'],
      },
    ],
    upstreams: [{ id: 'sample', path: '/', url: app.url, timeout: 2 }],
    issuer: { clients: testClients(sink.url) },
    storage: o.storage ?? { type: 'memory' },
    logging: { level: 'debug' },
    metrics: { listen: '127.0.0.1:0' },
  };
  const raw = (o.config ?? ((c) => c))(base);
  const config = resolveConfig(raw as RawConfig);
  let text = '';
  const logs: LogLine[] = [];
  const sink2 = new Writable({
    write(chunk, _enc, cb) {
      const t = String(chunk);
      text += t;
      for (const line of t.split('\n')) if (line.trim()) logs.push(JSON.parse(line) as LogLine);
      cb();
    },
  });
  const log = createLogger('debug', sink2);
  // The instances running now (a test that restarts one takes it out of the list itself).
  const gws: RunningGateway[] = [];
  parts.add({ close: () => Promise.allSettled(gws.map((g) => g.close())) });
  const startInstance = async (p?: number) => {
    const gw = await startGateway(config, log, p === undefined ? { port: 0 } : { port: p });
    gws.push(gw);
    return gw;
  };
  await startInstance(port);
  for (let i = 1; i < (o.instances ?? 1); i++) await startInstance();
  return {
    idp,
    app,
    sink,
    gws,
    url: origin,
    base: basePath,
    issuer: `${publicUrl}/oidc`,
    logs,
    rawLogs: () => text,
    raw,
    startInstance,
    adopt: (part) => parts.add(part),
    close: () => parts.close(),
  };
}

export interface Rp {
  readonly config: oc.Configuration;
  readonly clientId: string;
  readonly redirectUri: string;
}

/**
 * openid-client as the relying party for one of testClients(). `instance` points its back-channel
 * requests (discovery, token, userinfo, introspection, revocation) at another Portcullis instance.
 */
export async function rpFor(
  stack: IssuerStack,
  clientId: 'rp-post' | 'rp-basic' | 'rp-public' | 'rp-consent' | 'svc',
  o: { instance?: number; secret?: string } = {},
): Promise<Rp> {
  const auth =
    clientId === 'rp-post'
      ? oc.ClientSecretPost(o.secret ?? SECRETS.post)
      : clientId === 'rp-basic'
        ? oc.ClientSecretBasic(o.secret ?? SECRETS.basic)
        : clientId === 'svc'
          ? oc.ClientSecretBasic(o.secret ?? SECRETS.service)
          : oc.None();
  const target = stack.gws[o.instance ?? 0]!.url;
  // Its own connection pool: a relying party made after a restart must not reuse sockets to the old process.
  const dispatcher = new Agent();
  stack.adopt({ close: () => dispatcher.destroy() });
  const rewrite: oc.CustomFetch = (url, options) => {
    const u = new URL(url);
    u.host = new URL(target).host;
    return fetch(u, { ...(options as RequestInit), dispatcher } as unknown as RequestInit);
  };
  const config = await oc.discovery(new URL(stack.issuer), clientId, undefined, auth, {
    execute: [oc.allowInsecureRequests],
    [oc.customFetch]: rewrite,
  });
  config[oc.customFetch] = rewrite;
  const path = clientId.replace('rp-', '');
  return { config, clientId, redirectUri: `${stack.sink.url}/${path}/callback` };
}

export interface Checks {
  readonly verifier: string;
  readonly state: string;
  readonly nonce: string;
}

/** An authorization URL with PKCE S256, state and nonce (what every relying party here sends). */
export async function authorizationUrl(
  rp: Rp,
  extra: Record<string, string> = {},
): Promise<{ url: URL; checks: Checks }> {
  const verifier = oc.randomPKCECodeVerifier();
  const checks = { verifier, state: oc.randomState(), nonce: oc.randomNonce() };
  const url = oc.buildAuthorizationUrl(rp.config, {
    redirect_uri: rp.redirectUri,
    scope: 'openid profile email groups',
    code_challenge: await oc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state: checks.state,
    nonce: checks.nonce,
    ...extra,
  });
  return { url, checks };
}

/**
 * Follows a browser from the service's authorization URL to wherever it ends: through the dev IdP's login
 * form (as `username`) when the gate asks for it, and through the consent page when `consent` says so.
 */
export async function authorize(
  b: Browser,
  url: URL | string,
  o: { username?: string; consent?: 'allow' | 'deny' } = {},
): Promise<BrowserResponse> {
  let r = await b.get(url);
  if (/<form[^>]*id="login"/.test(r.body))
    r = await b.signInAtDevIdp(r, o.username ?? 'alice', o.username ?? 'alice');
  if (o.consent !== undefined && /<form[^>]*id="consent"/.test(r.body)) {
    r = await b.submitForm(r.body, r.url, { formId: o.consent === 'allow' ? 'consent' : 'deny' });
  }
  return r;
}

/** Redeems the code the browser landed with. */
export function redeem(rp: Rp, landed: BrowserResponse, checks: Checks) {
  return oc.authorizationCodeGrant(rp.config, new URL(landed.url), {
    pkceCodeVerifier: checks.verifier,
    expectedState: checks.state,
    expectedNonce: checks.nonce,
    idTokenExpected: true,
  });
}

/**
 * openid-client's error for an OAuth error code: a ResponseBodyError (`error` in the JSON body), or a
 * WWWAuthenticateChallengeError when the server answered 401 with a challenge (client authentication).
 */
export function oauthError(code: string, description?: RegExp) {
  return (err: unknown) => {
    const e = err as {
      error?: string;
      error_description?: string;
      cause?: { parameters?: { error?: string; error_description?: string } }[];
    };
    const challenge = Array.isArray(e.cause) ? e.cause[0]?.parameters : undefined;
    const got = e.error ?? challenge?.error;
    const text = e.error_description ?? challenge?.error_description ?? '';
    assert.equal(got, code, `expected ${code}, got ${String(err)} ${text}`);
    if (description) assert.match(text, description);
    return true;
  };
}

export { Browser };
