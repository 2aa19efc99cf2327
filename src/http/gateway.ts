/**
 * The gateway: one request pipeline, read as a table of named steps over a typed scope —
 * trust boundary → own endpoints → route → session (+ refresh) → decide → forward.
 */
import type http from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { PortcullisError } from '../errors/codes.ts';
import { routeClass } from '../observability/metrics.ts';
import type { GatewayContext } from './context.ts';
import { cors } from './cors.ts';
import { AUTH_PATH, auth, authPrefixed, metricsEndpoint, ping, ready, userinfo } from './endpoints.ts';
import { authorizeScope, sendForbidden } from './forbidden.ts';
import { jwks } from './jwks.ts';
import { callback, sendToSignIn, signIn, start } from './login.ts';
import { sendError } from './respond.ts';
import { Scope, type Upgrade } from './scope.ts';
import { services } from './services.ts';
import { bearerToken, loadBearer, loadOptionalSession, loadSession } from './session.ts';
import { signedOut, signOut } from './sign-out.ts';
import { ownPath, readTarget, reservedPath, targetError } from './target.ts';
import { resolveForwarded } from './trust.ts';
import { extraHeaders, sendUpstream } from './upstream.ts';

// node:http through getBuiltinModule, not an ES import: an ES import of a built-in reads all its exports,
// and node:http's WebSocket getter loads Node's bundled undici (fetch; 745 KB of source) into every idle
// process, ~2 MB of RSS (bench/results/2026-12-05-memory.md, stop 10; test/cli/serve-modules.test.ts).
const nodeHttp = process.getBuiltinModule('node:http');

type Handler = (ctx: GatewayContext, s: Scope) => void | Promise<void>;

/** The operator console's path (under basePath), answered by ctx.console when it is enabled. */
const CONSOLE = '/oauth2/admin';

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

/**
 * The own endpoint answering `path`, if any: the optional ones fall through to the upstream when off. The
 * table's paths are below publicUrl's path (`config.basePath`), so only a path under it can match.
 */
function ownEndpoint(ctx: GatewayContext, path: string) {
  const own = ownPath(ctx.config.basePath, path);
  const endpoint = own === undefined ? undefined : ENDPOINTS.get(own);
  if (endpoint === undefined) return undefined;
  // /metrics is the metrics listener's; on the main listener only by explicit opt-in (else the upstream's).
  if (endpoint.handler === metricsEndpoint && !ctx.metricsOnMain) return undefined;
  // The services page lists issuer clients: without an issuer the path is the upstream's.
  if (endpoint.handler === services && ctx.issuer === undefined) return undefined;
  return endpoint;
}

/** A step answers the request (returns true) or passes it on (false). */
type Step = (ctx: GatewayContext, s: Scope) => boolean | Promise<boolean>;

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
      const base = ctx.config.basePath;
      // /oidc and everything under it is the issuer's when one is configured: answered here, before the
      // route and session steps, so no upstream shadows it and 'decide' never redirects it.
      if (s.upgrade !== undefined) {
        // An upgrade to the issuer's paths or Portcullis's own endpoints never tunnels to an upstream.
        if (!reservedPath(s.path, base) && ownEndpoint(ctx, s.path) === undefined) return false;
        sendError(ctx.log, s, new PortcullisError('PCL_NO_UPSTREAM', `no upgrade at ${s.path}`));
        return true;
      }
      const own = ownPath(base, s.path);
      if (ctx.issuer !== undefined && own !== undefined && (own === '/oidc' || own.startsWith('/oidc/'))) {
        return ctx.issuer.handle(ctx, s).then(() => true);
      }
      // The operator console (src/console/), when admin.enabled: its own sign-in, rule and CSRF checks.
      if (
        ctx.console !== undefined &&
        own !== undefined &&
        (own === CONSOLE || own.startsWith(`${CONSOLE}/`))
      ) {
        return ctx.console.handle(ctx, s).then(() => true);
      }
      const endpoint = ownEndpoint(ctx, s.path);
      if (endpoint === undefined) {
        // Envoy's ext_authz (path_prefix: <base>/oauth2/auth) asks about the original path below the endpoint.
        if (own?.startsWith(`${AUTH_PATH}/`)) {
          const r = authPrefixed(ctx, s);
          return r instanceof Promise ? r.then(() => true) : true;
        }
        // Nothing under <base>/oauth2/ or <base>/oidc/ is ever proxied, configured or not (the path decided
        // is the path served: no upstream may answer for what the gate's own endpoints would).
        if (!reservedPath(s.path, base)) return false;
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
  ['cors', cors],
  [
    'session',
    (ctx, s) => {
      if (s.route?.public) {
        const r = loadOptionalSession(ctx, s);
        return r instanceof Promise ? r.then(() => false) : false;
      }
      // On a bearer route a token, when sent, is the credential: the cookie is not read (RFC 6750 §2: one method).
      const token = s.route?.bearer ? bearerToken(s) : undefined;
      if (token !== undefined) return loadBearer(ctx, s, token);
      const r = loadSession(ctx, s);
      return r instanceof Promise ? r.then(() => false) : false;
    },
  ],
  [
    'decide',
    (ctx, s) => {
      if (s.route?.public) return false;
      if (s.bearer !== undefined) {
        const outcome = authorizeScope(ctx, s, 'bearer', s.bearer, [s.path]);
        if (outcome.kind === 'allowed') return false;
        // A token's refusal is RFC 6750's insufficient_scope (sendForbidden knows the request carried one).
        if (outcome.kind === 'denied') sendForbidden(ctx, s, outcome.decision);
        return true;
      }
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
        // RFC 6750 §3: a resource that takes bearer tokens says so on a request that sent none.
        sendError(ctx.log, s, 'PCL_UNAUTHENTICATED', {
          json: true,
          ...(s.route?.bearer ? { extraHeaders: { 'WWW-Authenticate': 'Bearer' } } : {}),
        });
        return true;
      }
      // With autoLogin and one provider, straight to the IdP (login.ts); else to the sign-in page.
      const r = sendToSignIn(ctx, s, s.rawPath + s.query);
      return r instanceof Promise ? r.then(() => true) : true;
    },
  ],
  [
    'forward',
    (ctx, s) => {
      const upstream = ctx.upstreams.match(s.path);
      if (upstream === undefined) {
        sendError(ctx.log, s, new PortcullisError('PCL_NO_UPSTREAM', `no upstream serves ${s.path}`));
        return true;
      }
      const who = s.session ?? s.bearer;
      const extra = who ? extraHeaders(ctx, upstream, who) : undefined;
      if (extra instanceof Promise) return extra.then((e) => sendUpstream(ctx, s, upstream, e));
      return sendUpstream(ctx, s, upstream, extra);
    },
  ],
];

