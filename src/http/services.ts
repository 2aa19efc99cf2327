/**
 * The services page, `/oauth2/services` (only with an `issuer`): the platform's services registered in
 * `issuer.clients` that have a `display.url`, for a signed-in user the access rules let through to the
 * issuer — the same rules `/oidc/auth` applies, so nobody is shown a service that would turn them away.
 * `Accept: application/json` gets the list as JSON (for a portal that renders it itself).
 */

import type { GatewayContext } from './context.ts';
import { authorizeScope, sendForbidden } from './forbidden.ts';
import { html } from './html.ts';
import { sendToSignIn } from './login.ts';
import { layout, signOutForm } from './pages.ts';
import { sendError, sendHtml, sendJson } from './respond.ts';
import type { Scope } from './scope.ts';
import { loadSession } from './session.ts';

export interface ServiceEntry {
  readonly id: string;
  readonly name: string;
  readonly url: string;
  readonly description?: string | undefined;
}

export function serviceEntries(ctx: GatewayContext): ServiceEntry[] {
  const out: ServiceEntry[] = [];
  for (const c of ctx.config.issuer?.clients ?? []) {
    if (c.display?.url === undefined) continue;
    out.push({ id: c.id, name: c.display.name, url: c.display.url, description: c.display.description });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

export function servicesPage(entries: readonly ServiceEntry[], user: string, base = ''): string {
  const items = entries.map(
    (e) =>
      html`<li><a href="${e.url}">${e.name}</a>${e.description && html`<br><small>${e.description}</small>`}</li>`,
  );
  const list =
    entries.length > 0
      ? html`<ul class="services">${items}</ul>`
      : html`<p>No services are listed yet. The operator adds them with <code>display.url</code> in <code>issuer.clients</code>.</p>`;
  return layout(
    'Services',
    html`<h1>Services</h1><p>Signed in as <strong>${user}</strong>. These services sign you in with the same account.</p>${list}${signOutForm({ secondary: true, base })}`,
  );
}

export async function services(ctx: GatewayContext, s: Scope): Promise<void> {
  const p = loadSession(ctx, s);
  if (p) await p;
  const session = s.session;
  if (session === undefined) {
    if (s.wantsJson()) sendError(ctx.log, s, 'PCL_UNAUTHENTICATED', { json: true });
    else await sendToSignIn(ctx, s, `${ctx.config.basePath}/oauth2/services`);
    return;
  }
  const outcome = authorizeScope(ctx, s, 'services', session);
  if (outcome.kind === 'denied') {
    sendForbidden(ctx, s, outcome.decision);
    return;
  }
  const entries = serviceEntries(ctx);
  if (s.wantsJson()) {
    sendJson(s, 200, { services: entries });
    return;
  }
  const i = session.identity;
  sendHtml(s, 200, servicesPage(entries, i.preferredUsername ?? i.email ?? i.sub, ctx.config.basePath));
}
