/** Gateway's own endpoints besides the login flow: forward-auth, userinfo, health. */

import { PortcullisError } from '../errors/codes.ts';
import { headerValue, identityHeaderValues } from '../proxy/identity.ts';
import type { Session } from '../sessions/session.ts';
import type { GatewayContext } from './context.ts';
import { authorizeScope, forwardAuthPaths, type NamedPaths, sendForbidden } from './forbidden.ts';
import { sendError, sendJson } from './respond.ts';
import type { Scope } from './scope.ts';
import { bearerToken, loadBearer, loadSession } from './session.ts';
import { readTarget, targetError } from './target.ts';

async function withSession(ctx: GatewayContext, s: Scope): Promise<Session | undefined> {
  const p = loadSession(ctx, s);
  if (p) await p;
  return s.session;
}

/**
 * The bearer sources every named path's route accepts (routes[].bearer: true or ids), or undefined when a
 * path's route takes no tokens, or no path is named: the proxy must name the original request for its
 * route to decide. A path whose route accepts other ids than another's narrows the set to both.
 */
function bearerRoutes(ctx: GatewayContext, paths: readonly string[]): true | readonly string[] | undefined {
  let accepted: true | readonly string[] | undefined;
  for (let i = 0; i < paths.length; i++) {
    const b = ctx.routes.match(paths[i]!)?.bearer;
    if (b === undefined || b === false) return undefined;
    accepted =
      accepted === undefined || accepted === true
        ? b
        : b === true
          ? accepted
          : accepted.filter((id) => b.includes(id));
  }
  return accepted;
}

/** The forward-auth endpoint; `/oauth2/auth/<original path>` is the same for Envoy (authPrefixed). */
export const AUTH_PATH = '/oauth2/auth';

/**
 * Forward-auth for nginx auth_request, Traefik forwardAuth, Caddy forward_auth: 202 with X-Auth-Request-*
 * for a valid session the access rules allow, 403 for one they deny (the page for a browser navigation,
 * else JSON), 401 JSON without one. On routes that take bearer tokens, `Authorization: Bearer` is decided
 * instead of the cookie: 401 `invalid_token` or 403 `insufficient_scope` (RFC 6750 §3.1). Route rules apply to
 * the paths the request names for the original request (forwardAuthPaths), all of which must be allowed.
 */
export function auth(ctx: GatewayContext, s: Scope): void | Promise<void> {
  return forwardAuth(ctx, s, 202, undefined);
}

/**
 * `/oauth2/auth/<original path>`: Envoy's HTTP ext_authz with `path_prefix: /oauth2/auth` sends the checked
 * request's method and path appended to the prefix. Envoy lets a request through only on 200 (any other
 * status is a denial, returned to the client as it is), so this form answers 200 where /oauth2/auth says 202.
 */
export function authPrefixed(ctx: GatewayContext, s: Scope): void | Promise<void> {
  // The original path is what follows the prefix in the raw path, read on its own (dot segments were
  // refused with the whole target already); the prefix must be there as written, not through `//` or `%2F`.
  const prefix = ctx.config.basePath + AUTH_PATH;
  const raw = s.rawPath.startsWith(`${prefix}/`) ? readTarget(s.rawPath.slice(prefix.length)) : undefined;
  if (raw === undefined || typeof raw === 'string') {
    sendError(ctx.log, s, new PortcullisError('PCL_AMBIGUOUS_PATH', 'ambiguous path after /oauth2/auth'), {
      json: true,
    });
    return;
  }
  return forwardAuth(ctx, s, 200, [raw.path, ...raw.readings]);
}

/**
 * Reads the credential, then answers (decide). Synchronous unless something must wait: a bearer token's
 * verification, a server-side session's read or a refresh; a cookie session answers in the same turn.
 */
function forwardAuth(
  ctx: GatewayContext,
  s: Scope,
  ok: 200 | 202,
  envoyPaths: readonly string[] | undefined,
): void | Promise<void> {
  const named = forwardAuthPaths(s, envoyPaths);
  // A token is the credential where every route the request names takes bearer tokens, as on the proxied
  // path (gateway.ts): the cookie is then not read (RFC 6750 §2: one method). Elsewhere the header is the app's.
  const token = bearerToken(s);
  const accepted = 'bad' in named ? undefined : bearerRoutes(ctx, named.paths);
  if (token !== undefined && accepted !== undefined) {
    return loadBearer(ctx, s, token, accepted).then((answered) => {
      if (!answered) decide(ctx, s, ok, named, accepted, s.bearer);
    });
  }
  const loaded = loadSession(ctx, s);
  if (loaded instanceof Promise) return loaded.then(() => decide(ctx, s, ok, named, accepted, s.session));
  decide(ctx, s, ok, named, accepted, s.session);
}

