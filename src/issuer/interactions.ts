/**
 * The interaction pages under /oidc/interaction/<uid>: what happens between a service's sign-in request
 * and its code.
 *
 * - login: the gate session is the sign-in. Without one (or when the service asked for a fresh sign-in,
 *   prompt=login or max_age) the browser goes through the gate's own sign-in, `/oauth2/start` (one
 *   provider) or `/oauth2/sign_in` (the chooser), with `rd` pointing back here; the interaction cookie is
 *   scoped to this path, so it is there again when the browser returns. With a session, the access rules
 *   decide (a denial is the 403 page and no code), the account is stored and the login finishes.
 * - consent: the service's name and what it asks for, in words, with Allow and Deny (CSRF-protected),
 *   unless the client has skipConsent.
 */

import { createHash, createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import type { Interaction, Provider } from 'oidc-provider';
import type { ResolvedIssuerClient } from '../config/issuer.ts';
import { PortcullisError } from '../errors/codes.ts';
import type { GatewayContext } from '../http/context.ts';
import { authorizeScope, sendForbidden } from '../http/forbidden.ts';
import { readForm } from '../http/form.ts';
import { redirect, sendError } from '../http/respond.ts';
import { crossSiteReason } from '../http/same-origin.ts';
import type { Scope } from '../http/scope.ts';
import { loadSession } from '../http/session.ts';
import type { Identity, Session } from '../sessions/session.ts';
import type { Storage } from '../storage/storage.ts';
import type { Accounts } from './accounts.ts';
import { consentPage } from './pages.ts';

/**
 * <mount>/interaction/<uid>, …/confirm, …/abort, where the mount is the issuer identifier's path
 * (`/oidc`, or `<base>/oidc` under a publicUrl path; made only of plain characters, src/config/load.ts).
 */
export function interactionPath(mount: string): RegExp {
  return new RegExp(`^${mount}/interaction/([A-Za-z0-9_-]{1,64})(?:/(confirm|abort))?$`);
}

/** Notes for prompt=login (which gate session the browser had), kept as long as an interaction lives. */
const REAUTH_KIND = 'PortcullisReauth';
const REAUTH_TTL = 600;

/** Tells gate sessions apart: a new sign-in always brings new tokens and a new creation time. */
function fingerprint(session: Session | undefined): string {
  if (session === undefined) return 'none';
  return createHash('sha256')
    .update(
      JSON.stringify([
        session.provider,
        session.identity.sub,
        session.createdAt,
        session.idToken ?? session.accessToken ?? '',
      ]),
    )
    .digest('base64url');
}

export interface InteractionDeps {
  readonly provider: Provider;
  readonly clients: ReadonlyMap<string, ResolvedIssuerClient>;
  readonly accounts: Accounts;
  readonly csrf: Csrf;
  readonly storage: Storage;
}

/** CSRF tokens for the consent forms: HMAC of the interaction uid under a key derived from the cookie secret. */
export class Csrf {
  readonly #keys: readonly Buffer[];

  constructor(secrets: readonly Buffer[]) {
    this.#keys = secrets.map((s) =>
      Buffer.from(hkdfSync('sha256', s, 'portcullis', 'portcullis issuer consent csrf v1', 32)),
    );
  }

  #mac(key: Buffer, uid: string): Buffer {
    return createHmac('sha256', key).update(`consent\u0000${uid}`).digest();
  }

  token(uid: string): string {
    return this.#mac(this.#keys[0]!, uid).toString('base64url');
  }

  check(uid: string, token: string | null): boolean {
    if (token === null) return false;
    const given = Buffer.from(token, 'base64url');
    if (given.length !== 32 || given.toString('base64url') !== token) return false;
    return this.#keys.some((k) => timingSafeEqual(this.#mac(k, uid), given));
  }
}

