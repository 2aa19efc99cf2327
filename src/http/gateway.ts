/**
 * The gateway: one request pipeline, read as a table of named steps over a typed scope —
 * trust boundary → own endpoints → route → session (+ refresh) → decide → forward.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { ResolvedConfig } from '../config/load.ts';
import { PortcullisError } from '../errors/codes.ts';
import { createProvider } from '../idp/registry.ts';
import { KeyPoller } from '../keys/poller.ts';
import { callback, signedOut, signIn, signOut, start } from '../login/endpoints.ts';
import { FlowCookies } from '../login/flow.ts';
import { compileRedirectPolicy } from '../login/redirect.ts';
import type { Logger } from '../observability/log.ts';
import { Metrics, routeClass } from '../observability/metrics.ts';
import { Authorizer } from '../policy/authorize.ts';
import { compilePolicy, needsGithubMemberships, requiredClaims } from '../policy/compile.ts';
import { PrefixTable } from '../policy/routes.ts';
import { ASSERTION_HEADER, AssertionSigner, assertionIssuer, assertionsWanted } from '../proxy/assertion.ts';
import { Upstream } from '../proxy/forward.ts';
import { upstreamHeaders } from '../proxy/headers.ts';
import { identityHeaders } from '../proxy/identity.ts';
import { tunnel } from '../proxy/upgrade.ts';
import { cookieNames } from '../sessions/cookie-store.ts';
import { createSessionStore, openSessionStorage, sessionStorageChanged } from '../sessions/open.ts';
import { loadSession } from '../sessions/resolve.ts';
import { Sealer } from '../sessions/sealer.ts';
import type { Session } from '../sessions/session.ts';
import { openStorage } from '../storage/open.ts';
import type { Storage } from '../storage/storage.ts';
import type { GatewayContext, IssuerMount } from './context.ts';
import { AUTH_PATH, auth, authPrefixed, metricsEndpoint, ping, ready, userinfo } from './endpoints.ts';
import { authorizeScope, sendForbidden } from './forbidden.ts';
import { jwks } from './jwks.ts';
import { ConnectionGuard, limitsOf, serverOptions } from './limits.ts';
import { redirect, sendError } from './respond.ts';
import { Scope, type Upgrade } from './scope.ts';
import { services } from './services.ts';
import { readTarget, reservedPath, targetError } from './target.ts';
import { compileTrustedProxies, resolveForwarded } from './trust.ts';

type Handler = (ctx: GatewayContext, s: Scope) => void | Promise<void>;

const READ = new Set(['GET', 'HEAD']);

/**
 * Portcullis's own endpoints, matched on the normalised path, with the methods each accepts (undefined:
 * any — forward-auth sees whatever method the original request had, e.g. from Envoy).
 */
const ENDPOINTS: ReadonlyMap<string, { handler: Handler; methods?: ReadonlySet<string> }> = new Map([
  ['/ping', { handler: ping, methods: READ }],
  ['/ready', { handler: ready, methods: READ }],
  ['/oauth2/sign_in', { handler: signIn, methods: READ }],
  ['/oauth2/start', { handler: start, methods: READ }],
  ['/oauth2/callback', { handler: callback, methods: READ }],
  ['/oauth2/sign_out', { handler: signOut, methods: new Set(['GET', 'HEAD', 'POST']) }],
  ['/oauth2/signed_out', { handler: signedOut, methods: READ }],
  ['/oauth2/auth', { handler: auth }],
  ['/oauth2/userinfo', { handler: userinfo, methods: READ }],
  ['/metrics', { handler: metricsEndpoint, methods: READ }],
  ['/oauth2/services', { handler: services, methods: READ }],
  ['/oauth2/jwks', { handler: jwks, methods: READ }],
]);

/** The own endpoint answering `path`, if any: the optional ones fall through to the upstream when off. */
function ownEndpoint(ctx: GatewayContext, path: string) {
  const endpoint = ENDPOINTS.get(path);
  if (endpoint === undefined) return undefined;
  // /metrics is the metrics listener's; on the main listener only by explicit opt-in (else the upstream's).
  if (endpoint.handler === metricsEndpoint && !ctx.metricsOnMain) return undefined;
  // The services page lists issuer clients: without an issuer the path is the upstream's.
  if (endpoint.handler === services && ctx.issuer === undefined) return undefined;
  return endpoint;
}

/** A step answers the request (returns true) or passes it on (false). */
type Step = (ctx: GatewayContext, s: Scope) => boolean | Promise<boolean>;