function hostCount(raw: readonly string[]): number {
  let n = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 4 && (name === 'Host' || name === 'host' || name.toLowerCase() === 'host')) n++;
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
  // The connection's own scheme (server.tls: a TLS socket), for X-Forwarded-Proto to the upstream when no
  // trusted proxy says otherwise; cookies and redirects follow publicUrl either way.
  const localProto = (req.socket as { encrypted?: boolean }).encrypted === true ? 'https' : 'http';
  const fwd = resolveForwarded(req.headers, peer, localProto, ctx.trusted);
  const s = new Scope(req, res, target.rawPath, target.query, target.path, fwd);
  s.upgrade = upgrade;
  s.trustedPeer = ctx.trusted.any && ctx.trusted.isTrusted(peer);
  s.cookiePrefix = ctx.sessions.names.session;
  const other =
    target.readings.length === 0
      ? undefined
      : target.readings.find((r) => !sameDestination(ctx, target.path, r));
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
  const base = ctx.config.basePath;
  const endpointOf = (p: string) => {
    const own = ownPath(base, p);
    const known = own !== undefined && ENDPOINTS.has(own);
    return reservedPath(p, base) ? (known ? p : '/oauth2 or /oidc') : known ? p : '';
  };
  return (
    endpointOf(a) === endpointOf(b) &&
    ctx.routes.match(a) === ctx.routes.match(b) &&
    ctx.upstreams.match(a) === ctx.upstreams.match(b)
  );
}

/**
 * Runs the pipeline from step `i`: synchronously while the steps answer synchronously (a forward-auth answer
 * from a remembered cookie session does, end to end), then on the first step's promise. No promise, async
 * frame or microtask per request is made where nothing waits.
 */
function run(ctx: GatewayContext, s: Scope, i: number): void | Promise<void> {
  for (; i < PIPELINE.length; i++) {
    const r = PIPELINE[i]![1](ctx, s);
    if (r instanceof Promise) {
      const next = i + 1;
      return r.then((answered) => (answered ? undefined : run(ctx, s, next)));
    }
    if (r) return;
  }
}

function counted(ctx: GatewayContext, s: Scope): void {
  ctx.metrics.request(routeClass(ownPath(ctx.config.basePath, s.path) ?? '/'), s.res.statusCode);
}

/** Coded failures (a session store that is down: 503) keep their code; anything else is a 500. */
function failed(ctx: GatewayContext, s: Scope, err: unknown): void {
  sendError(
    ctx.log,
    s,
    err instanceof PortcullisError
      ? err
      : new PortcullisError('PCL_INTERNAL', err instanceof Error ? (err.stack ?? err.message) : String(err)),
  );
  counted(ctx, s);
}

/** One request through the pipeline; a promise only when some step had to wait. Never rejects. */
export function handle(
  ctx: GatewayContext,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  upgrade?: Upgrade,
): void | Promise<void> {
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
    const r = run(ctx, s, 0);
    if (r instanceof Promise) {
      return r.then(
        () => counted(ctx, s),
        (err: unknown) => failed(ctx, s, err),
      );
    }
    counted(ctx, s);
  } catch (err) {
    failed(ctx, s, err);
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
  const res = new nodeHttp.ServerResponse(req);
  res.shouldKeepAlive = false;
  res.assignSocket(socket as Socket);
  res.on('finish', () => {
    res.detachSocket(socket as Socket);
    socket.end();
  });
  await handle(ctx, req, res, { socket, head });
}
