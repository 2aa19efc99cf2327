/**
 * Sessions (server-side stores only): who is signed in, since when, through which provider — for the users
 * this instance has seen recently and any user looked up by provider and id — and revoking one session or
 * all of a user's (with their grants at the issuer), as `portcullis sessions revoke` and "sign out
 * everywhere" do. A listing shows the store key's first 12 characters, never the cookie's id.
 */
import { type Html, html } from '../../http/html.ts';
import type { UserRef, UserSession, UserSessions } from '../../sessions/store.ts';
import { panelHref, when } from '../layout.ts';
import type { PanelInput } from '../panel.ts';
import { recentPrincipals } from '../principals.ts';

const MAX_USERS = 50;

async function act(p: PanelInput, users: UserSessions, form: URLSearchParams): Promise<Html | undefined> {
  const user: UserRef = { provider: form.get('provider') ?? '', sub: form.get('sub') ?? '' };
  if (user.provider === '' || user.sub === '')
    return html`<p class="notice">Name the user: provider and id.</p>`;
  const action = form.get('action');
  if (action === 'revoke-one') {
    const ref = form.get('ref') ?? '';
    const ended = await users.endOne(user, ref);
    p.audit('session-revoked', { user: user.sub, userProvider: user.provider, ref, ended });
    return html`<p class="notice" id="result">${ended ? 'Ended' : 'No live session'} <code>${ref}</code> of ${user.sub} (${user.provider}).</p>`;
  }
  if (action === 'revoke-all') {
    const ended = await users.endUser(user);
    const grants = (await p.ctx.issuer?.endUser(user)) ?? 0;
    p.audit('user-signed-out', { user: user.sub, userProvider: user.provider, sessions: ended, grants });
    return html`<p class="notice" id="result">Signed ${user.sub} (${user.provider}) out everywhere: ${ended} session(s) ended, ${grants} issuer grant(s) revoked.</p>`;
  }
  return undefined;
}

function userBlock(base: string, user: UserRef, label: string, list: readonly UserSession[]): Html {
  const hidden = html`<input type="hidden" name="provider" value="${user.provider}"><input type="hidden" name="sub" value="${user.sub}">`;
  const rows = list.map(
    (x) =>
      html`<tr><td><code>${x.ref}</code></td><td>${x.provider}</td><td>${when(x.createdAt * 1000)}</td><td>${when(x.expiresAt * 1000)}</td><td><form class="inline" method="post" action="${panelHref(base, 'sessions')}">${hidden}<input type="hidden" name="action" value="revoke-one"><input type="hidden" name="ref" value="${x.ref}"><button type="submit" class="danger">End</button></form></td></tr>`,
  );
  const since = list.length > 0 ? when(Math.min(...list.map((x) => x.createdAt)) * 1000) : undefined;
  return html`<h2>${label} <span class="muted">${user.provider} · ${user.sub}</span></h2>
<p>${list.length} live session(s)${since && html`, signed in since ${since}`}.
<form class="inline" method="post" action="${panelHref(base, 'sessions')}">${hidden}<input type="hidden" name="action" value="revoke-all"><button type="submit" class="danger">Sign out everywhere</button></form></p>
${list.length > 0 && html`<table class="sessions"><thead><tr><th>Session</th><th>Provider</th><th>Signed in (UTC)</th><th>Expires (UTC)</th><th></th></tr></thead><tbody>${rows}</tbody></table>`}`;
}

export async function sessionsPanel(p: PanelInput) {
  const base = p.ctx.config.basePath;
  const users = p.ctx.sessions.users;
  if (users === undefined) {
    return html`<section><h1>Sessions</h1><p class="notice">Sessions here are cookie sessions: each lives in its browser, so nobody can list or end them from the server. Use <code>sessions.store: redis</code> (or <code>storage</code>) to see and revoke them (docs/console.md).</p></section>`;
  }
  const result = p.form !== undefined ? await act(p, users, p.form) : undefined;
  const now = p.ctx.now();
  const lookup = { provider: p.query.get('provider') ?? '', sub: (p.query.get('sub') ?? '').trim() };
  const blocks: Html[] = [];
  if (lookup.provider !== '' && lookup.sub !== '') {
    p.audit('session-lookup', { user: lookup.sub, userProvider: lookup.provider });
    blocks.push(userBlock(base, lookup, 'Looked up', await users.listUser(lookup, now)));
  }
  for (const principal of recentPrincipals(p.deps.recorder.decisions(), MAX_USERS)) {
    const user = { provider: principal.provider, sub: principal.identity.sub };
    if (user.provider === lookup.provider && user.sub === lookup.sub) continue; // shown above
    const list = await users.listUser(user, now);
    if (list.length === 0) continue;
    const i = principal.identity;
    blocks.push(userBlock(base, user, i.email ?? i.preferredUsername ?? i.sub, list));
  }
  const options = [...p.ctx.providers.keys()].map(
    (id) => html`<option value="${id}"${id === lookup.provider && html` selected`}>${id}</option>`,
  );
  return html`<section><h1>Sessions</h1>${result}
<form method="get" action="${panelHref(base, 'sessions')}" class="grid"><label for="s-provider">Provider</label><select id="s-provider" name="provider">${options}</select><label for="s-sub">User id</label><input id="s-sub" name="sub" value="${lookup.sub}" placeholder="sub, as in X-Forwarded-User"><span></span><span><button type="submit">Look up</button></span></form>
<p class="muted">Signed-in users seen by this instance recently, and any user looked up.</p>${blocks.length > 0 ? blocks : html`<p>No live sessions among the users seen recently.</p>`}</section>`;
}