const identityCache = new WeakMap<Session, string[]>();

function isPreflight(s: Scope): boolean {
  const h = s.req.headers;
  return (
    s.req.method === 'OPTIONS' && h.origin !== undefined && h['access-control-request-method'] !== undefined
  );
}

const PIPELINE: readonly (readonly [string, Step])[] = [
  [
    'endpoints',
    (ctx, s) => {
      // /oidc and everything under it is the issuer's when one is configured: answered here, before the
      // route and session steps, so no upstream shadows it and 'decide' never redirects it.
      if (s.upgrade !== undefined) {
        // An upgrade to the issuer's paths or Portcullis's own endpoints never tunnels to an upstream.
        if (!reservedPath(s.path) && ownEndpoint(ctx, s.path) === undefined) return false;
        sendError(ctx.log, s, new PortcullisError('PCL_NO_UPSTREAM', `no upgrade at ${s.path}`));
        return true;
      }
      if (ctx.issuer !== undefined && (s.path === '/oidc' || s.path.startsWith('/oidc/'))) {
        return ctx.issuer.handle(ctx, s).then(() => true);
      }
      const endpoint = ownEndpoint(ctx, s.path);
      if (endpoint === undefined) {
        // Envoy's ext_authz (path_prefix: /oauth2/auth) asks about the original path below the endpoint.
        if (s.path.startsWith(`${AUTH_PATH}/`)) return authPrefixed(ctx, s).then(() => true);
        // Nothing under /oauth2/ or /oidc/ is ever proxied, configured or not (the path decided is the
        // path served: no upstream may answer for what the gate's own endpoints would).
        if (!reservedPath(s.path)) return false;
        sendError(ctx.log, s, new PortcullisError('PCL_NOT_FOUND', `no endpoint ${s.path}`));
        return true;
      }
      if (endpoint.methods !== undefined && !endpoint.methods.has(s.req.method ?? 'GET')) {
        sendError(ctx.log, s, new PortcullisError('PCL_METHOD_NOT_ALLOWED', `${s.req.method} ${s.path}`), {
          extraHeaders: { Allow: [...endpoint.methods].join(', ') },
        });
        return true;
      }
      const r = endpoint.handler(ctx, s);
      return r instanceof Promise ? r.then(() => true) : true;
    },
  ],
  [
    'route',
    (ctx, s) => {
      s.route = ctx.routes.match(s.path);
      return false;
    },
  ],
  [
    'session',
    (ctx, s) => {
      if (s.route?.public) return false;
      const r = loadSession(ctx, s);
      return r instanceof Promise ? r.then(() => false) : false;
    },
  ],
  [
    'decide',
    (ctx, s) => {
      if (s.route?.public) return false;
      if (s.session !== undefined) {
        // Cached per session and route by the policy: a lookup on the hot path.
        const surface = s.upgrade === undefined ? 'request' : 'upgrade';
        const outcome = authorizeScope(ctx, s, surface, s.session, [s.path]);
        if (outcome.kind === 'allowed') return false;
        if (outcome.kind === 'denied') sendForbidden(ctx, s, outcome.decision);
        return true;
      }
      // A CORS preflight carries no credentials: it goes through, without identity, so CORS keeps working.
      if (s.upgrade === undefined && isPreflight(s)) return false;
      if (s.wantsJson()) {
        sendError(ctx.log, s, 'PCL_UNAUTHENTICATED', { json: true });
        return true;
      }
      const rd = encodeURIComponent(s.rawPath + s.query);
      // With autoLogin and a single provider the sign-in page would only redirect on: skip that hop.
      redirect(s, ctx.autoStart ? `/oauth2/start?rd=${rd}` : `/oauth2/sign_in?rd=${rd}`);
      return true;
    },
  ],
  [
    'forward',
    async (ctx, s) => {
      const upstream = ctx.upstreams.match(s.path);
      if (upstream === undefined) {
        sendError(ctx.log, s, new PortcullisError('PCL_NO_UPSTREAM', `no upstream serves ${s.path}`));
        return true;
      }
      const extra = s.session ? extraHeaders(ctx, upstream, s.session) : undefined;
      const headers = upstreamHeaders(
        s.req.rawHeaders,
        s.fwd,
        s.req.socket.remoteAddress ?? '',
        s.trustedPeer,
        upstream.headerOptions,
        extra instanceof Promise ? await extra : extra,
      );
      if (s.upgrade !== undefined) {
        await tunnelTo(ctx, s, s.upgrade, upstream, headers);
        return true;
      }
      const t0 = performance.now();
      const result = await upstream.forward(s.req, s.res, s.rawPath + s.query, headers, s.setCookies);
      ctx.metrics.upstream(upstream.config.name, (performance.now() - t0) / 1000);
      if (result.error) ctx.metrics.upstreamError(upstream.config.name, result.error.code);
      if (result.error)
        sendError(ctx.log, s, result.error, { userDetail: `upstream: ${upstream.config.name}` });
      return true;
    },
  ],
];

