/**
 * The forward step's work (src/http/gateway.ts): the headers to the upstream — the client's, cleaned
 * (src/proxy/headers.ts), and the identity, the signed assertion and Authorization — then the request, or the
 * tunnel of an upgrade.
 */
import type { Socket } from 'node:net';
import { ASSERTION_HEADER } from '../proxy/assertion.ts';
import type { Upstream } from '../proxy/forward.ts';
import { upstreamHeaders } from '../proxy/headers.ts';
import { identityHeaders } from '../proxy/identity.ts';
import { tunnel } from '../proxy/upgrade.ts';
import type { Session } from '../sessions/session.ts';
import type { GatewayContext } from './context.ts';
import { sendError } from './respond.ts';
import type { Scope, Upgrade } from './scope.ts';

const identityCache = new WeakMap<Session, string[]>();

/** The forward step's second half: the request to the upstream (or the tunnel), once the headers are known. */
export function sendUpstream(
  ctx: GatewayContext,
  s: Scope,
  upstream: Upstream,
  extra: readonly string[] | undefined,
): Promise<boolean> {
  const headers = upstreamHeaders(
    s.req.rawHeaders,
    s.fwd,
    s.req.socket.remoteAddress ?? '',
    s.trustedPeer,
    upstream.headerOptions,
    extra,
  );
  if (s.upgrade !== undefined) return tunnelTo(ctx, s, s.upgrade, upstream, headers).then(() => true);
  const t0 = performance.now();
  return upstream.forward(s.req, s.res, s.rawPath + s.query, headers, s.setCookies).then((result) => {
    ctx.metrics.upstream(upstream.config.name, (performance.now() - t0) / 1000);
    if (result.error) {
      ctx.metrics.upstreamError(upstream.config.name, result.error.code);
      sendError(ctx.log, s, result.error, { userDetail: `upstream: ${upstream.config.name}` });
    }
    return true;
  });
}

/**
 * Identity headers, the signed assertion and Authorization, from a session or a bearer token's principal
 * alike; synchronous unless an assertion is (re-)signed.
 */
export function extraHeaders(
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
