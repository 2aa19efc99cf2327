/**
 * The sign-out endpoints (oauth2-proxy compatible paths): /oauth2/sign_out (a confirmation page on GET, the
 * sign-out on a same-origin POST, optionally of every session of the user) and /oauth2/signed_out.
 */
import { PortcullisError } from '../errors/codes.ts';
import type { Session } from '../sessions/session.ts';
import type { UserSessions } from '../sessions/store.ts';
import type { GatewayContext } from './context.ts';
import { readForm } from './form.ts';
import { target } from './login.ts';
import { signedOutPage, signOutPage } from './pages.ts';
import { redirect, sendError, sendHtml } from './respond.ts';
import { crossSiteReason } from './same-origin.ts';
import type { Scope } from './scope.ts';

/**
 * GET (and HEAD) /oauth2/sign_out: the confirmation page, whose form POSTs back here. A GET never signs out:
 * any site can make a browser navigate (a link, an image, a script), and the session cookie is SameSite=Lax,
 * which is sent on top-level navigations from anywhere. `rd` is checked now as at the POST (where it counts):
 * the hidden field carries the target the POST would use.
 */
function confirmSignOut(ctx: GatewayContext, s: Scope): void {
  const rd = s.searchParams().get('rd');
  sendHtml(
    s,
    200,
    signOutPage(rd ? target(ctx, s, rd) : undefined, ctx.sessions.users !== undefined, ctx.config.basePath),
  );
}

/**
 * POST /oauth2/sign_out: signs out, from Portcullis's own pages only (src/http/same-origin.ts) — a form on
 * another site, or on another origin of the same site, is refused with 403 PCL_CROSS_SITE. `rd` comes from
 * the form, else from the query (a form elsewhere may post to /oauth2/sign_out?rd=…).
 */
export async function signOut(ctx: GatewayContext, s: Scope): Promise<void> {
  if (s.req.method !== 'POST') {
    confirmSignOut(ctx, s);
    return;
  }
  const signOutPath = `${ctx.config.basePath}/oauth2/sign_out`;
  const refused = crossSiteReason(s, ctx.config.public.origin);
  if (refused !== undefined) {
    const rd = s.searchParams().get('rd');
    sendError(ctx.log, s, new PortcullisError('PCL_CROSS_SITE', `sign-out refused: ${refused}`), {
      retryHref: rd ? `${signOutPath}?rd=${encodeURIComponent(rd)}` : signOutPath,
    });
    return;
  }
  const form = await readForm(s.req);
  const rd = form?.get('rd') || s.searchParams().get('rd');
  // A server-side store deletes the session here (revocation); if it cannot, the 503 says so rather than a
  // sign-out page for a session that a replayed cookie would still open.
  const session = await ctx.sessions.read(s.cookies, ctx.now());
  if (form?.get('everywhere') === '1' && ctx.sessions.users !== undefined) {
    await signOutEverywhere(ctx, s, session, ctx.sessions.users);
    return;
  }
  s.setCookies.push(...(await ctx.sessions.clear(s.cookies)));
  // The signed-out page may then offer to end the user's other sessions (server-side stores only).
  s.setCookies.push(...(ctx.sessions.users?.signedOutAs(session) ?? []));
  if (session !== undefined) {
    ctx.log.info(
      { requestId: s.id, event: 'sign-out', provider: session.provider, sub: session.identity.sub },
      'signed out',
    );
  }
  const provider = session ? ctx.providers.get(session.provider) : undefined;
  const after = rd
    ? target(ctx, s, rd)
    : new URL(`${ctx.config.basePath}/oauth2/signed_out`, ctx.config.public).href;
  // With the issuer mounted, the browser passes through it on the way out: it ends the issuer's session and
  // the services' grants there (its cookie is scoped to /oidc, so this request does not carry it). The stop
  // is bound to this browser (a cookie set with this answer), so nobody else's sign-out can be replayed.
  const issuer = ctx.issuer;
  if (provider?.config.logoutAtIdp && provider.endSessionUrl !== undefined) {
    try {
      const url = await provider.endSessionUrl(session?.idToken, after);
      if (url) {
        redirect(s, issuer ? issuer.signOutVia(url.href, s) : url.href, 303);
        return;
      }
    } catch (err) {
      ctx.log.warn(
        { requestId: s.id, err: String(err) },
        'RP-initiated logout unavailable; signed out locally',
      );
    }
  }
  // 303 (RFC 9110 §15.4.4): the browser follows a POST's answer with a GET, and a reload of the page it
  // lands on does not post again.
  redirect(s, issuer ? issuer.signOutVia(after, s) : after, 303);
}

/**
 * POST /oauth2/sign_out with everywhere=1 (the same-origin check above has passed): ends every server-side
 * session of the user — the one this browser holds, or, from the signed-out page, the one it just signed
 * out of (the sealed signed-out-as cookie, 10 minutes) — on every instance, and revokes the user's grants
 * at the issuer. Without either, only this browser's cookies are expired.
 */
async function signOutEverywhere(
  ctx: GatewayContext,
  s: Scope,
  session: Session | undefined,
  users: UserSessions,
): Promise<void> {
  const user = session
    ? { provider: session.provider, sub: session.identity.sub }
    : users.readSignedOutAs(s.cookies, ctx.now());
  let ended = 0;
  let grants = 0;
  if (user !== undefined) {
    ended = await users.endUser(user);
    grants = (await ctx.issuer?.endUser(user)) ?? 0;
    ctx.log.info(
      {
        requestId: s.id,
        event: 'sign-out.everywhere',
        provider: user.provider,
        sub: user.sub,
        sessions: ended,
        grants,
      },
      'signed out everywhere',
    );
  }
  s.setCookies.push(...(await ctx.sessions.clear(s.cookies)), ...users.expireSignedOutAs(s.cookies));
  const after = new URL(
    `${ctx.config.basePath}/oauth2/signed_out${user ? '?everywhere=1' : ''}`,
    ctx.config.public,
  ).href;
  redirect(s, ctx.issuer ? ctx.issuer.signOutVia(after, s) : after, 303);
}

export function signedOut(ctx: GatewayContext, s: Scope): void {
  const users = ctx.sessions.users;
  sendHtml(
    s,
    200,
    signedOutPage({
      everywhere: s.searchParams().get('everywhere') === '1',
      offerEverywhere: users?.readSignedOutAs(s.cookies, ctx.now()) !== undefined,
      base: ctx.config.basePath,
    }),
  );
}
