/**
 * The gateway: one request pipeline, read as a table of named steps over a typed scope —
 * trust boundary → own endpoints → route → session (+ refresh) → decide → forward.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { ResolvedConfig } from '../config/load.ts';
import { PortcullisError } from '../errors/codes.ts';
import { createProvider } from '../idp/registry.ts';
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
import { refuseUpgrade, tunnel } from '../proxy/upgrade.ts';
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
import { redirect, sendError } from './respond.ts';
import { Scope } from './scope.ts';
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
  // /metrics on the main listener only when it is not moved to its own address (or off).
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
        const outcome = authorizeScope(ctx, s, 'request', s.session, [s.path]);
        if (outcome.kind === 'allowed') return false;
        if (outcome.kind === 'denied') sendForbidden(ctx, s, outcome.decision);
        return true;
      }
      // A CORS preflight carries no credentials: it goes through, without identity, so CORS keeps working.
      if (isPreflight(s)) return false;
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
    metricsOnMain: config.metrics.enabled && config.metrics.listen === undefined,
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
): Scope | PortcullisError {
  // RFC 9112 §3.2: a request with more than one Host header is answered with 400.
  if (hostCount(req.rawHeaders) > 1) return new PortcullisError('PCL_BAD_REQUEST', 'duplicate Host header');
  const target = readTarget(req.url ?? '/');
  if (typeof target === 'string') return targetError(target);
  const peer = req.socket.remoteAddress ?? '';
  const fwd = resolveForwarded(req.headers, peer, 'http', ctx.trusted);
  const s = new Scope(req, res, target.rawPath, target.query, target.path, fwd);
  s.trustedPeer = ctx.trusted.any && ctx.trusted.isTrusted(peer);
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
): Promise<void> {
  const s = newScope(ctx, req, res);
  if (s instanceof PortcullisError) {
    const bad = new Scope(req, res, '/', '', '/', {
      clientIp: req.socket.remoteAddress ?? '',
      proto: 'http',
      host: '',
    });
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

/** WebSocket and other upgrades: the same session and route rules, but never a redirect. */
export async function handleUpgrade(
  ctx: GatewayContext,
  req: http.IncomingMessage,
  socket: Duplex,
  head: Buffer,
): Promise<void> {
  socket.on('error', () => socket.destroy());
  const res = new http.ServerResponse(req);
  const s = newScope(ctx, req, res);
  if (s instanceof PortcullisError) {
    const requestId = randomUUID();
    ctx.log.warn(
      { requestId, code: s.code, status: s.status, detail: s.detail, upgrade: true },
      'upgrade refused',
    );
    refuseUpgrade(socket, 400, 'Bad Request', JSON.stringify({ error: s.code, requestId }));
    return;
  }
  // The issuer's paths and Portcullis's own endpoints never tunnel to an upstream.
  if (reservedPath(s.path) || ownEndpoint(ctx, s.path) !== undefined) {
    refuseUpgrade(socket, 404, 'Not Found', JSON.stringify({ error: 'PCL_NO_UPSTREAM', requestId: s.id }));
    return;
  }
  s.route = ctx.routes.match(s.path);
  if (!s.route?.public) {
    try {
      const r = loadSession(ctx, s);
      if (r) await r;
    } catch (err) {
      const e = err instanceof PortcullisError ? err : new PortcullisError('PCL_INTERNAL', String(err));
      ctx.log.error(
        { requestId: s.id, code: e.code, status: e.status, path: s.path, detail: e.detail, upgrade: true },
        'upgrade refused: the session could not be read',
      );
      refuseUpgrade(
        socket,
        e.status,
        e.status === 503 ? 'Service Unavailable' : 'Internal Server Error',
        JSON.stringify({ error: e.code, requestId: s.id }),
      );
      return;
    }
    if (s.session === undefined) {
      refuseUpgrade(
        socket,
        401,
        'Unauthorized',
        JSON.stringify({ error: 'PCL_UNAUTHENTICATED', requestId: s.id }),
      );
      return;
    }
    const outcome = authorizeScope(ctx, s, 'upgrade', s.session, [s.path]);
    if (outcome.kind === 'denied') {
      const decision = outcome.decision;
      refuseUpgrade(
        socket,
        403,
        'Forbidden',
        JSON.stringify({
          error: 'PCL_FORBIDDEN',
          reasons: decision.reasons,
          explanations: decision.explanations,
          requestId: s.id,
        }),
      );
      return;
    }
  }
  const upstream = ctx.upstreams.match(s.path);
  if (upstream === undefined) {
    refuseUpgrade(socket, 404, 'Not Found', JSON.stringify({ error: 'PCL_NO_UPSTREAM', requestId: s.id }));
    return;
  }
  const extra = s.session ? extraHeaders(ctx, upstream, s.session) : undefined;
  const headers = upstreamHeaders(
    req.rawHeaders,
    s.fwd,
    req.socket.remoteAddress ?? '',
    s.trustedPeer,
    upstream.headerOptions,
    extra instanceof Promise ? await extra : extra,
  );
  const outcome = await tunnel(
    {
      origin: upstream.origin,
      path: upstream.origin.pathname.replace(/\/$/, '') + s.rawPath + s.query,
      timeoutMs: upstream.config.timeout * 1000,
    },
    req.method ?? 'GET',
    headers,
    req.headers.upgrade ?? 'websocket',
    socket,
    head,
  );
  if (outcome === 'failed')
    ctx.log.warn({ requestId: s.id, upstream: upstream.config.name }, 'upgrade refused or failed');
}