/** Identity headers, the signed assertion and Authorization; synchronous unless an assertion is (re-)signed. */
function extraHeaders(
  ctx: GatewayContext,
  u: Upstream,
  session: Session,
): readonly string[] | Promise<readonly string[]> {
  let ids = identityCache.get(session);
  if (ids === undefined) {
    ids = identityHeaders(session.identity, session.provider);
    identityCache.set(session, ids);
  }
  if (u.assertion === undefined || ctx.assertions === undefined) return withAuthorization(u, session, ids);
  const jwt = ctx.assertions.assertion(session, u.assertion, ctx.assertionIssuer, ctx.now());
  if (typeof jwt === 'string') return withAuthorization(u, session, [...ids, ASSERTION_HEADER, jwt]);
  return jwt.then((j) => withAuthorization(u, session, [...ids, ASSERTION_HEADER, j]));
}

function withAuthorization(u: Upstream, session: Session, headers: readonly string[]): readonly string[] {
  const mode = u.config.passAuthorization;
  if (mode === 'none') return headers;
  const token = mode === 'access_token' ? session.accessToken : session.idToken;
  return token === undefined ? headers : [...headers, 'authorization', `Bearer ${token}`];
}

export function buildContext(
  config: ResolvedConfig,
  log: Logger,
  now: () => number = () => Math.floor(Date.now() / 1000),
  metrics: Metrics = new Metrics({ defaultMetrics: false }),
  issuer?: IssuerMount,
  assertions?: AssertionSigner,
  /** The storage of server-side sessions (openSessionStorage); absent for cookie sessions. */
  sessionStorage?: Storage,
): GatewayContext {
  const sealer = new Sealer(config.cookieKeys);
  const names = cookieNames(config.cookie.name, config.cookieSecure, config.cookie.domain);
  const cookieOpts = { secure: config.cookieSecure, domain: config.cookie.domain };
  const providers = new Map(
    config.providers.map((p) => [
      p.id,
      createProvider(p, {
        redirectUri: config.redirectUri,
        timeoutSeconds: 10,
        now,
        fetch: metrics.timedFetch(p.id),
        keepClaims: requiredClaims(config, p.id),
        githubMemberships: needsGithubMemberships(config, p.id),
      }),
    ]),
  );
  const sessions = createSessionStore(config, {
    sealer,
    names,
    cookieOptions: cookieOpts,
    log,
    metrics,
    storage: sessionStorage,
  });
  const owns = (name: string) => sessions.owns(name);
  const upstreams = config.upstreams.map((u) => new Upstream(u, owns));
  return {
    config,
    log,
    metrics,
    providers,
    sessions,
    flows: new FlowCookies(sealer, names.flowPrefix, cookieOpts, config.pendingLoginsMax),
    redirects: compileRedirectPolicy(config.public, config.allowedRedirectDomains),
    trusted: compileTrustedProxies(config.trustedProxies),
    routes: new PrefixTable(config.routes),
    authz: new Authorizer(compilePolicy(config, { log }), log, metrics),
    upstreams: new PrefixTable(upstreams),
    upstreamList: upstreams,
    autoStart: config.autoLogin && providers.size === 1,
    pathMatters: config.routes.some((r) => r.allow !== undefined),
    metricsOnMain: config.metrics.enabled && config.metrics.insecureOnMainListener,
    keepIdToken:
      config.providers.some((p) => p.logoutAtIdp) ||
      config.upstreams.some((u) => u.passAuthorization === 'id_token'),
    now,
    issuer,
    assertions,
    assertionIssuer: assertionIssuer(config.public),
  };
}

function hostCount(raw: readonly string[]): number {
  let n = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 4 && name.toLowerCase() === 'host') n++;
  }
  return n;
}

