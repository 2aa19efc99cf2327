// The embedded development OpenID Provider: a real oidc-provider v9 running in-process on loopback, with
// our own login page and automatic consent. Used by `portcullis demo` and, extended with the hooks tests
// need (token response rewriting, extra routes, JWT access tokens), by test/support/idp.ts. It is not, and
// must never become, a production IdP.
import { randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import type {
  Account,
  Adapter,
  Client,
  Configuration,
  Interaction,
  KoaContextWithOIDC,
  UnknownObject,
} from 'oidc-provider';
import Provider from 'oidc-provider';
import { type Html, html, rawHtml } from '../http/html.ts';

export interface DevUser {
  username: string;
  password: string;
  /** Defaults to `username`. */
  sub?: string;
  email: string;
  /** Defaults to `true`. */
  emailVerified?: boolean;
  name: string;
  groups: string[];
  /** More claims, in the ID token and at userinfo (each must be released by a scope: extraClaims). */
  claims?: Record<string, unknown>;
  /** Claims only the userinfo endpoint returns (as GitLab's `groups`). */
  userinfoClaims?: Record<string, unknown>;
}

export interface DevClient {
  client_id: string;
  client_secret?: string;
  redirect_uris: string[];
  post_logout_redirect_uris?: string[];
  /** Defaults to `client_secret_basic` with a secret, `none` (public client, PKCE required) without. */
  token_endpoint_auth_method?: 'client_secret_basic' | 'client_secret_post' | 'none';
  /** Defaults to authorization_code and refresh_token; client_credentials needs the feature enabled too. */
  grant_types?: string[];
}

export interface DevIdpOptions {
  host?: string;
  port?: number;
  /**
   * The host name in the issuer URL, when it should differ from the listening address: the demo names
   * the IdP `localhost` while the gateway is 127.0.0.1, because cookies are per host, not per port, and
   * the IdP's own session cookies would otherwise go to the gateway and on to its upstream.
   */
  publicHost?: string;
  clients: DevClient[];
  users?: DevUser[];
  accessTokenTtlSeconds?: number;
  idTokenTtlSeconds?: number;
  /** Heading of the login page; the "development only" banner is always shown. */
  title?: string;
  /** Mounts the issuer under a path, e.g. `/realms/acme` (Keycloak's shape). */
  issuerPath?: string;
  /** More scopes and the claims each releases, merged into the defaults (tests shape provider-like IdPs). */
  extraClaims?: Record<string, string[]>;
  /**
   * More oidc-provider configuration, laid over ours (`features` merged by feature): lets a caller shape
   * the provider, e.g. JWT access tokens through resource indicators, without this file knowing why.
   */
  providerConfig?: Configuration;
}

/** An OpenID provider's request handler, mountable next to others on one server (see startDevIdp). */
export interface DevIdpApp {
  issuer: string;
  users: DevUser[];
  signingKey: JWK;
  /** The oidc-provider instance: `provider.use(…)` before the first request adds koa middleware. */
  provider: Provider;
  /** Answers a request whose path is under the issuer's path. */
  handle(req: http.IncomingMessage, res: http.ServerResponse): void;
  /** Signs with a new key (new kid) from now on, publishing it first in the JWKS beside the previous one. */
  rotateSigningKey(): Promise<JWK>;
  /**
   * Adds koa middleware to the provider — the current one and every one a key rotation builds — before
   * oidc-provider's own router (test/support/idp.ts hooks the token endpoint this way).
   */
  use(middleware: Parameters<Provider['use']>[0]): void;
}

export interface DevIdp {
  /** e.g. http://127.0.0.1:PORT, no trailing slash. */
  issuer: string;
  port: number;
  /** The users, with `sub` and `emailVerified` filled in. */
  users: DevUser[];
  /** The private RS256 signing key (JWK with kid, alg, use), so tests can re-sign tokens. */
  signingKey: JWK;
  /** Signs with a new key (new kid) from now on, publishing it first in the JWKS beside the previous one. */
  rotateSigningKey(): Promise<JWK>;
  close(): Promise<void>;
}

export const DEMO_USERS: DevUser[] = [
  {
    username: 'alice',
    password: 'alice',
    email: 'alice@example.com',
    name: 'Alice Admin',
    groups: ['admins', 'engineering'],
  },
  {
    username: 'bob',
    password: 'bob',
    email: 'bob@example.com',
    name: 'Bob Builder',
    groups: ['engineering'],
  },
  {
    username: 'carol',
    password: 'carol',
    email: 'carol@example.org',
    emailVerified: false,
    name: 'Carol Contractor',
    groups: [],
  },
];

const SCOPES = ['openid', 'email', 'profile', 'groups', 'offline_access'];
const CLAIMS = {
  openid: ['sub'],
  email: ['email', 'email_verified'],
  // groups is also released with `profile`, so a relying party asking for the usual three scopes sees it.
  profile: ['name', 'preferred_username', 'groups'],
  groups: ['groups'],
};

export async function startDevIdp(opts: DevIdpOptions): Promise<DevIdp> {
  // Listen first: with port 0 the issuer (which contains the port) is only known afterwards.
  let app: DevIdpApp | undefined;
  const server = http.createServer((req, res) => {
    if (app === undefined) sendStarting(res);
    else app.handle(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const issuer = `http://${opts.publicHost ?? urlHost(opts.host ?? '127.0.0.1')}:${address.port}${opts.issuerPath ?? ''}`;
  try {
    app = await createDevIdpApp(issuer, opts);
  } catch (err) {
    // A listener left behind would keep the process (a test file, the demo) alive forever.
    await closeServer(server);
    throw err;
  }
  const ready = app;
  return {
    issuer,
    port: address.port,
    users: app.users,
    get signingKey() {
      return ready.signingKey;
    },
    rotateSigningKey: () => ready.rotateSigningKey(),
    close: () => closeServer(server),
  };
}

/**
 * The OpenID provider alone, for `issuer` (its path is where it is mounted), to be served by a server of
 * the caller's (several on one server give one origin many issuers, as Entra's tenants).
 */
export async function createDevIdpApp(
  issuer: string,
  opts: Omit<DevIdpOptions, 'host' | 'port'>,
): Promise<DevIdpApp> {
  const users = normaliseUsers(opts.users ?? DEMO_USERS);
  const prefix = new URL(issuer).pathname.replace(/\/$/, '');
  const claims: Record<string, string[]> = { ...CLAIMS };
  for (const [scope, names] of Object.entries(opts.extraClaims ?? {})) {
    claims[scope] = [...new Set([...(claims[scope] ?? []), ...names])];
  }

  const newKey = async (): Promise<JWK> => {
    const { privateKey } = await generateKeyPair('RS256', { extractable: true });
    return { ...(await exportJWK(privateKey)), kid: `dev-${randomUUID()}`, alg: 'RS256', use: 'sig' };
  };
  let signingKey = await newKey();
  let previousKey: JWK | undefined;
  // Shared by the providers before and after a key rotation: sessions, grants and codes survive it.
  const adapter = createMemoryAdapter();

  const extra = opts.providerConfig ?? {};
  const middleware: Parameters<Provider['use']>[0][] = [];
  const build = () => {
    const provider = new Provider(issuer, {
      adapter,
      clients: opts.clients.map(toClientMetadata),
      clientDefaults: {
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        id_token_signed_response_alg: 'RS256',
      },
      // Signs with the first key; a rotated-out key is still published, as IdPs do while old tokens live.
      jwks: { keys: previousKey ? [signingKey, previousKey] : [signingKey] },
      cookies: { keys: [randomBytes(32).toString('base64url')] },
      scopes: [...new Set([...SCOPES, ...Object.keys(claims)])],
      claims,
      // Release scope claims in the ID token too (as Keycloak, Google and Entra do), not only at userinfo.
      conformIdTokenClaims: false,
      responseTypes: ['code'],
      // oidc-provider v9 only implements S256 (plain is rejected); required for public clients, optional
      // for confidential ones so the gateway's own "PKCE on every login" is what the tests observe.
      pkce: { required: (_ctx: KoaContextWithOIDC, client: Client) => client.clientAuthMethod === 'none' },
      // Every client may refresh, with or without offline_access, so gateway refresh can be tested.
      issueRefreshToken: async (_ctx: KoaContextWithOIDC, client: Client) =>
        client.grantTypeAllowed('refresh_token'),
      rotateRefreshToken: true,
      ttl: {
        AccessToken: opts.accessTokenTtlSeconds ?? 3600,
        IdToken: opts.idTokenTtlSeconds ?? 3600,
        AuthorizationCode: 60,
        Interaction: 600,
        Session: 8 * 3600,
        Grant: 14 * 24 * 3600,
        RefreshToken: 24 * 3600,
      },
      features: {
        devInteractions: { enabled: false },
        rpInitiatedLogout: { enabled: true, logoutSource, postLogoutSuccessSource },
        ...(extra.features ?? {}),
      },
      interactions: {
        url: async (_ctx: KoaContextWithOIDC, interaction: Interaction) =>
          `${prefix}/interaction/${interaction.uid}`,
      },
      findAccount: async (_ctx: KoaContextWithOIDC, sub: string): Promise<Account | undefined> => {
        const user = users.find((u) => u.sub === sub);
        return user ? { accountId: sub, claims: (use: string) => claimsOf(user, use) } : undefined;
      },
      // Defined to keep oidc-provider's "you SHOULD change this" notices out of test output.
      clientBasedCORS: (_ctx: KoaContextWithOIDC, origin: string, client: Client) =>
        client.redirectUris.some((uri) => URL.parse(uri)?.origin === origin),
      renderError,
      ...withoutFeatures(extra),
    });

    provider.on('server_error', (_ctx, err) => {
      console.error('demo idp: server error', err);
    });

    for (const m of middleware) provider.use(m);
    // Koa composes the middleware when callback() is called: built at the first request, so middleware a
    // caller adds with use() before then takes part.
    let oidc: ReturnType<Provider['callback']> | undefined;
    return {
      provider,
      oidc: (req: http.IncomingMessage, res: http.ServerResponse) => {
        oidc ??= provider.callback();
        return oidc(req, res);
      },
      interactions: new Interactions(provider, users, opts.title ?? 'Demo identity provider', prefix),
    };
  };
  let { provider, oidc, interactions } = build();
  const handle = (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (prefix !== '') {
      // Mounted under a path, as with express' app.use(prefix, …): oidc-provider reads the mount path from
      // originalUrl and routes on the rest.
      const url = req.url ?? '/';
      if (url !== prefix && !url.startsWith(`${prefix}/`) && !url.startsWith(`${prefix}?`)) {
        sendHtml(res, 404, page('Not found', html`<p>Nothing here.</p>`));
        return;
      }
      (req as http.IncomingMessage & { originalUrl?: string }).originalUrl = url;
      req.url = url.slice(prefix.length) || '/';
    }
    const match = INTERACTION_PATH.exec(new URL(req.url ?? '/', 'http://x').pathname);
    if (!match) {
      oidc(req, res);
      return;
    }
    interactions.handle(req, res, match[1]!, match[2]).catch((err: unknown) => {
      console.error('demo idp: interaction failed', err);
      if (!res.headersSent) sendHtml(res, 500, page('Error', html`<p>The sign-in step failed.</p>`));
      else res.destroy();
    });
  };

  return {
    issuer,
    users,
    get signingKey() {
      return signingKey;
    },
    get provider() {
      return provider;
    },
    handle,
    use(m) {
      middleware.push(m);
      provider.use(m);
    },
    async rotateSigningKey() {
      previousKey = signingKey;
      signingKey = await newKey();
      ({ provider, oidc, interactions } = build());
      return signingKey;
    },
  };
}

function withoutFeatures(config: Configuration): Configuration {
  const { features: _, ...rest } = config;
  return rest;
}

/** The answer while the provider is still being created (the server listens first, see startDevIdp). */
export function sendStarting(res: http.ServerResponse): void {
  sendHtml(res, 503, page('Starting', html`<p>The demo identity provider is starting.</p>`));
}

/** The host as clients should spell it: wildcard listeners are reached on loopback, IPv6 gets brackets. */
function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '::') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}

function normaliseUsers(input: DevUser[]): DevUser[] {
  const users = input.map((u) => ({
    ...u,
    sub: u.sub ?? u.username,
    emailVerified: u.emailVerified ?? true,
  }));
  const seen = new Set<string>();
  for (const u of users) {
    for (const key of [`username:${u.username}`, `sub:${u.sub}`]) {
      if (seen.has(key)) throw new TypeError(`demo idp: duplicate user ${key}`);
      seen.add(key);
    }
  }
  return users;
}

function claimsOf(user: DevUser, use?: string): UnknownObject {
  return {
    sub: user.sub,
    email: user.email,
    email_verified: user.emailVerified ?? true,
    name: user.name,
    preferred_username: user.username,
    groups: [...user.groups],
    ...user.claims,
    ...(use === 'userinfo' ? user.userinfoClaims : {}),
  };
}

function toClientMetadata(client: DevClient): UnknownObject {
  const method = client.token_endpoint_auth_method ?? (client.client_secret ? 'client_secret_basic' : 'none');
  const metadata: UnknownObject = {
    client_id: client.client_id,
    redirect_uris: client.redirect_uris,
    token_endpoint_auth_method: method,
    grant_types: client.grant_types ?? ['authorization_code', 'refresh_token'],
    response_types: client.grant_types?.includes('authorization_code') === false ? [] : ['code'],
  };
  if (client.grant_types?.includes('authorization_code') === false) metadata['redirect_uris'] = [];
  if (method !== 'none') {
    if (!client.client_secret)
      throw new TypeError(`demo idp: client ${client.client_id} needs a client_secret`);
    metadata['client_secret'] = client.client_secret;
  }
  if (client.post_logout_redirect_uris)
    metadata['post_logout_redirect_uris'] = client.post_logout_redirect_uris;
  return metadata;
}

// --- interactions: our login page and automatic consent ------------------------------------------------

// The interaction cookie is scoped to Path=/interaction/<uid>, so the login form posts below that path.
const INTERACTION_PATH = /^\/interaction\/([\w-]+)(?:\/(login|abort))?$/;

class Interactions {
  readonly provider: Provider;
  readonly users: DevUser[];
  readonly title: string;
  /** The issuer's path, where interaction URLs live too. */
  readonly prefix: string;

  constructor(provider: Provider, users: DevUser[], title: string, prefix = '') {
    this.provider = provider;
    this.users = users;
    this.title = title;
    this.prefix = prefix;
  }

  async handle(req: http.IncomingMessage, res: http.ServerResponse, uid: string, action: string | undefined) {
    let details: Interaction;
    try {
      details = await this.provider.interactionDetails(req, res);
    } catch {
      sendHtml(
        res,
        400,
        page('Sign-in expired', html`<p>This sign-in attempt expired or was not found. Start again.</p>`),
      );
      return;
    }
    if (details.uid !== uid) {
      sendHtml(
        res,
        400,
        page('Sign-in mismatch', html`<p>This sign-in attempt does not match. Start again.</p>`),
      );
      return;
    }
    const prompt = details.prompt.name;

    if (req.method === 'GET' && action === undefined) {
      if (prompt === 'login') sendHtml(res, 200, this.loginPage(details));
      else if (prompt === 'consent') await this.grantConsent(req, res, details);
      else
        sendHtml(res, 501, page('Unsupported', html`<p>Prompt <code>${prompt}</code> is not supported.</p>`));
      return;
    }
    if (req.method === 'POST' && action === 'abort') {
      await this.provider.interactionFinished(
        req,
        res,
        { error: 'access_denied', error_description: 'End-User aborted interaction' },
        { mergeWithLastSubmission: false },
      );
      return;
    }
    if (req.method === 'POST' && action === 'login' && prompt === 'login') {
      const form = await readForm(req);
      const username = form.get('username') ?? '';
      const user = this.users.find((u) => u.username === username);
      if (!user || user.password !== (form.get('password') ?? '')) {
        sendHtml(res, 401, this.loginPage(details, 'Wrong username or password.', username));
        return;
      }
      await this.provider.interactionFinished(
        req,
        res,
        { login: { accountId: user.sub ?? user.username } },
        { mergeWithLastSubmission: false },
      );
      return;
    }
    sendHtml(res, 405, page('Not allowed', html`<p>This request is not part of the sign-in.</p>`));
  }

  /** No consent page: grant exactly what is missing (scopes, claims, resource scopes) and carry on. */
  async grantConsent(req: http.IncomingMessage, res: http.ServerResponse, details: Interaction) {
    const { Grant } = this.provider;
    const existing = details.grantId ? await Grant.find(details.grantId) : undefined;
    const grant =
      existing ??
      new Grant({
        accountId: details.session?.accountId ?? '',
        clientId: String(details.params['client_id']),
      });
    const missing = details.prompt.details;
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [resource, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
      grant.addResourceScope(resource, scopes.join(' '));
    }
    const grantId = await grant.save();
    await this.provider.interactionFinished(
      req,
      res,
      { consent: { grantId } },
      { mergeWithLastSubmission: true },
    );
  }

  loginPage(details: Interaction, error?: string, username = ''): string {
    const uid = details.uid;
    const hint = this.users.map(
      (u, i) =>
        html`${i > 0 && ', '}<code>${u.username}</code>${u.password !== u.username && ' (own password)'}`,
    );
    const samePasswords = this.users.every((u) => u.password === u.username);
    return page(
      `Sign in — ${this.title}`,
      html`<h1>${this.title}</h1>
<p>Signing in to <code>${String(details.params['client_id'] ?? '')}</code></p>
${error && html`<p class="error" role="alert">${error}</p>`}
<form id="login" method="post" action="${this.prefix}/interaction/${uid}/login">
  <label>Username <input name="username" autocomplete="username" value="${username}" required autofocus></label>
  <label>Password <input name="password" type="password" autocomplete="current-password" required></label>
  <button type="submit">Sign in</button>
</form>
<form id="abort" method="post" action="${this.prefix}/interaction/${uid}/abort"><button type="submit" class="secondary">Cancel</button></form>
<p class="hint">Demo accounts: ${hint}${samePasswords && ' — the password is the username.'}</p>`,
    );
  }
}

// --- pages ------------------------------------------------------------------------------------------------

const STYLE = rawHtml(`body{font-family:system-ui,sans-serif;background:#f4f4f5;margin:0;color:#18181b}
.banner{background:#b45309;color:#fff;padding:.5rem 1rem;font-weight:600;text-align:center}
main{max-width:24rem;margin:2rem auto;background:#fff;padding:1.5rem 2rem;border-radius:8px;box-shadow:0 1px 3px #0003}
h1{font-size:1.5rem;margin:0 0 .75rem}
label{display:block;margin:.75rem 0}
input{display:block;width:100%;box-sizing:border-box;padding:.5rem;margin-top:.25rem;font:inherit;border:1px solid #a1a1aa;border-radius:4px}
button{display:block;width:100%;padding:.6rem 1rem;margin-top:.75rem;font:inherit;background:#1d4ed8;color:#fff;border:1px solid #1d4ed8;border-radius:4px;cursor:pointer}
button.secondary{background:#fff;color:#3f3f46;border-color:#a1a1aa;margin-top:.5rem}
.error{color:#b91c1c;font-weight:600}.hint{color:#52525b;font-size:.9rem;margin-bottom:0}
pre{white-space:pre-wrap;word-break:break-word}`);

function page(title: string, content: Html): string {
  return html`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title><style>${STYLE}</style></head>
<body><div class="banner">Demo identity provider — development only</div>
<main>${content}</main></body></html>`.toString();
}

/** RP-initiated logout confirmation: auto-submits, with a visible button when scripts do not run. */
async function logoutSource(ctx: KoaContextWithOIDC, form: string): Promise<void> {
  // `form` is oidc-provider's `<form id="op.logoutForm">` holding the xsrf input. logout=yes ends the OP
  // session too (not only this client's part of it); form.submit() sends no button value, hence the input.
  const withButton = rawHtml(
    form.replace(
      '</form>',
      '<input type="hidden" name="logout" value="yes"/><button type="submit" autofocus>Sign out</button></form>',
    ),
  );
  ctx.type = 'html';
  ctx.body = page(
    'Signing out',
    html`<h1>Signing out</h1><p>Signing you out of ${ctx.host}…</p>${withButton}
<script>document.getElementById('op.logoutForm').submit()</script>`,
  );
}

async function postLogoutSuccessSource(ctx: KoaContextWithOIDC): Promise<void> {
  ctx.type = 'html';
  ctx.body = page(
    'Signed out',
    html`<h1>Signed out</h1><p>You are signed out of the demo identity provider.</p>`,
  );
}

async function renderError(ctx: KoaContextWithOIDC, out: Record<string, unknown>): Promise<void> {
  ctx.type = 'html';
  const rows = Object.entries(out).map(
    ([key, value]) => html`<pre><strong>${key}</strong>: ${String(value)}</pre>`,
  );
  ctx.body = page('Error', html`<h1>Something went wrong</h1>${rows}`);
}

function sendHtml(res: http.ServerResponse, status: number, html: string): void {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(html);
}

async function readForm(req: http.IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > 16 * 1024) throw new Error('form too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

export function closeServer(server: http.Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.close((err) => (err ? reject(err) : resolve()));
    server.closeAllConnections();
  });
}

// --- storage ----------------------------------------------------------------------------------------------

/**
 * A per-provider in-memory adapter. oidc-provider's built-in one works too, but prints a "MUST change"
 * warning on every start; this one is just as small and keeps each started IdP's state separate.
 */
function createMemoryAdapter() {
  const store = new Map<string, { value: unknown; expiresAt: number }>();
  const get = (key: string): unknown => {
    const entry = store.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= Date.now()) {
      store.delete(key);
      return undefined;
    }
    return entry.value;
  };
  const set = (key: string, value: unknown, expiresIn?: number) => {
    if (store.size > 10_000) {
      const now = Date.now();
      for (const [k, e] of store) if (e.expiresAt <= now) store.delete(k);
    }
    store.set(key, {
      value,
      expiresAt: expiresIn ? Date.now() + expiresIn * 1000 : Number.POSITIVE_INFINITY,
    });
  };

  return class MemoryAdapter implements Adapter {
    readonly name: string;
    constructor(name: string) {
      this.name = name;
    }
    key(id: string) {
      return `${this.name}:${id}`;
    }
    async upsert(id: string, payload: UnknownObject, expiresIn?: number) {
      const key = this.key(id);
      if (this.name === 'Session') set(`sessionUid:${String(payload['uid'])}`, id, expiresIn);
      if (typeof payload['userCode'] === 'string') set(`userCode:${payload['userCode']}`, id, expiresIn);
      if (typeof payload['grantId'] === 'string') {
        const grantKey = `grant:${payload['grantId']}`;
        const members = (get(grantKey) as Set<string> | undefined) ?? new Set<string>();
        members.add(key);
        set(grantKey, members);
      }
      set(key, payload, expiresIn);
    }
    async find(id: string) {
      return get(this.key(id)) as UnknownObject | undefined;
    }
    async findByUid(uid: string) {
      const id = get(`sessionUid:${uid}`);
      return typeof id === 'string' ? this.find(id) : undefined;
    }
    async findByUserCode(userCode: string) {
      const id = get(`userCode:${userCode}`);
      return typeof id === 'string' ? this.find(id) : undefined;
    }
    async consume(id: string) {
      const payload = get(this.key(id)) as UnknownObject | undefined;
      if (payload) payload['consumed'] = Math.floor(Date.now() / 1000);
    }
    async destroy(id: string) {
      store.delete(this.key(id));
    }
    async revokeByGrantId(grantId: string) {
      const grantKey = `grant:${grantId}`;
      const members = get(grantKey) as Set<string> | undefined;
      for (const key of members ?? []) store.delete(key);
      store.delete(grantKey);
    }
  };
}
