/** The HTML pages users see: sign-in, errors, signed out. Small, self-contained, every value escaped. */

const ESC: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ESC[c]!);
}

const STYLE = `
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
`;

export function layout(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta name="robots" content="noindex"><title>${escapeHtml(title)}</title><style>${STYLE}</style></head><body><main>${body}</main></body></html>`;
}

export interface ProviderButton {
  readonly id: string;
  readonly name: string;
  /** Image URL shown on the button (the page's CSP must allow its origin). */
  readonly icon?: string | undefined;
}

export function signInPage(providers: readonly ProviderButton[], rd: string): string {
  const buttons = providers
    .map((p) => {
      const href = `/oauth2/start?provider=${encodeURIComponent(p.id)}&rd=${encodeURIComponent(rd)}`;
      const icon = p.icon ? `<img src="${escapeHtml(p.icon)}" alt="" width="20" height="20">` : '';
      return `<a class="button" href="${escapeHtml(href)}">${icon}Sign in with ${escapeHtml(p.name)}</a>`;
    })
    .join('');
  return layout(
    'Sign in',
    `<h1>Sign in</h1><p>This site needs you to sign in.</p><div class="providers">${buttons}</div>`,
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
  const detail = e.detail ? `<p><code>${escapeHtml(e.detail)}</code></p>` : '';
  const why = e.explanations?.length
    ? `<ul class="why">${e.explanations.map((x) => `<li>${escapeHtml(x)}</li>`).join('')}</ul>`
    : '';
  const retry = e.retryHref ? `<a class="button" href="${escapeHtml(e.retryHref)}">Try again</a>` : '';
  const reasons = e.reasons?.length
    ? ` · reasons ${e.reasons.map((r) => `<code>${escapeHtml(r)}</code>`).join(' ')}`
    : '';
  return layout(
    e.title,
    `<h1>${escapeHtml(e.title)}</h1><p>${escapeHtml(e.advice)}</p>${why}${detail}${retry}<p class="meta">Error ${escapeHtml(e.code)} · HTTP ${e.status}${reasons} · request id <code>${escapeHtml(e.requestId)}</code></p>`,
  );
}

/**
 * The sign-out form (a POST to /oauth2/sign_out, the only way a sign-out happens): on the confirmation page
 * and wherever a Portcullis page offers to sign out. `rd` travels as a hidden field.
 */
export function signOutForm(
  o: { readonly rd?: string | undefined; readonly secondary?: boolean } = {},
): string {
  const hidden = o.rd === undefined ? '' : `<input type="hidden" name="rd" value="${escapeHtml(o.rd)}">`;
  const cls = o.secondary ? ' class="secondary"' : '';
  return `<form id="sign-out" method="post" action="/oauth2/sign_out">${hidden}<button type="submit"${cls}>Sign out</button></form>`;
}

/** GET /oauth2/sign_out: asks before signing out, so a link or a navigation from another site cannot. */
export function signOutPage(rd: string | undefined): string {
  return layout(
    'Sign out',
    `<h1>Sign out?</h1><p>This ends your session here, and at every service that signs you in through it.</p>${signOutForm({ rd })}<p class="meta"><a href="/">Stay signed in</a></p>`,
  );
}

export function signedOutPage(): string {
  return layout(
    'Signed out',
    '<h1>You are signed out</h1><p>Your session has ended.</p><a class="button secondary" href="/">Sign in again</a>',
  );
}