/** The raw target and Host headers read into a scope, or the error that refuses the request. */
function newScope(
  ctx: GatewayContext,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  upgrade: Upgrade | undefined,
): Scope | PortcullisError {
  // RFC 9112 §3.2: a request with more than one Host header is answered with 400.
  if (hostCount(req.rawHeaders) > 1) return new PortcullisError('PCL_BAD_REQUEST', 'duplicate Host header');
  const target = readTarget(req.url ?? '/');
  if (typeof target === 'string') return targetError(target);
  const peer = req.socket.remoteAddress ?? '';
  const fwd = resolveForwarded(req.headers, peer, 'http', ctx.trusted);
  const s = new Scope(req, res, target.rawPath, target.query, target.path, fwd);
  s.upgrade = upgrade;
  s.trustedPeer = ctx.trusted.any && ctx.trusted.isTrusted(peer);
  s.cookiePrefix = ctx.sessions.names.session;
  const other = target.readings.find((r) => !sameDestination(ctx, target.path, r));
  if (other !== undefined) {
    return new PortcullisError(
      'PCL_AMBIGUOUS_PATH',
      `${target.rawPath} reads as ${target.path} and as ${other}`,
    );
  }
  return s;
}

/**
 * Whether two readings of one target end in the same place: the same own endpoint (or none), the same
 * route (so the same public/api flags and route rules) and the same upstream.
 */
function sameDestination(ctx: GatewayContext, a: string, b: string): boolean {
  const endpointOf = (p: string) =>
    reservedPath(p) ? (ENDPOINTS.has(p) ? p : '/oauth2 or /oidc') : ENDPOINTS.has(p) ? p : '';
  return (
    endpointOf(a) === endpointOf(b) &&
    ctx.routes.match(a) === ctx.routes.match(b) &&
    ctx.upstreams.match(a) === ctx.upstreams.match(b)
  );
}

export async function handle(
  ctx: GatewayContext,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  upgrade?: Upgrade,
): Promise<void> {
  const s = newScope(ctx, req, res, upgrade);
  if (s instanceof PortcullisError) {
    const bad = new Scope(req, res, '/', '', '/', {
      clientIp: req.socket.remoteAddress ?? '',
      proto: 'http',
      host: '',
    });
    bad.upgrade = upgrade;
    sendError(ctx.log, bad, s);
    return;
  }
  try {
    for (const [, step] of PIPELINE) {
      const r = step(ctx, s);
      if (r instanceof Promise ? await r : r) break;
    }
    ctx.metrics.request(routeClass(s.path), res.statusCode);
  } catch (err) {
    // Coded failures (a session store that is down: 503) keep their code; anything else is a 500.
    sendError(
      ctx.log,
      s,
      err instanceof PortcullisError
        ? err
        : new PortcullisError(
            'PCL_INTERNAL',
            err instanceof Error ? (err.stack ?? err.message) : String(err),
          ),
    );
    ctx.metrics.request(routeClass(s.path), res.statusCode);
  }
}

/**
 * WebSocket and other upgrades run the same pipeline as any request — the same target reading, endpoints,
 * route, session and authorize step — and only the last step differs: a tunnel instead of a forward. Refusals
 * are written by the same response code as every other error (JSON, with the request id), on a response
 * bound to the upgrade's socket; a refused upgrade is never redirected to sign in.
 */
export async function handleUpgrade(
  ctx: GatewayContext,
  req: http.IncomingMessage,
  socket: Duplex,
  head: Buffer,
): Promise<void> {
  socket.on('error', () => socket.destroy());
  const res = new http.ServerResponse(req);
  res.shouldKeepAlive = false;
  res.assignSocket(socket as Socket);
  res.on('finish', () => {
    res.detachSocket(socket as Socket);
    socket.end();
  });
  await handle(ctx, req, res, { socket, head });
}

async function tunnelTo(
  ctx: GatewayContext,
  s: Scope,
  up: Upgrade,
  upstream: Upstream,
  headers: string[],
): Promise<void> {
  // From here the socket is the tunnel's: the response object must not write to it.
  s.res.detachSocket(up.socket as Socket);
  const outcome = await tunnel(
    {
      origin: upstream.origin,
      path: upstream.origin.pathname.replace(/\/$/, '') + s.rawPath + s.query,
      timeoutMs: upstream.config.timeout * 1000,
    },
    s.req.method ?? 'GET',
    headers,
    s.req.headers.upgrade ?? 'websocket',
    up.socket,
    up.head,
  );
  s.res.statusCode = outcome === 'ok' ? 101 : 502;
  if (outcome === 'failed')
    ctx.log.warn({ requestId: s.id, upstream: upstream.config.name }, 'upgrade refused or failed');
}