function decide(
  ctx: GatewayContext,
  s: Scope,
  ok: 200 | 202,
  named: NamedPaths,
  accepted: true | readonly string[] | undefined,
  session: Session | undefined,
): void {
  if (session === undefined) {
    // RFC 6750 §3: a resource that takes bearer tokens says so on a request that sent none.
    const extraHeaders = accepted !== undefined ? { 'WWW-Authenticate': 'Bearer' } : undefined;
    sendError(ctx.log, s, 'PCL_UNAUTHENTICATED', { json: true, ...(extraHeaders ? { extraHeaders } : {}) });
    return;
  }
  if ('bad' in named) {
    const e = named.why ? targetError(named.why) : new PortcullisError('PCL_BAD_REQUEST', 'repeated');
    sendError(ctx.log, s, new PortcullisError(e.code, `${named.bad}: ${e.detail}`), { json: true });
    return;
  }
  // Route rules need the original path: a proxy that does not name it would have them silently skipped.
  if (named.paths.length === 0 && ctx.pathMatters) {
    sendError(
      ctx.log,
      s,
      new PortcullisError(
        'PCL_FORWARD_AUTH_NO_PATH',
        'routes have rules but the forward-auth request names no path: nginx needs `proxy_set_header X-Original-URI $request_uri;` in the auth location; Traefik and Caddy send X-Forwarded-Uri',
      ),
      { json: true },
    );
    return;
  }
  const outcome = authorizeScope(
    ctx,
    s,
    'forward-auth',
    session,
    named.paths,
    s.bearer !== undefined
      ? { forwardedPaths: named.paths, credential: 'bearer' }
      : { forwardedPaths: named.paths },
  );
  if (outcome.kind === 'denied') {
    // Traefik and Envoy hand this answer to the browser as it is: a navigation gets the explained page (a
    // bearer token's refusal is RFC 6750's insufficient_scope instead: sendForbidden sees the token).
    sendForbidden(ctx, s, outcome.decision);
    return;
  }
  s.res.writeHead(ok, allowHeaders(ctx, s, session));
  s.res.end();
}

/**
 * The headers of an allow answer as one flat [name, value, …] list: writeHead takes it as it is, with no
 * header object to build and no setHeader per name (the answer has no body, so this is all it costs). The
 * X-Auth-Request-* values are computed once per session object (the cookie store's decrypt cache hands the
 * same object to every request with that cookie), as the proxy path does for its identity headers.
 */
function allowHeaders(ctx: GatewayContext, s: Scope, session: Session): string[] {
  const cc = cacheControl(ctx, s, session);
  // The usual answer (no-store, no cookie to set) is the same list every time for one session object.
  if (cc === NO_STORE && s.setCookies.length === 0) return noStoreAnswerOf(session);
  // Content-Length: 0 said outright: writeHead stores the header block at once, so end() can no longer add
  // it, and a chunked empty body makes nginx close the keep-alive connection after an auth_request
  // sub-request (it reads only the header; the connection then has an unread body and cannot be reused).
  const out = [...authHeadersOf(session), 'Cache-Control', cc, 'Content-Length', '0'];
  if (s.setCookies.length > 0) out.push('Set-Cookie', ...s.setCookies);
  // The decision depends on the session in the cookie: a cache keyed without it must not share one user's
  // 202 with another (RFC 9111 §4.1). The shipped nginx key holds the whole Cookie header anyway.
  else if (cc !== NO_STORE) out.push('Vary', 'Cookie');
  return out;
}

const NO_STORE = 'no-store';

const authHeaderCache = new WeakMap<Session, readonly string[]>();
const noStoreCache = new WeakMap<Session, string[]>();

/** X-Auth-Request-*, Cache-Control: no-store and Content-Length: 0; never changed by writeHead. */
function noStoreAnswerOf(session: Session): string[] {
  let h = noStoreCache.get(session);
  if (h === undefined) {
    h = [...authHeadersOf(session), 'Cache-Control', NO_STORE, 'Content-Length', '0'];
    noStoreCache.set(session, h);
  }
  return h;
}

