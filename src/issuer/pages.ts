/** The issuer's pages: consent, RP-initiated logout, signed out. Same look as the gate's; built with `html`. */
import { html, rawHtml } from '../http/html.ts';
import { layout, signOutForm } from '../http/pages.ts';

/** What each scope lets a service do, in words (the consent page and docs/issuer.md say the same). */
export const SCOPE_WORDS: Readonly<Record<string, string>> = {
  openid: 'Know that it is you (a stable user id, no password)',
  profile: 'See your name and username',
  email: 'See your email address',
  groups: 'See the groups you belong to',
  offline_access: 'Stay connected while you are away (it may refresh its access without asking you again)',
};

const EXTRA_STYLE = html`<style>
  ul.scopes { padding-left: 1.2rem; line-height: 1.6; }
  .who { font-size: .9rem; color: #6b7280; }
  form.actions { display: grid; gap: .6rem; margin-top: 1.25rem; }
  button.secondary { background: transparent; color: #2f54eb; }
</style>`;

export interface ConsentPageInput {
  readonly service: string;
  readonly serviceUrl?: string | undefined;
  readonly description?: string | undefined;
  /** The scopes asked for (OIDC scopes only; unknown ones are not shown). */
  readonly scopes: readonly string[];
  /** Who is signed in, e.g. "Alice Admin (alice@example.com)". */
  readonly user: string;
  readonly confirmAction: string;
  readonly abortAction: string;
  readonly csrf: string;
}

export function consentPage(p: ConsentPageInput): string {
  const items = p.scopes
    .filter((s) => SCOPE_WORDS[s] !== undefined)
    .map((s) => html`<li>${SCOPE_WORDS[s]}</li>`);
  const link =
    p.serviceUrl && html` (<a href="${p.serviceUrl}" rel="noreferrer">${new URL(p.serviceUrl).host}</a>)`;
  const about = p.description && html`<p>${p.description}</p>`;
  const csrf = html`<input type="hidden" name="csrf" value="${p.csrf}">`;
  return layout(
    `Allow ${p.service}?`,
    html`${EXTRA_STYLE}<h1>Allow ${p.service} to use your account?</h1>
<p class="who">Signed in as ${p.user}.</p>${about}
<p><strong>${p.service}</strong>${link} will be able to:</p>
<ul class="scopes">${items}</ul>
<form class="actions" id="consent" method="post" action="${p.confirmAction}">${csrf}<button type="submit">Allow</button></form>
<form class="actions" id="deny" method="post" action="${p.abortAction}">${csrf}<button type="submit" class="secondary">Deny</button></form>
<p class="meta">Your answer is remembered until you sign out of Portcullis.</p>`,
  );
}

/**
 * The confirmation of RP-initiated logout. `form` is oidc-provider's `<form id="op.logoutForm">` holding
 * its xsrf token (markup it builds and escapes itself); logout=yes ends the whole Portcullis session (every
 * service's grant and the gate session), not only the one service's part of it.
 */
export function logoutPage(form: string, service: string | undefined): string {
  const withButton = rawHtml(
    form.replace(
      '</form>',
      '<input type="hidden" name="logout" value="yes"/><button type="submit" autofocus>Sign out</button></form>',
    ),
  );
  const who = service ? html`${service} asked to sign you out.` : html`A service asked to sign you out.`;
  return layout(
    'Sign out',
    html`<h1>Sign out?</h1><p>${who} This ends your Portcullis session, for every service.</p>${withButton}`,
  );
}

/** After RP-initiated logout; `stillSignedIn`: the gate session was kept (nothing was confirmed). */
export function issuerSignedOutPage(stillSignedIn = false, base = ''): string {
  if (stillSignedIn) {
    return layout(
      'Signed out of the service',
      html`<h1>Signed out of the service</h1><p>You are still signed in to Portcullis.</p>${signOutForm({ secondary: true, base })}`,
    );
  }
  return layout(
    'Signed out',
    html`<h1>You are signed out</h1><p>Your session has ended.</p><a class="button secondary" href="${base}/">Sign in again</a>`,
  );
}
