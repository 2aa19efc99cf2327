/**
 * The session step: read the session from the request and, when its access token has expired and a
 * refresh token is at hand, refresh it transparently. A failed refresh ends the session. A session store
 * that cannot be reached is neither "signed in" nor "signed out": its PCL_SESSION_STORE_UNAVAILABLE
 * error propagates, and the request answers 503.
 */

import { describe } from '../idp/oidc.ts';
import { isStoreUnavailable } from '../sessions/server-store.ts';
import { needsRefresh, type Session } from '../sessions/session.ts';
import type { GatewayContext } from './context.ts';
import type { Scope } from './scope.ts';

export async function refreshSession(
  ctx: GatewayContext,
  s: Scope,
  session: Session,
): Promise<Session | undefined> {
  const provider = ctx.providers.get(session.provider);
  if (provider === undefined) return undefined;
  // A provider that cannot refresh never issued a refresh token; nothing to do.
  const refresh = provider.refresh?.bind(provider);
  if (refresh === undefined) return session;
  // The store calls this at most once per refresh token, whichever requests and instances wait on it.
  const redeem = async (current: Session): Promise<Session> => {
    try {
      const t = await refresh(current.refreshToken!, current.identity);
      ctx.metrics.refresh(provider.id, 'success');
      ctx.log.debug(
        { requestId: s.id, event: 'session.refresh', provider: provider.id, sub: current.identity.sub },
        'refreshed',
      );
      return {
        ...current,
        identity: t.identity ?? current.identity,
        accessToken: t.accessToken ?? current.accessToken,
        accessTokenExpiresAt: t.accessTokenExpiresAt,
        refreshToken: t.refreshToken,
        idToken: ctx.keepIdToken ? (t.idToken ?? current.idToken) : undefined,
      };
    } catch (err) {
      ctx.metrics.refresh(provider.id, 'failure');
      ctx.log.warn(
        {
          requestId: s.id,
          event: 'session.refresh-failed',
          provider: provider.id,
          sub: current.identity.sub,
          reason: describe(err),
        },
        'refresh failed; the session ends',
      );
      throw err;
    }
  };
  try {
    const out = await ctx.sessions.refresh(s.cookies, session, ctx.now(), redeem);
    s.setCookies.push(...out.setCookies);
    if (out.session === undefined) s.setCookies.push(...ctx.sessions.expireCookies(s.cookies));
    return out.session;
  } catch (err) {
    if (isStoreUnavailable(err)) throw err;
    s.setCookies.push(...ctx.sessions.expireCookies(s.cookies));
    return undefined;
  }
}

function settle(
  ctx: GatewayContext,
  s: Scope,
  session: Session | undefined,
  now: number,
): void | Promise<void> {
  if (session === undefined) return;
  if (!needsRefresh(session, now)) {
    s.session = session;
    return;
  }
  return refreshSession(ctx, s, session).then((next) => {
    s.session = next;
  });
}

/**
 * Sets `s.session` (or leaves it undefined). Synchronous for cookie sessions unless a refresh is needed;
 * a server-side store answers with a promise (one store read).
 */
export function loadSession(ctx: GatewayContext, s: Scope): void | Promise<void> {
  const now = ctx.now();
  const read = ctx.sessions.read(s.cookies, now);
  if (read instanceof Promise) return read.then((session) => settle(ctx, s, session, now));
  return settle(ctx, s, read, now);
}
