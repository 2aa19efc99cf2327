/**
 * The login endpoints (oauth2-proxy compatible paths): /oauth2/sign_in, /oauth2/start, /oauth2/callback.
 * Sign-out (/oauth2/sign_out, /oauth2/signed_out) is in sign-out.ts.
 */
import { randomNonce, randomPKCECodeVerifier, randomState } from 'openid-client';
import { PortcullisError } from '../errors/codes.ts';
import type { IdentityProvider } from '../idp/provider.ts';
import { validateRedirect } from '../login/redirect.ts';
import { noteRules, type SignInTrace, timed } from '../login/trace.ts';
import type { Session } from '../sessions/session.ts';
import type { GatewayContext } from './context.ts';
import { authorizeScope, sendForbidden } from './forbidden.ts';
import { signInPage } from './pages.ts';
import { redirect, sendError, sendHtml } from './respond.ts';
import type { Scope } from './scope.ts';
import { ownPath } from './target.ts';

/** The validated post-login target, logging rejected ones with the reason. */
export function target(ctx: GatewayContext, s: Scope, rd: string | null): string {
  const v = validateRedirect(rd, ctx.redirects);
  if (v.ok) return v.target;
  if (v.reason !== 'rd-empty') {
    ctx.log.warn(
      { requestId: s.id, reason: v.reason, rd: rd?.slice(0, 200) },
      'redirect target rejected; using /',
    );
  }
  return new URL(`${ctx.config.basePath}/`, ctx.redirects.origin).href;
}

/** The header oauth2-proxy reads the post-login target from when the query names none. */
export const REDIRECT_HEADER = 'x-auth-request-redirect';

/**
 * The post-login target the request asks for, still unvalidated: the `rd` query parameter, else the
 * `X-Auth-Request-Redirect` header, in oauth2-proxy's order (pkg/app/redirect/getters.go). The header is how
 * a proxy that cannot URL-encode passes the original URL whole: nginx answers a 401 with an internal
 * redirect to /oauth2/sign_in and sets the header to `$request_uri`, where `return 302
 * /oauth2/sign_in?rd=$request_uri` would cut `?x=1&y=2` to `?x=1` (nginx has no URL-encoding). Anyone may
 * send the header; it is validated exactly as `rd` is (src/login/redirect.ts), so it opens no redirect the
 * query would not. A header naming one of Portcullis's own /oauth2/ pages is ignored: nginx sets it on
 * every request of its /oauth2/ location, and `/oauth2/start` as the target after sign-in would loop.
 */
function requestedTarget(ctx: GatewayContext, s: Scope): string | null {
  const rd = s.searchParams().get('rd');
  if (rd !== null) return rd;
  const header = s.req.headers[REDIRECT_HEADER];
  if (typeof header !== 'string' || header === '') return null;
  let path: string;
  try {
    path = new URL(header, 'http://portcullis.invalid').pathname;
  } catch {
    return header; // refused by the validation, with its reason logged
  }
  const own = ownPath(ctx.config.basePath, path);
  return own === '/oauth2' || own?.startsWith('/oauth2/') ? null : header;
}

export function signIn(ctx: GatewayContext, s: Scope): void | Promise<void> {
  const base = ctx.config.basePath;
  const rd = requestedTarget(ctx, s) ?? `${base}/`;
  // With autoLogin and one provider the page would have a single button: start its sign-in here, as
  // oauth2-proxy's skip-provider-button does (a 302 to the IdP, not a hop through /oauth2/start). nginx's
  // `error_page 401 = /oauth2/sign_in` then sends the browser to the IdP in one redirect.
  const only = onlyProvider(ctx);
  if (only !== undefined) return begin(ctx, s, only, rd);
  const buttons = [...ctx.providers.values()].map((p) => ({ id: p.id, name: p.displayName, icon: p.icon }));
  // The page's CSP lets in the icons' origins only (data: URLs as such).
  const imgSrc = new Set<string>();
  for (const b of buttons)
    if (b.icon) imgSrc.add(b.icon.startsWith('data:') ? 'data:' : new URL(b.icon).origin);
  sendHtml(s, 200, signInPage(buttons, rd, base), { imgSrc: [...imgSrc] });
}

/** The provider autoLogin signs in with: the only one, when autoLogin is on. */
function onlyProvider(ctx: GatewayContext): IdentityProvider | undefined {
  if (!ctx.autoStart) return undefined;
  const [only] = ctx.providers.values();
  return only;
}

