/**
 * A whole stack on loopback for integration tests: a real oidc-provider IdP, the sample upstream app and
 * Portcullis in front of it, with configuration overrides and an adjustable clock.
 */
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { resolveConfig } from '../../src/config/load.ts';
import type { RawConfig } from '../../src/config/schema.ts';
import { type SampleApp, startSampleApp } from '../../src/demo/app.ts';
import { createLogger } from '../../src/observability/log.ts';
import { type RunningGateway, startGateway } from '../../src/server/start.ts';
import { Browser } from './browser.ts';
import { type Cleanup, startOrRelease } from './cleanup.ts';
import { freePort } from './gateway.ts';
import type { DevClient } from './idp.ts';
import { startTestIdp, type TestIdp, type TestIdpOptions } from './idp.ts';

export interface LogLine {
  readonly level: number;
  readonly msg: string;
  readonly [key: string]: unknown;
}

export interface Stack {
  readonly idp: TestIdp;
  readonly app: SampleApp;
  readonly gw: RunningGateway;
  /** The gateway's origin. */
  readonly url: string;
  /** The path publicUrl puts Portcullis under, without its trailing slash ('' by default). */
  readonly base: string;
  readonly clientSecret: string;
  /** Log lines written so far (parsed JSON). */
  readonly logs: LogLine[];
  /** Raw log text, to assert that no secret ever reaches it. */
  rawLogs(): string;
  /** Moves the gateway's clock forward (seconds). */
  advance(seconds: number): void;
  browser(): Browser;
  /** Signs in as `username` and returns the browser holding the session. */
  signIn(username?: string, path?: string): Promise<Browser>;
  close(): Promise<void>;
}

export interface StackOptions {
  /** Client registration at the IdP. */
  readonly authMethod?: 'client_secret_basic' | 'client_secret_post' | 'none';
  readonly accessTokenTtlSeconds?: number;
  /** Extra or overriding gateway configuration. */
  readonly config?: (base: Record<string, unknown>) => Record<string, unknown>;
  /** More options of the test IdP (e.g. providerConfig to enable introspection). */
  readonly idp?: Partial<Omit<TestIdpOptions, 'clients'>>;
  /** Provider overrides, merged into the single provider entry. */
  readonly provider?: Record<string, unknown>;
  /** Serve Portcullis under this path (`/auth`: publicUrl `http://127.0.0.1:PORT/auth/`). */
  readonly basePath?: string;
}

export function startStack(o: StackOptions = {}): Promise<Stack> {
  // Whatever started is closed again when a later part fails (the reserved port may be taken meanwhile).
  return startOrRelease((parts) => start(o, parts));
}

async function start(o: StackOptions, parts: Cleanup): Promise<Stack> {
  const authMethod = o.authMethod ?? 'client_secret_basic';
  const clientSecret = randomBytes(16).toString('hex');
  // The gateway's port is needed for the redirect URI before it listens: reserve it first.
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const basePath = o.basePath ?? '';
  const publicUrl = `${origin}${basePath}`;
  const client: DevClient = {
    client_id: 'portcullis-test',
    redirect_uris: [`${publicUrl}/oauth2/callback`],
    post_logout_redirect_uris: [`${publicUrl}/oauth2/signed_out`, `${publicUrl}/bye`],
    token_endpoint_auth_method: authMethod,
  };
  if (authMethod !== 'none') client.client_secret = clientSecret;
  const idp = parts.add(
    await startTestIdp({
      ...o.idp,
      clients: [client],
      ...(o.accessTokenTtlSeconds !== undefined ? { accessTokenTtlSeconds: o.accessTokenTtlSeconds } : {}),
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
        ...(authMethod !== 'none' ? { clientSecret, tokenEndpointAuthMethod: authMethod } : {}),
        scopes: ['openid', 'email', 'profile', 'offline_access'],
        ...o.provider,
      },
    ],
    upstreams: [{ id: 'sample', path: '/', url: app.url, timeout: 2 }],
    routes: [
      { path: '/public/', public: true },
      { path: '/api/', api: true },
    ],
    logging: { level: 'debug' },
    // The metrics listener's fixed default port would collide between test files: any free one.
    metrics: { listen: '127.0.0.1:0' },
  };
  const config = resolveConfig((o.config ?? ((c) => c))(base) as RawConfig);
  let raw = '';
  const logs: LogLine[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      const text = String(chunk);
      raw += text;
      for (const line of text.split('\n')) if (line.trim()) logs.push(JSON.parse(line) as LogLine);
      cb();
    },
  });
  let offset = 0;
  const gw = parts.add(
    await startGateway(config, createLogger('debug', sink), {
      now: () => Math.floor(Date.now() / 1000) + offset,
    }),
  );
  const stack: Stack = {
    idp,
    app,
    gw,
    url: gw.url,
    base: basePath,
    clientSecret,
    logs,
    rawLogs: () => raw,
    advance(seconds) {
      offset += seconds;
    },
    browser: () => new Browser(),
    async signIn(username = 'alice', path = '/') {
      const b = new Browser();
      const login = await b.get(`${gw.url}${basePath}/oauth2/start?rd=${encodeURIComponent(path)}`);
      const back = await b.signInAtDevIdp(login, username, username);
      if (back.status !== 200)
        throw new Error(`sign-in ended with ${back.status} at ${back.url}: ${back.body.slice(0, 300)}`);
      return b;
    },
    close: () => parts.close(),
  };
  return stack;
}
