/**
 * The session step. On a route with `bearer`, a request carrying `Authorization: Bearer` is decided on its
 * token alone (loadBearer). Otherwise: read the session from the request and, when its access token has expired and a
 * refresh token is at hand, refresh it transparently. A failed refresh ends the session. A session store
 * that cannot be reached is neither "signed in" nor "signed out": its PCL_SESSION_STORE_UNAVAILABLE
 * error propagates, and the request answers 503.
 */

import { PortcullisError } from '../errors/codes.ts';
import { describe } from '../idp/oidc.ts';
import { needsRefresh, type Session } from '../sessions/session.ts';
import { isStoreUnavailable } from '../sessions/store-ops.ts';
import type { GatewayContext } from './context.ts';
import { sendError } from './respond.ts';
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
  const memo = remembered(ctx, s, now);
  if (memo !== undefined) {
    s.session = memo;
    return;
  }
  const read = ctx.sessions.read(s.cookies, now);
  if (read instanceof Promise) return read.then((session) => settle(ctx, s, session, now));
  remember(ctx, s, read, now);
  return settle(ctx, s, read, now);
}

/**
 * The last cookie session read on each connection, with the whole Cookie header it came from. A browser
 * sends the same header on every request of a keep-alive connection; comparing the header stands in for
 * the cookie store's SHA-256 digest of the sealed value and its cache lookup (~16,000 instructions per
 * request, bench/results/2026-12-05-hot-path.md). The same bytes are the same sealed session, so nothing
 * is decided differently:
 * - cookie sessions only: a server-side session can be revoked, so that store is asked every time;
 * - the same store object only (a reload builds a new one, e.g. with rotated secrets);
 * - the session's own expiry is checked on every use, and a session that needs a refresh is never served
 *   from here: it goes through the store, whose cached object is the one concurrent requests share a
 *   single redemption through;
 * - for at most MEMO_SECONDS, then the store is asked again (whose cache also bounds how long decrypted
 *   tokens stay in memory); the entry lives on the socket, and goes with the connection.
 */
const MEMO_SECONDS = 60;
const lastRead = new WeakMap<
  object,
  { readonly store: object; readonly header: string; readonly session: Session; readonly at: number }
>();

function remembered(ctx: GatewayContext, s: Scope, now: number): Session | undefined {
  if (ctx.sessions.type !== 'cookie') return undefined;
  const m = lastRead.get(s.req.socket);
  if (m === undefined || m.store !== ctx.sessions || m.header !== s.req.headers.cookie) return undefined;
  const session = m.session;
  if (now - m.at >= MEMO_SECONDS || session.expiresAt <= now || needsRefresh(session, now)) return undefined;
  return session;
}

function remember(ctx: GatewayContext, s: Scope, session: Session | undefined, now: number): void {
  const header = s.req.headers.cookie;
  if (ctx.sessions.type !== 'cookie' || session === undefined || header === undefined) return;
  lastRead.set(s.req.socket, { store: ctx.sessions, header, session, at: now });
}

/**
 * The session step of a `public: true` route (as mod_auth_openidc's `OIDCUnAuthAction pass`): a visitor
 * with a valid session is forwarded with their identity, so a landing page can greet them; anyone else
 * passes anonymously. Nothing is required: a session store that is down leaves the visitor anonymous
 * rather than failing a public page. The identity is handed out only while the rules admit the user
 * (the authorize step's `admits`, which records nothing: a public page refuses no one).
 */
export function loadOptionalSession(ctx: GatewayContext, s: Scope): void | Promise<void> {
  const admit = () => {
    if (s.session !== undefined && !ctx.authz.admits(s.session)) s.session = undefined;
  };
  let r: void | Promise<void>;
  try {
    r = loadSession(ctx, s);
  } catch (err) {
    if (!isStoreUnavailable(err)) throw err;
    return;
  }
  if (!(r instanceof Promise)) return admit();
  return r.then(admit, (err: unknown) => {
    if (!isStoreUnavailable(err)) throw err;
    s.session = undefined;
  });
}

/**
 * The token of `Authorization: Bearer <token>` (RFC 6750 §2.1: the scheme in any case, one b64token), or
 * undefined when the request carries none (another scheme, e.g. Basic for the app itself, is not ours).
 */
export function bearerToken(s: Scope): string | undefined {
  const h = s.req.headers.authorization;
  if (h === undefined) return undefined;
  const m = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(h);
  if (m !== null) return m[1]!;
  return /^Bearer(?: |$)/i.test(h) ? '' : undefined;
}

/** A quoted-string value for WWW-Authenticate (RFC 9110 §11.4): what the verifier wrote is already safe. */
const quoted = (v: string) => `"${v.replace(/["\\]/g, '')}"`;

/**
 * The bearer half of the session step, on a route with `bearer`: verifies the token (src/bearer/) and sets
 * `s.bearer`, or answers 401 `invalid_token` (RFC 6750 §3.1) — never a redirect to sign in, since the
 * request carried a credential. Returns whether the request was answered. The reason is logged, the token
 * never is.
 */
export async function loadBearer(
  ctx: GatewayContext,
  s: Scope,
  token: string,
  accepted: true | readonly string[] = s.route?.bearer === true
    ? true
    : (s.route?.bearer as readonly string[]),
): Promise<boolean> {
  const r =
    token === ''
      ? ({ ok: false, reason: 'malformed', description: 'The Authorization header has no token' } as const)
      : await ctx.bearer.verify(token, accepted);
  if (r.ok) {
    s.bearer = r.principal;
    return false;
  }
  ctx.log.info(
    { requestId: s.id, event: 'bearer.rejected', path: s.path, reason: r.reason, issuer: r.issuer },
    'bearer token refused',
  );
  sendError(ctx.log, s, new PortcullisError('PCL_BEARER_INVALID', r.reason), {
    json: true,
    extraHeaders: {
      'WWW-Authenticate': `Bearer error="invalid_token", error_description=${quoted(r.description)}`,
    },
  });
  return true;
}