/**
 * Answers a request that needs a session and is to be sent to sign in (a browser navigation: the caller
 * has already answered API requests with 401), `rd` being the target it asked for (validated here as any
 * `rd`). With autoLogin and one provider, a GET or HEAD gets the 302 to the IdP itself, with the flow
 * cookie set exactly as /oauth2/start sets it: one redirect fewer than through /oauth2/start. Anything else
 * gets the 302 to /oauth2/sign_in (or /oauth2/start with autoLogin: a POST's answer is followed with a GET).
 */
export function sendToSignIn(ctx: GatewayContext, s: Scope, rd: string): void | Promise<void> {
  const only = onlyProvider(ctx);
  const method = s.req.method;
  if (only !== undefined && (method === 'GET' || method === 'HEAD')) return begin(ctx, s, only, rd);
  const login = ctx.config.basePath + (ctx.autoStart ? '/oauth2/start' : '/oauth2/sign_in');
  redirect(s, `${login}?rd=${encodeURIComponent(rd)}`);
}

export function start(ctx: GatewayContext, s: Scope): void | Promise<void> {
  const params = s.searchParams();
  const id = params.get('provider') ?? (ctx.providers.size === 1 ? [...ctx.providers.keys()][0] : undefined);
  const base = ctx.config.basePath;
  const rd = requestedTarget(ctx, s);
  if (id === undefined) {
    redirect(s, `${base}/oauth2/sign_in?rd=${encodeURIComponent(rd ?? `${base}/`)}`);
    return;
  }
  const provider = ctx.providers.get(id);
  const trace = ctx.traces?.begin(s.id, provider?.id);
  trace?.note(
    'start',
    provider !== undefined,
    `provider ${id.slice(0, 64)}`,
    provider ? undefined : 'PCL_PROVIDER_UNKNOWN',
  );
  if (provider === undefined) {
    sendError(ctx.log, s, new PortcullisError('PCL_PROVIDER_UNKNOWN', `no provider "${id.slice(0, 64)}"`), {
      retryHref: `${base}/oauth2/sign_in`,
    });
    return;
  }
  return begin(ctx, s, provider, rd, trace);
}

/**
 * Starts a sign-in at `provider`: a new flow (state, nonce, PKCE verifier, the validated target) sealed in
 * its own cookie, and the 302 to the IdP's authorization endpoint. /oauth2/start, /oauth2/sign_in and
 * (with autoLogin) a protected page all start one here.
 */
async function begin(
  ctx: GatewayContext,
  s: Scope,
  provider: IdentityProvider,
  rd: string | null,
  trace: SignInTrace | undefined = ctx.traces?.begin(s.id, provider.id),
): Promise<void> {
  if (trace !== undefined && !trace.steps.length) trace.note('start', true, `provider ${provider.id}`);
  const flow = {
    v: 1 as const,
    state: randomState(),
    nonce: randomNonce(),
    codeVerifier: randomPKCECodeVerifier(),
    provider: provider.id,
    issuer: provider.issuer,
    rd: target(ctx, s, rd),
    createdAt: ctx.now(),
  };
  let url: URL;
  try {
    url = await timed(trace, 'authorization URL (discovery)', () => provider.authorizationUrl(flow));
  } catch (err) {
    sendError(
      ctx.log,
      s,
      err instanceof PortcullisError ? err : new PortcullisError('PCL_INTERNAL', String(err)),
      {
        retryHref: s.req.url ?? '/',
      },
    );
    return;
  }
  s.setCookies.push(...ctx.flows.start(flow, s.cookies, ctx.now()));
  if (trace !== undefined) {
    ctx.traces?.bindState(flow.state, trace);
    trace.note('redirect to the IdP', true, `${url.origin}${url.pathname}`);
  }
  redirect(s, url.href);
}