export interface RunningGateway {
  readonly server: http.Server;
  readonly url: string;
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
  let sessionStorage: Storage | undefined;
  // Closes the session store's own connection (store redis); a shared storage is closed as `storage`.
  const closeSessionStorage = async () => {
    if (sessionStorage !== storage) await sessionStorage?.close();
  };
  try {
    sessionStorage = await openSessionStorage(config, log, storage);
    issuer = await startIssuer(config, log, storage);
    // Signing keys only where something signs: the issuer, or an upstream that is sent assertions.
    assertions =
      storage && (issuer !== undefined || assertionsWanted(config))
        ? await AssertionSigner.start(storage, config.cookieKeys, log, { follower: issuer })
        : undefined;
  } catch (err) {
    await issuer?.close();
    await closeSessionStorage();
    await storage?.close();
    throw err;
  }
  let ctx = buildContext(config, log, opts.now, metrics, issuer, assertions, sessionStorage);
  const server = http.createServer(
    // Sessions may span up to 10 cookie chunks of 3.8 KB: headers must fit them (Node's default is 16 KiB).
    { keepAliveTimeout: 65_000, requestTimeout: 0, headersTimeout: 60_000, maxHeaderSize: 64 * 1024 },
    (req, res) => {
      void handle(ctx, req, res);
    },
  );
  server.on('upgrade', (req, socket, head) => {
    handleUpgrade(ctx, req, socket, head).catch((err: unknown) => {
      log.error({ err: String(err) }, 'upgrade failed');
      socket.destroy();
    });
  });
  server.on('clientError', (_err, socket) => {
    if (socket.writable)
      socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  });
  const host = opts.host ?? config.host;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? config.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch(async (err: unknown) => {
    ctx.authz.close();
    assertions?.close();
    await issuer?.close();
    await closeSessionStorage();
    await storage?.close();
    throw err;
  });
  const addr = server.address() as AddressInfo;
  const url = `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;
  const metricsServer =
    config.metrics.enabled && config.metrics.listen
      ? await startMetricsServer(config.metrics.listen, metrics)
      : undefined;
  return {
    server,
    url,
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
      ctx = buildContext(next, log, opts.now, metrics, issuer, assertions, sessionStorage);
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
      await issuer?.close();
      await closeSessionStorage();
      await storage?.close();
    },
  };
}

async function startIssuer(config: ResolvedConfig, log: Logger, storage: Storage | undefined) {
  if (config.issuer === undefined) return undefined;
  const { Issuer } = await import('../issuer/issuer.ts');
  return Issuer.start(config, log, storage ? { storage } : {});
}

/** A reload re-reads the signing keys too (as `portcullis keys rotate` asks: SIGHUP applies it at once). */
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

/** /metrics on its own address, so the main listener's /metrics can belong to the upstream. */
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
    server.listen(Number(m[2]), m[1], () => resolve());
  });
  return server;
}