function authHeadersOf(session: Session): readonly string[] {
  let h = authHeaderCache.get(session);
  if (h !== undefined) return h;
  const v = identityHeaderValues(session.identity);
  const out = ['X-Auth-Request-User', v.user, 'X-Auth-Request-Provider', headerValue(session.provider)];
  if (v.email !== undefined) out.push('X-Auth-Request-Email', v.email);
  if (v.preferredUsername !== undefined) out.push('X-Auth-Request-Preferred-Username', v.preferredUsername);
  if (v.groups !== undefined) out.push('X-Auth-Request-Groups', v.groups);
  h = out;
  authHeaderCache.set(session, h);
  return h;
}

/**
 * `forwardAuth.cacheSeconds` (default 0: no-store, every request asks). When set, an allow answer may be
 * cached by the proxy for that long, but never past the moment Portcullis would decide differently on its
 * own: the session's absolute expiry, and the point where its access token is refreshed (a refresh can end
 * the session or change its groups; src/http/session.ts refreshes 30 s before expiry). An answer that sets
 * a cookie (a refresh happened) is never cacheable: the cookie belongs to this browser alone.
 * `max-age` rather than `private`: the cache is the proxy's, a shared one (RFC 9111 §5.2.2.7), which nginx
 * skips on `private`; safety comes from the key (cookie + path), see docs/integrations/nginx.md.
 */
function cacheControl(ctx: GatewayContext, s: Scope, session: Session): string {
  const max = ctx.config.forwardAuth?.cacheSeconds ?? 0;
  if (max === 0 || s.setCookies.length > 0) return NO_STORE;
  const now = ctx.now();
  let until = Math.min(now + max, session.expiresAt);
  if (session.refreshToken !== undefined && session.accessTokenExpiresAt !== undefined)
    until = Math.min(until, session.accessTokenExpiresAt - REFRESH_SKEW_SECONDS);
  const age = until - now;
  return age >= 1 ? `max-age=${age}` : NO_STORE;
}

/** needsRefresh's default skew (src/sessions/session.ts). */
const REFRESH_SKEW_SECONDS = 30;

export async function userinfo(ctx: GatewayContext, s: Scope): Promise<void> {
  const session = await withSession(ctx, s);
  if (session === undefined) {
    sendError(ctx.log, s, 'PCL_UNAUTHENTICATED', { json: true });
    return;
  }
  const i = session.identity;
  sendJson(s, 200, {
    user: i.sub,
    email: i.email,
    emailVerified: i.emailVerified,
    preferredUsername: i.preferredUsername,
    name: i.name,
    groups: i.groups,
    provider: session.provider,
  });
}

export function ping(_ctx: GatewayContext, s: Scope): void {
  s.res.writeHead(200, { 'Content-Type': 'text/plain', 'Cache-Control': 'no-store' });
  s.res.end('OK');
}

/**
 * Ready when every provider's discovery document has been fetched (it is then cached) and the session
 * store answers (a server-side store: one lookup; the cookie store always does). `sessionStore` is present
 * only for a server-side store, so the cookie-store answer stays what it always was.
 */
export async function ready(ctx: GatewayContext, s: Scope): Promise<void> {
  // Shutting down: not ready, whatever the dependencies say, so the load balancer stops sending here
  // while requests in flight finish (server.shutdownDelay, docs/endpoints.md#graceful-shutdown).
  if (ctx.lifecycle?.draining) {
    sendJson(s, 503, { ready: false, draining: true });
    return;
  }
  const [store, ...results] = await Promise.allSettled([
    ctx.sessions.ping(),
    ...[...ctx.providers.values()].map((p) => p.ready()),
  ]);
  const failing = [...ctx.providers.keys()].filter((_, i) => results[i]!.status === 'rejected');
  const storeOk = store!.status === 'fulfilled';
  const ok = failing.length === 0 && storeOk;
  sendJson(s, ok ? 200 : 503, {
    ready: ok,
    failingProviders: failing,
    ...(ctx.sessions.type === 'cookie' ? {} : { sessionStore: storeOk ? 'ok' : 'unavailable' }),
  });
}

/** Prometheus exposition of the gateway's metrics. */
export async function metricsEndpoint(ctx: GatewayContext, s: Scope): Promise<void> {
  const body = await ctx.metrics.registry.metrics();
  s.res.writeHead(200, { 'Content-Type': ctx.metrics.registry.contentType, 'Cache-Control': 'no-store' });
  s.res.end(body);
}