export async function callback(ctx: GatewayContext, s: Scope): Promise<void> {
  const base = ctx.config.basePath;
  const params = s.searchParams();
  const state = params.get('state');
  const flow = state === null ? undefined : ctx.flows.find(state, s.cookies, ctx.now());
  const idpError = params.get('error');
  const trace = ctx.traces?.callback(s.id, state);
  if (flow === undefined || state === null) {
    trace?.note(
      'callback',
      false,
      state === null
        ? 'no state parameter'
        : 'no flow cookie for this state (expired, another browser, or cookies blocked)',
      idpError ? 'PCL_IDP_ERROR' : 'PCL_STATE_UNKNOWN',
    );
    const err = idpError
      ? new PortcullisError('PCL_IDP_ERROR', `IdP error ${idpError} for an unknown state`)
      : new PortcullisError(
          'PCL_STATE_UNKNOWN',
          state === null ? 'callback without state' : 'no flow cookie for this state',
        );
    sendError(ctx.log, s, err, { retryHref: `${base}/oauth2/sign_in`, userDetail: idpError ?? undefined });
    return;
  }
  s.setCookies.push(ctx.flows.clear(state));
  const retryHref = `${base}/oauth2/start?provider=${encodeURIComponent(flow.provider)}&rd=${encodeURIComponent(flow.rd)}`;
  if (idpError !== null) {
    const description = params.get('error_description');
    trace?.note(
      'callback',
      false,
      `the IdP answered ${idpError}: ${description ?? ''}`.slice(0, 500),
      'PCL_IDP_ERROR',
    );
    ctx.metrics.signIn(flow.provider, 'failure');
    ctx.log.warn(
      { requestId: s.id, event: 'sign-in.failure', provider: flow.provider, error: idpError, description },
      'the identity provider returned an error',
    );
    sendError(ctx.log, s, new PortcullisError('PCL_IDP_ERROR', `${idpError}: ${description ?? ''}`), {
      retryHref,
      userDetail: description ? `${idpError}: ${description}` : idpError,
    });
    return;
  }
  const provider = ctx.providers.get(flow.provider);
  // Mix-up defence (RFC 9700 §4.4): the callback completes only the flow's own provider, which checks its own
  // issuer (the RFC 9207 iss parameter and the ID token's iss) against the response.
  if (provider === undefined || provider.issuer !== flow.issuer) {
    trace?.note('callback', false, `provider ${flow.provider} no longer configured`, 'PCL_STATE_UNKNOWN');
    sendError(ctx.log, s, new PortcullisError('PCL_STATE_UNKNOWN', 'flow provider no longer configured'), {
      retryHref: `${base}/oauth2/sign_in`,
    });
    return;
  }
  if (trace !== undefined) trace.provider ??= flow.provider;
  const code = params.get('code') ? undefined : 'PCL_CALLBACK_INVALID';
  trace?.note('callback', code === undefined, code ? 'no code' : 'code received', code);
  if (!params.get('code')) {
    sendError(ctx.log, s, new PortcullisError('PCL_CALLBACK_INVALID', 'callback without code'), {
      retryHref,
    });
    return;
  }
  const callbackUrl = new URL(ctx.config.redirectUri.href);
  callbackUrl.search = s.query;
  try {
    const result = await provider.signIn(callbackUrl, flow, trace?.time);
    const now = ctx.now();
    const session: Session = {
      v: 1,
      provider: provider.id,
      identity: result.identity,
      createdAt: now,
      expiresAt: now + ctx.config.sessions.lifetime,
      accessToken: result.accessToken,
      accessTokenExpiresAt: result.accessTokenExpiresAt,
      refreshToken: result.refreshToken,
      idToken: ctx.keepIdToken ? result.idToken : undefined,
    };
    // The top-level and provider access rules, before any session exists (route rules apply per request).
    const outcome = authorizeScope(ctx, s, 'sign-in', session);
    noteRules(trace, result.identity, outcome.kind === 'denied' ? outcome.decision.reasons : undefined);
    if (outcome.kind === 'denied') {
      ctx.metrics.signIn(provider.id, 'denied');
      sendForbidden(ctx, s, outcome.decision, { retryHref: `${base}/oauth2/sign_in` });
      return;
    }
    s.setCookies.push(
      ...(await timed(trace, 'session stored', async () => ctx.sessions.write(session, s.cookies, now))),
    );
    if (trace !== undefined) trace.outcome = 'signed in';
    ctx.metrics.signIn(provider.id, 'success');
    ctx.log.info(
      {
        requestId: s.id,
        event: 'sign-in.success',
        provider: provider.id,
        sub: result.identity.sub,
        email: result.identity.email,
      },
      'signed in',
    );
    redirect(s, flow.rd);
  } catch (err) {
    const e =
      err instanceof PortcullisError ? err : new PortcullisError('PCL_INTERNAL', String(err), { cause: err });
    ctx.metrics.signIn(provider.id, 'failure');
    ctx.log.warn(
      { requestId: s.id, event: 'sign-in.failure', provider: provider.id, code: e.code },
      'sign-in failed',
    );
    sendError(ctx.log, s, e, { retryHref });
  }
}