export async function interaction(
  deps: InteractionDeps,
  ctx: GatewayContext,
  s: Scope,
  uid: string,
  action: string | undefined,
): Promise<void> {
  const method = s.req.method ?? 'GET';
  const wanted = action === undefined ? ['GET', 'HEAD'] : ['POST'];
  if (!wanted.includes(method)) {
    sendError(ctx.log, s, new PortcullisError('PCL_METHOD_NOT_ALLOWED', `${method} ${s.path}`), {
      extraHeaders: { Allow: wanted.join(', ') },
    });
    return;
  }
  let form: URLSearchParams | undefined;
  if (action !== undefined) {
    // Consent changes what a service may do: like sign-out, only from Portcullis's own page (Fetch Metadata,
    // else Origin; src/http/same-origin.ts). The CSRF token below binds the form to this interaction too.
    const cross = crossSiteReason(s, ctx.config.public.origin);
    if (cross !== undefined && (s.req.headers['sec-fetch-site'] !== undefined || s.req.headers.origin)) {
      sendError(ctx.log, s, new PortcullisError('PCL_CROSS_SITE', `consent: ${cross}`));
      return;
    }
    form = await readForm(s.req);
    const origin = s.req.headers.origin;
    if (
      form === undefined ||
      !deps.csrf.check(uid, form.get('csrf')) ||
      (origin !== undefined && origin !== ctx.config.public.origin)
    ) {
      sendError(
        ctx.log,
        s,
        new PortcullisError(
          'PCL_BAD_REQUEST',
          'consent form without a valid CSRF token or from another origin',
        ),
      );
      return;
    }
  }
  let details: Interaction;
  try {
    details = await deps.provider.interactionDetails(s.req, s.res);
  } catch (err) {
    expired(ctx, s, `interaction not found: ${(err as Error).message}`);
    return;
  }
  if (details.uid !== uid) {
    expired(ctx, s, 'the interaction cookie belongs to another interaction');
    return;
  }
  const clientId = String(details.params['client_id'] ?? '');
  const client = deps.clients.get(clientId);
  const prompt = details.prompt.name;
  if (action === 'abort') {
    const to = await deps.provider.interactionResult(
      s.req,
      s.res,
      { error: 'access_denied', error_description: 'the user denied access' },
      { mergeWithLastSubmission: false },
    );
    ctx.log.info(
      { requestId: s.id, event: 'issuer.consent-denied', client: clientId },
      'the user denied a service',
    );
    redirect(s, to, 303);
    return;
  }
  if (prompt === 'login' && action === undefined) {
    await login(deps, ctx, s, details, clientId);
    return;
  }
  if (prompt === 'consent' && (action === 'confirm' || client?.skipConsent)) {
    await grantConsent(deps, ctx, s, details, clientId);
    return;
  }
  if (prompt === 'consent' && action === undefined) {
    await showConsent(deps, ctx, s, details, client, clientId);
    return;
  }
  expired(ctx, s, `nothing to do for prompt ${prompt} with ${action ?? 'no action'}`);
}

function expired(ctx: GatewayContext, s: Scope, detail: string): void {
  sendError(ctx.log, s, new PortcullisError('PCL_ISSUER_INTERACTION_EXPIRED', detail));
}