export interface RunningGateway {
  readonly server: http.Server;
  readonly url: string;
  /** The metrics listener's base URL (http://127.0.0.1:9180); undefined when it is not opened. */
  readonly metricsUrl: string | undefined;
  readonly ctx: GatewayContext;
  /** Swaps in a new, already validated configuration without dropping connections. */
  reload(next: ResolvedConfig): void;
  close(): Promise<void>;
}

export interface StartOptions {
  readonly port?: number;
  readonly host?: string;
  /** The clock, epoch seconds (tests move it forward). */
  readonly now?: () => number;
  /** The metrics registry (kept across reloads). */
  readonly metrics?: Metrics;
}

export async function startGateway(
  config: ResolvedConfig,
  log: Logger,
  opts: StartOptions = {},
): Promise<RunningGateway> {
  const metrics = opts.metrics ?? new Metrics();
  // The storage holds the signing keys (and the issuer's state): opened only when the issuer or an upstream
  // that is sent assertions needs it, and shared by both. The issuer's module is not even loaded otherwise.
  // Sessions with store: storage keep theirs there too; store: redis opens a connection of its own.
  const storage =
    config.issuer !== undefined || assertionsWanted(config) || config.sessions.store === 'storage'
      ? await openStorage(config.storage, log)
      : undefined;
  let issuer: Awaited<ReturnType<typeof startIssuer>>;
  let assertions: AssertionSigner | undefined;
  let keys: KeyPoller | undefined;
  let sessionStorage: Storage | undefined;
  // Closes the session store's own connection (store redis); a shared storage is closed as `storage`.
  const closeSessionStorage = async () => {
    if (sessionStorage !== storage) await sessionStorage?.close();
  };
  try {
    sessionStorage = await openSessionStorage(config, log, storage);
    // Signing keys only where something signs: the issuer, or an upstream that is sent assertions. One key
    // poller for both (src/keys/poller.ts): the issuer subscribes first, so /oidc/jwks changes before assertions.
    keys =
      storage && (config.issuer !== undefined || assertionsWanted(config))
        ? await KeyPoller.start(storage, config.cookieKeys, log)
        : undefined;
    issuer = await startIssuer(config, log, storage, keys);
    assertions = keys ? await AssertionSigner.follow(keys, log) : undefined;
  } catch (err) {
    keys?.close();
    await issuer?.close();
    await closeSessionStorage();
    await storage?.close();
    throw err;
  }
  let ctx = buildContext(config, log, opts.now, metrics, issuer, assertions, sessionStorage);
  const limits = new ConnectionGuard(limitsOf(config.server), log, metrics);
  const server = http.createServer(
    // Sessions may span up to 10 cookie chunks of 3.8 KB: headers must fit them (Node's default is 16 KiB).
    { ...serverOptions(limitsOf(config.server)), maxHeaderSize: 64 * 1024 },
    (req, res) => {
      // A connection past the cap was answered 503 when it opened: whatever it sends is not served.
      if (limits.refused(req.socket)) return;
      limits.request(req, res);
      void handle(ctx, req, res);
    },
  );
  limits.attach(server);
  server.on('upgrade', (req, socket, head) => {
    if (limits.refused(req.socket)) return;
    handleUpgrade(ctx, req, socket, head).catch((err: unknown) => {
      log.error({ err: String(err) }, 'upgrade failed');
      socket.destroy();
    });
  });
  const host = opts.host ?? config.host;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? config.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch(async (err: unknown) => {
    limits.close();
    ctx.authz.close();
    assertions?.close();
    keys?.close();
    await issuer?.close();
    await closeSessionStorage();
    await storage?.close();
    throw err;
  });
  const addr = server.address() as AddressInfo;
  const url = baseUrl(addr);
  let metricsServer: http.Server | undefined;
  if (config.metrics.enabled && !config.metrics.insecureOnMainListener) {
    try {
      metricsServer = await startMetricsServer(config.metrics.listen, metrics);
    } catch (err) {
      // Nothing stays half-started: a second instance on the same host must not keep the main port.
      limits.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      assertions?.close();
      await issuer?.close();
      await closeSessionStorage();
      await storage?.close();
      throw new Error(
        `metrics.listen ${config.metrics.listen}: cannot listen (${(err as NodeJS.ErrnoException).code ?? String(err)}); set metrics.listen to a free address`,
        { cause: err },
      );
    }
  }
  const metricsUrl = metricsServer ? baseUrl(metricsServer.address() as AddressInfo) : undefined;
  return {
    server,
    url,
    metricsUrl,
    get ctx() {
      return ctx;
    },
    reload(next: ResolvedConfig) {
      // Requests in flight finish on the context they started with; new ones use the new one.
      const old = ctx;
      if (sessionStorageChanged(old.config, next)) {
        log.warn({ event: 'sessions.changed' }, 'where sessions live changed: restart to apply it');
        next = { ...next, sessions: old.config.sessions };
      }
      const m = (c: ResolvedConfig) =>
        `${c.metrics.enabled} ${c.metrics.insecureOnMainListener} ${c.metrics.listen}`;
      if (m(next) !== m(old.config)) {
        // Which listener serves /metrics is fixed at start; the main listener's routing stays with it.
        log.warn({ event: 'metrics.changed' }, 'metrics settings changed: restart to apply them');
        next = { ...next, metrics: old.config.metrics };
      }
      ctx = buildContext(next, log, opts.now, metrics, issuer, assertions, sessionStorage);
      limits.update(server, limitsOf(next.server));
      old.authz.close();
      reloadAssertions(next, log, assertions);
      if (issuer !== undefined && next.issuer !== undefined) {
        issuer.reload(next).catch((err: unknown) => {
          log.error(
            { event: 'issuer.reload-failed', err: String(err) },
            'issuer kept its previous configuration',
          );
        });
      } else if ((issuer === undefined) !== (next.issuer === undefined)) {
        log.warn({ event: 'issuer.changed' }, 'issuer added or removed: restart to apply it');
      }
      if (next.listen !== old.config.listen) {
        log.warn({ from: old.config.listen, to: next.listen }, 'listen changed: restart to apply it');
      }
      // undici's close() lets requests in flight on the old pools finish first.
      void Promise.allSettled(old.upstreamList.map((u) => u.close()));
    },
    async close() {
      limits.close();
      server.closeIdleConnections();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        setTimeout(() => server.closeAllConnections(), 2_000).unref();
      });
      await Promise.allSettled([
        ...ctx.upstreamList.map((u) => u.close()),
        new Promise<void>((resolve) => (metricsServer ? metricsServer.close(() => resolve()) : resolve())),
      ]);
      ctx.authz.close();
      assertions?.close();
      keys?.close();
      await issuer?.close();
      await closeSessionStorage();
      await storage?.close();
    },
  };
}

