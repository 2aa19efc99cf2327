/** Recent denials, newest first, filterable by user, path and reason code (substring, any case). */
import { html } from '../../http/html.ts';
import type { DecisionRecord } from '../../policy/record.ts';
import { panelHref, userLabel, when } from '../layout.ts';
import type { PanelInput } from '../panel.ts';

function matches(r: DecisionRecord, user: string, path: string, reason: string): boolean {
  const i = r.principal.identity;
  const who = [i.sub, i.email, i.preferredUsername, i.name, r.principal.provider].join(' ').toLowerCase();
  if (user && !who.includes(user)) return false;
  if (path && !r.paths.some((p) => p.toLowerCase().includes(path))) return false;
  if (reason && !r.reasons.some((x) => x.toLowerCase().includes(reason))) return false;
  return true;
}

export async function denialsPanel(p: PanelInput) {
  const q = p.query;
  const user = (q.get('user') ?? '').trim().toLowerCase();
  const path = (q.get('path') ?? '').trim().toLowerCase();
  const reason = (q.get('reason') ?? '').trim().toLowerCase();
  const all = await p.deps.recorder.denials();
  const shown = all.filter((r) => matches(r, user, path, reason));
  const base = p.ctx.config.basePath;
  const rows = shown.map((r) => {
    const explain = new URLSearchParams({ user: `${r.principal.provider} ${r.principal.identity.sub}` });
    if (r.paths[0] !== undefined) explain.set('path', r.paths[0]);
    if (r.client !== undefined) explain.set('client', r.client);
    const trace = r.surface === 'sign-in' && r.requestId !== undefined;
    return html`<tr><td>${when(r.time)}</td><td>${userLabel(r.principal.identity)}<br><span class="muted">${r.principal.provider} · ${r.principal.identity.sub}</span></td><td>${r.surface}</td><td>${r.paths.map((x) => html`<code>${x}</code> `)}${r.client && html`client <code>${r.client}</code>`}</td><td>${r.reasons.map((x) => html`<code>${x}</code> `)}</td><td>${trace ? html`<a href="${panelHref(base, 'trace')}?id=${encodeURIComponent(r.requestId ?? '')}"><code>${r.requestId}</code></a>` : html`<code>${r.requestId ?? ''}</code>`}</td><td>${r.surface === 'console' ? html`<span class="muted">admin.allow</span>` : html`<a href="${panelHref(base, 'explain')}?${explain.toString()}">explain</a>`}</td></tr>`;
  });
  const source =
    p.deps.recorder.denialsSource === 'redis' ? 'every instance (Redis)' : 'this instance (memory)';
  return html`<section><h1>Recent denials</h1>
<form method="get" action="${panelHref(base, 'denials')}" class="grid">
<label for="f-user">User</label><input id="f-user" name="user" value="${q.get('user') ?? ''}" placeholder="e-mail, name or user id">
<label for="f-path">Path</label><input id="f-path" name="path" value="${q.get('path') ?? ''}" placeholder="/admin/">
<label for="f-reason">Reason</label><input id="f-reason" name="reason" value="${q.get('reason') ?? ''}" placeholder="group-missing">
<span></span><span><button type="submit">Filter</button></span></form>
<p class="muted">${shown.length} of ${all.length} recent denials, from ${source}.</p>
<table id="denials"><thead><tr><th>Time (UTC)</th><th>User</th><th>Surface</th><th>Path / client</th><th>Reasons</th><th>Request id</th><th></th></tr></thead><tbody>${rows}</tbody></table></section>`;
}