async function login(
  deps: InteractionDeps,
  ctx: GatewayContext,
  s: Scope,
  details: Interaction,
  clientId: string,
): Promise<void> {
  const pending = loadSession(ctx, s);
  if (pending) await pending;
  const session = s.session;
  const reasons = details.prompt.reasons;
  const maxAge = Number(details.params['max_age']);
  // max_age: the gate sign-in must be recent enough (auth_time is the gate session's creation).
  const tooOld =
    session !== undefined &&
    reasons.includes('max_age') &&
    Number.isFinite(maxAge) &&
    ctx.now() - session.createdAt > maxAge;
  // prompt=login: a sign-in after the service asked. Times have whole seconds, so the interaction notes
  // which session the browser had when it was sent to sign in; any other session is a new sign-in.
  let stale = false;
  if (reasons.includes('login_prompt')) {
    const seen = (await deps.storage.find(REAUTH_KIND, details.uid))?.['session'];
    const now = fingerprint(session);
    if (seen === undefined || seen === now) {
      stale = true;
      await deps.storage.upsert(REAUTH_KIND, details.uid, { session: now }, { expiresIn: REAUTH_TTL });
    }
  }
  if (session === undefined || tooOld || stale) {
    const rd = encodeURIComponent(s.rawPath);
    ctx.log.debug(
      { requestId: s.id, event: 'issuer.sign-in-upstream', client: clientId, fresh: tooOld || stale },
      'service sign-in needs a Portcullis sign-in first',
    );
    const login = ctx.config.basePath + (ctx.providers.size === 1 ? '/oauth2/start' : '/oauth2/sign_in');
    redirect(s, `${login}?rd=${rd}`);
    return;
  }
  const outcome = authorizeScope(ctx, s, 'issuer.authorization', session, undefined, { client: clientId });
  if (outcome.kind === 'denied') {
    // The reasons in words and as codes, as the gate's 403 page gives them.
    sendForbidden(ctx, s, outcome.decision);
    return;
  }
  const accountId = await deps.accounts.remember(session, ctx.now());
  const to = await deps.provider.interactionResult(
    s.req,
    s.res,
    { login: { accountId, ts: session.createdAt, remember: true } },
    { mergeWithLastSubmission: false },
  );
  redirect(s, to, 303);
}

async function grantConsent(
  deps: InteractionDeps,
  ctx: GatewayContext,
  s: Scope,
  details: Interaction,
  clientId: string,
): Promise<void> {
  const accountId = details.session?.accountId;
  if (accountId === undefined) {
    expired(ctx, s, 'consent without a signed-in account');
    return;
  }
  const { Grant } = deps.provider;
  const existing = details.grantId ? await Grant.find(details.grantId) : undefined;
  const grant = existing ?? new Grant({ accountId, clientId });
  const missing = details.prompt.details;
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [resource, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
    grant.addResourceScope(resource, scopes.join(' '));
  }
  const grantId = await grant.save();
  const to = await deps.provider.interactionResult(
    s.req,
    s.res,
    { consent: { grantId } },
    { mergeWithLastSubmission: true },
  );
  ctx.log.info(
    { requestId: s.id, event: 'issuer.consent', client: clientId, scopes: missing.missingOIDCScope },
    'the user allowed a service',
  );
  redirect(s, to, 303);
}

function describe(identity: Identity | undefined): string {
  if (identity === undefined) return 'your Portcullis account';
  const name = identity.name ?? identity.preferredUsername ?? identity.sub;
  return identity.email && identity.email !== name ? `${name} (${identity.email})` : name;
}

async function showConsent(
  deps: InteractionDeps,
  ctx: GatewayContext,
  s: Scope,
  details: Interaction,
  client: ResolvedIssuerClient | undefined,
  clientId: string,
): Promise<void> {
  const uid = details.uid;
  const mount = ctx.config.issuer?.url.pathname;
  const scopes = [...new Set(String(details.params['scope'] ?? '').split(' '))].filter((x) => x !== '');
  const html = consentPage({
    service: client?.name ?? clientId,
    serviceUrl: client?.display?.url,
    description: client?.display?.description,
    scopes,
    user: describe((await ctx.sessions.read(s.cookies, ctx.now()))?.identity),
    confirmAction: `${mount}/interaction/${uid}/confirm`,
    abortAction: `${mount}/interaction/${uid}/abort`,
    csrf: deps.csrf.token(uid),
  });
  // The Allow/Deny answer redirects on to the service's redirect URI; Chromium applies form-action to
  // every redirect after a form submission, so the service's origins are allowed as form targets.
  const origins = new Set((client?.redirectUris ?? []).map((u) => new URL(u).origin));
  const res = s.res;
  res.statusCode = 200;
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('X-Frame-Options', 'DENY');
  const formAction = ["'self'", ...origins].join(' ');
  res.setHeader(
    'Content-Security-Policy',
    `default-src 'none'; style-src 'unsafe-inline'; form-action ${formAction}; frame-ancestors 'none'`,
  );
  if (s.setCookies.length > 0) res.setHeader('Set-Cookie', s.setCookies);
  res.end(s.req.method === 'HEAD' ? undefined : html);
}
