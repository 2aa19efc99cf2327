/**
 * Answering a denial: 403 `PCL_FORBIDDEN` with what is missing in words (page or JSON), and an audit line
 * carrying the provider, the user and every reason code under the request id.
 */
import { PortcullisError } from '../errors/codes.ts';
import type { Decision } from '../policy/decision.ts';
import { normalisePath } from '../policy/routes.ts';
import type { Session } from '../sessions/session.ts';
import type { GatewayContext } from './context.ts';
import { type ErrorOptions, sendError } from './respond.ts';
import { type Scope, splitTarget } from './scope.ts';

export type DenialEvent = 'access.denied' | 'sign-in.denied';

export function sendForbidden(
  ctx: GatewayContext,
  s: Scope,
  session: Session,
  d: Decision,
  event: DenialEvent,
  o: Pick<ErrorOptions, 'json' | 'retryHref'> = {},
): void {
  sendError(ctx.log, s, new PortcullisError('PCL_FORBIDDEN', `${event}: ${d.reasons.join(', ')}`), {
    ...o,
    explanations: d.explanations,
    log: {
      event,
      provider: session.provider,
      sub: session.identity.sub,
      email: session.identity.email,
      reasons: d.reasons,
    },
  });
}

/**
 * For forward-auth (/oauth2/auth): the path of the original request, from X-Forwarded-Uri (Traefik, Caddy)
 * or X-Original-URI (nginx, when configured), believed only from a trusted proxy. `null`: the header is
 * there but cannot be read (the caller answers 400); undefined: none given.
 */
export function forwardedPath(s: Scope): string | null | undefined {
  if (!s.trustedPeer) return undefined;
  const h = s.req.headers['x-forwarded-uri'] ?? s.req.headers['x-original-uri'];
  if (h === undefined) return undefined;
  const value = Array.isArray(h) ? h[0] : h;
  const target = value === undefined ? undefined : splitTarget(value);
  const path = target === undefined ? undefined : normalisePath(target.path);
  return path ?? null;
}
