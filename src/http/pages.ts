/** The HTML pages users see: sign-in, errors, signed out. Small, self-contained, built with `html` (escaped). */
import { type Html, html, rawHtml } from './html.ts';

const STYLE = rawHtml(`
  :root { color-scheme: light dark; font-family: system-ui, -apple-system, "Segoe UI", sans-serif; }
  body { margin: 0; min-height: 100vh; display: grid; place-items: center; background: #f4f5f7; color: #1d2330; }
  main { background: #fff; border-radius: 12px; box-shadow: 0 2px 12px rgb(0 0 0 / 8%); padding: 2rem 2.5rem; max-width: 28rem; width: calc(100% - 3rem); }
  h1 { font-size: 1.3rem; margin: 0 0 .75rem; }
  p { line-height: 1.5; }
  .providers { display: grid; gap: .6rem; margin-top: 1.25rem; }
  a.button, button { display: block; text-align: center; padding: .7rem 1rem; border-radius: 8px; border: 1px solid #2f54eb;
    background: #2f54eb; color: #fff; text-decoration: none; font-size: 1rem; cursor: pointer; }
  a.secondary, button.secondary { background: transparent; color: #2f54eb; }
  a.button img { vertical-align: -4px; margin-right: .5rem; }
  ul.why, ul.services { padding-left: 1.2rem; line-height: 1.5; }
  .meta { margin-top: 1.5rem; font-size: .8rem; color: #6b7280; overflow-wrap: anywhere; }
  .meta code { white-space: nowrap; }
  code { font-size: .85em; }
  @media (prefers-color-scheme: dark) { body { background: #111318; color: #e6e8ee; } main { background: #1b1e26; } }
`);

/** The whole document around `body`, as the string a response sends. */
export function layout(title: string, body: Html): string {
  return html`<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta name="robots" content="noindex"><title>${title}</title><style>${STYLE}</style></head><body><main>${body}</main></body></html>`.toString();
}

export interface ProviderButton {
  readonly id: string;
  readonly name: string;
  /** Image URL shown on the button (the page's CSP must allow its origin). */
  readonly icon?: string | undefined;
}

/** Pages take `base`, publicUrl's path without its trailing slash ('' at the root): their links live under it. */
export function signInPage(providers: readonly ProviderButton[], rd: string, base = ''): string {
  const buttons = providers.map((p) => {
    const href = `${base}/oauth2/start?provider=${encodeURIComponent(p.id)}&rd=${encodeURIComponent(rd)}`;
    const icon = p.icon && html`<img src="${p.icon}" alt="" width="20" height="20">`;
    return html`<a class="button" href="${href}">${icon}Sign in with ${p.name}</a>`;
  });
  return layout(
    'Sign in',
    html`<h1>Sign in</h1><p>This site needs you to sign in.</p><div class="providers">${buttons}</div>`,
  );
}

export interface ErrorPageInput {
  readonly status: number;
  readonly code: string;
  readonly title: string;
  readonly advice: string;
  readonly requestId: string;
  /** Extra user-safe detail, e.g. the IdP's error description. */
  readonly detail?: string | undefined;
  /** Sentences listed under the advice, e.g. what an access rule found missing. */
  readonly explanations?: readonly string[] | undefined;
  /** Reason codes, shown small beside the request id so a user can quote them. */
  readonly reasons?: readonly string[] | undefined;
  readonly retryHref?: string | undefined;
}

export function errorPage(e: ErrorPageInput): string {
  const detail = e.detail && html`<p><code>${e.detail}</code></p>`;
  const why = e.explanations?.length
    ? html`<ul class="why">${e.explanations.map((x) => html`<li>${x}</li>`)}</ul>`
    : undefined;
  const retry = e.retryHref && html`<a class="button" href="${e.retryHref}">Try again</a>`;
  const reasons = e.reasons?.length
    ? html` · reasons ${e.reasons.map((r, i) => html`${i > 0 && ' '}<code>${r}</code>`)}`
    : undefined;
  return layout(
    e.title,
    html`<h1>${e.title}</h1><p>${e.advice}</p>${why}${detail}${retry}<p class="meta">Error ${e.code} · HTTP ${e.status}${reasons} · request id <code>${e.requestId}</code></p>`,
  );
}

/**
 * The sign-out form (a POST to /oauth2/sign_out, the only way a sign-out happens): on the confirmation page
 * and wherever a Portcullis page offers to sign out. `rd` travels as a hidden field.
 */
export function signOutForm(
  o: { readonly rd?: string | undefined; readonly secondary?: boolean; readonly base?: string } = {},
): Html {
  const hidden = o.rd !== undefined && html`<input type="hidden" name="rd" value="${o.rd}">`;
  const cls = o.secondary && html` class="secondary"`;
  return html`<form id="sign-out" method="post" action="${o.base ?? ''}/oauth2/sign_out">${hidden}<button type="submit"${cls}>Sign out</button></form>`;
}

/**
 * "Sign out of every device": the same POST with `everywhere=1` (same-origin rules as any sign-out). Shown
 * only with a server-side session store, the one kind whose sessions can be found by their user.
 */
export function signOutEverywhereForm(base = ''): Html {
  return html`<form id="sign-out-everywhere" method="post" action="${base}/oauth2/sign_out"><input type="hidden" name="everywhere" value="1"><button type="submit" class="secondary">Sign out of every device</button></form>`;
}

/** GET /oauth2/sign_out: asks before signing out, so a link or a navigation from another site cannot. */
export function signOutPage(rd: string | undefined, everywhere = false, base = ''): string {
  return layout(
    'Sign out',
    html`<h1>Sign out?</h1><p>This ends your session here, and at every service that signs you in through it.</p>${signOutForm({ rd, base })}${everywhere && signOutEverywhereForm(base)}<p class="meta"><a href="${base}/">Stay signed in</a></p>`,
  );
}

/**
 * /oauth2/signed_out. `offerEverywhere`: the browser just signed out of a server-side session (its
 * signed-out-as cookie is fresh), so its other devices can be signed out too. `everywhere`: that was done.
 * `base`: the path Portcullis is served under ('' at the root).
 */
export function signedOutPage(
  o: { offerEverywhere?: boolean; everywhere?: boolean; base?: string } = {},
): string {
  const base = o.base ?? '';
  if (o.everywhere)
    return layout(
      'Signed out everywhere',
      html`<h1>You are signed out everywhere</h1><p>Every session of yours has ended, on every device, and the services you signed in to through this gateway have lost their access.</p><a class="button secondary" href="${base}/">Sign in again</a>`,
    );
  return layout(
    'Signed out',
    html`<h1>You are signed out</h1><p>Your session has ended.</p>${o.offerEverywhere && html`<p>Signed in somewhere else too, or on a device you no longer have?</p>${signOutEverywhereForm(base)}`}<a class="button secondary" href="${base}/">Sign in again</a>`,
  );
}