async function startIssuer(
  config: ResolvedConfig,
  log: Logger,
  storage: Storage | undefined,
  keys: KeyPoller | undefined,
) {
  if (config.issuer === undefined) return undefined;
  const { Issuer } = await import('../issuer/issuer.ts');
  return Issuer.start(config, log, { ...(storage ? { storage } : {}), ...(keys ? { keys } : {}) });
}

/** A reload has the key poller look at once (SIGHUP publishes a rotated key without waiting for the poll). */
function reloadAssertions(next: ResolvedConfig, log: Logger, assertions: AssertionSigner | undefined): void {
  if (assertions === undefined) {
    if (assertionsWanted(next))
      log.warn({ event: 'assertion.changed' }, 'assertions enabled on an upstream: restart to apply it');
    return;
  }
  assertions.refresh().catch((err: unknown) => {
    log.error(
      { event: 'assertion.keys-reload-failed', err: String(err) },
      'assertion signing keys could not be reloaded; the previous ones stay in use',
    );
  });
}

function baseUrl(addr: AddressInfo): string {
  return `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;
}

/**
 * /metrics on its own address (loopback by default), as oauth2-proxy's --metrics-address: the counts of
 * sign-ins and denials are not for whoever can reach the gateway, and the main listener's /metrics
 * belongs to the upstream.
 */
async function startMetricsServer(listen: string, metrics: Metrics): Promise<http.Server> {
  const m = /^\[?(.*?)\]?:(\d+)$/.exec(listen)!;
  const server = http.createServer((req, res) => {
    if ((req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found: metrics are at /metrics\n');
      return;
    }
    metrics.registry.metrics().then(
      (body) => res.writeHead(200, { 'Content-Type': metrics.registry.contentType }).end(body),
      () => res.writeHead(500).end(),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(m[2]), m[1], () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}
