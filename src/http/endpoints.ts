/** Gateway's own endpoints besides the login flow: forward-auth, userinfo, health. */

import { PortcullisError } from '../errors/codes.ts';
import { identityHeaderValues } from '../proxy/identity.ts';
import { loadSession } from '../sessions/resolve.ts';
import type { Session } from '../sessions/session.ts';
import type { GatewayContext } from './context.ts';
import { forwardedPath, sendForbidden } from './forbidden.ts';
import { sendError, sendJson } from './respond.ts';
import type { Scope } from './scope.ts';

async function withSession(ctx: GatewayContext, s: Scope): Promise<Session | undefined> {
  const p = loadSession(ctx, s);
  if (p) await p;
  return s.session;
}

/**
 * Forward-auth for nginx auth_request, Traefik forwardAuth, Caddy forward_auth and Envoy ext_authz (HTTP):
 * 202 with X-Auth-Request-* for a valid session the access rules allow, 403 for one they deny, 401 without
 * one. Route rules apply to the original request's path when a trusted proxy sends it (forwardedPath).
 */
export async function auth(ctx: GatewayContext, s: Scope): Promise<void> {
  const session = await withSession(ctx, s);
  if (session === undefined) {
    sendError(ctx.log, s, 'PCL_UNAUTHENTICATED', { json: true });
    return;
  }
  const path = forwardedPath(s);
  if (path === null) {
    sendError(ctx.log, s, new PortcullisError('PCL_BAD_REQUEST', 'unreadable X-Forwarded-Uri'), {
      json: true,
    });
    return;
  }
  const decision = ctx.policy.decide(session, path);
  if (!decision.allow) {
    sendForbidden(ctx, s, session, decision, 'access.denied', { json: true });
    return;
  }
  const v = identityHeaderValues(session.identity);
  const headers: Record<string, string> = { 'X-Auth-Request-User': v.user };
  if (v.email !== undefined) headers['X-Auth-Request-Email'] = v.email;
  if (v.preferredUsername !== undefined) headers['X-Auth-Request-Preferred-Username'] = v.preferredUsername;
  if (v.groups !== undefined) headers['X-Auth-Request-Groups'] = v.groups;
  s.res.statusCode = 202;
  for (const k in headers) s.res.setHeader(k, headers[k]!);
  s.res.setHeader('Cache-Control', 'no-store');
  if (s.setCookies.length > 0) s.res.setHeader('Set-Cookie', s.setCookies);
  s.res.end();
}

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

/** Ready when every provider's discovery document has been fetched (it is then cached). */
export async function ready(ctx: GatewayContext, s: Scope): Promise<void> {
  const results = await Promise.allSettled([...ctx.providers.values()].map((p) => p.ready()));
  const failing = [...ctx.providers.keys()].filter((_, i) => results[i]!.status === 'rejected');
  sendJson(s, failing.length === 0 ? 200 : 503, { ready: failing.length === 0, failingProviders: failing });
}

/** Prometheus exposition of the gateway's metrics. */
export async function metricsEndpoint(ctx: GatewayContext, s: Scope): Promise<void> {
  const body = await ctx.metrics.registry.metrics();
  s.res.writeHead(200, { 'Content-Type': ctx.metrics.registry.contentType, 'Cache-Control': 'no-store' });
  s.res.end(body);
}
