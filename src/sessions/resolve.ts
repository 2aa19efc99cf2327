/**
 * The session step: read the session from the request and, when its access token has expired and a
 * refresh token is at hand, refresh it transparently. A failed refresh ends the session.
 */
import type { GatewayContext } from '../http/context.ts';
import type { Scope } from '../http/scope.ts';
import { describe } from '../idp/oidc.ts';
import { needsRefresh, type Session } from './session.ts';

export async function refreshSession(
  ctx: GatewayContext,
  s: Scope,
  session: Session,
): Promise<Session | undefined> {
  const provider = ctx.providers.get(session.provider);
  if (provider === undefined) return undefined;
  // A provider that cannot refresh never issued a refresh token; nothing to do.
  if (provider.refresh === undefined) return session;
  try {
    const t = await provider.refresh(session.refreshToken!, session.identity);
    const next: Session = {
      ...session,
      identity: t.identity ?? session.identity,
      accessToken: t.accessToken ?? session.accessToken,
      accessTokenExpiresAt: t.accessTokenExpiresAt,
      refreshToken: t.refreshToken,
      idToken: ctx.keepIdToken ? (t.idToken ?? session.idToken) : undefined,
    };
    s.setCookies.push(...ctx.sessions.write(next, s.cookies, ctx.now()));
    ctx.metrics.refresh(provider.id, 'success');
    ctx.log.debug(
      { requestId: s.id, event: 'session.refresh', provider: provider.id, sub: session.identity.sub },
      'refreshed',
    );
    return next;
  } catch (err) {
    ctx.metrics.refresh(provider.id, 'failure');
    ctx.log.warn(
      {
        requestId: s.id,
        event: 'session.refresh-failed',
        provider: provider.id,
        sub: session.identity.sub,
        reason: describe(err),
      },
      'refresh failed; the session ends',
    );
    s.setCookies.push(...ctx.sessions.clear(s.cookies));
    return undefined;
  }
}

/** Sets `s.session` (or leaves it undefined). Synchronous unless a refresh is needed. */
export function loadSession(ctx: GatewayContext, s: Scope): void | Promise<void> {
  const now = ctx.now();
  const session = ctx.sessions.read(s.cookies, now);
  if (session === undefined) return;
  if (!needsRefresh(session, now)) {
    s.session = session;
    return;
  }
  return refreshSession(ctx, s, session).then((next) => {
    s.session = next;
  });
}
