/**
 * Explain: a user (picked from the recent ones, or typed as claims) and a path or an issuer client, decided
 * layer by layer by `explain` (src/policy/explain.ts) — the policy the gate compiles, through the loop
 * `authorize` runs — so what it shows is what the gate answers. Read-only: a GET form.
 */
import { readTarget } from '../../config/paths.ts';
import { type Html, html } from '../../http/html.ts';
import type { Principal } from '../../policy/decision.ts';
import { type Explanation, explain } from '../../policy/explain.ts';
import { panelHref } from '../layout.ts';
import type { PanelInput } from '../panel.ts';
import { principalKey, recentPrincipals } from '../principals.ts';

const list = (v: string | null) =>
  (v ?? '')
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x !== '');

/** The principal the form names: a recent user (`user` = "provider sub"), else the typed claims. */
function principalOf(p: PanelInput, recent: readonly Principal[]): Principal | string | undefined {
  const q = p.query;
  const key = q.get('user') ?? '';
  if (key !== '') return recent.find((r) => principalKey(r) === key) ?? `no recent user ${key}`;
  const email = (q.get('email') ?? '').trim();
  const username = (q.get('username') ?? '').trim();
  const groups = list(q.get('groups'));
  const claims = claimsOf(q.get('claims'));
  if (email === '' && username === '' && groups.length === 0 && claims === undefined) return undefined;
  const provider = q.get('provider') ?? [...p.ctx.providers.keys()][0] ?? '';
  return {
    provider,
    identity: {
      sub: (q.get('sub') ?? '').trim() || email || username || 'typed-user',
      ...(email !== '' ? { email, emailVerified: true } : {}),
      ...(username !== '' ? { preferredUsername: username } : {}),
      groups,
      ...(claims !== undefined ? { claims } : {}),
    },
  };
}

/** `dept=eng, role=a, role=b`: the claims `requirements` rules read (a repeated key makes a list). */
function claimsOf(v: string | null): Record<string, string | string[]> | undefined {
  const out: Record<string, string | string[]> = {};
  for (const pair of list(v)) {
    const i = pair.indexOf('=');
    if (i <= 0) continue;
    const k = pair.slice(0, i).trim();
    const x = pair.slice(i + 1).trim();
    const had = out[k];
    out[k] = had === undefined ? x : [...(Array.isArray(had) ? had : [had]), x];
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

function result(e: Explanation): Html {
  const steps = e.steps.map(
    (
      st,
    ) => html`<h2>${st.path === undefined ? 'The gateway at all (top level and provider)' : html`Path <code>${st.path}</code>`}: <span class="${st.allow ? 'ok' : 'fail'}">${st.allow ? 'allowed' : 'refused'}</span></h2>
<table class="layers"><thead><tr><th>Layer</th><th>Criterion</th><th>Result</th><th>Why</th></tr></thead><tbody>${st.layers.map(
      (l) =>
        l.criteria.length === 0
          ? html`<tr><td>${l.layer}${l.route && html` <code>${l.route}</code>`}</td><td class="muted">no rules</td><td class="ok">held</td><td></td></tr>`
          : l.criteria.map(
              (c) =>
                html`<tr><td>${l.layer}${l.route && html` <code>${l.route}</code>`}</td><td>${c.label}</td><td class="${c.outcome === 'held' ? 'ok' : c.outcome === 'failed' ? 'fail' : 'skip'}">${c.outcome}</td><td>${c.reasons.map((r) => html`<code>${r}</code> `)}${c.why}</td></tr>`,
            ),
    )}</tbody></table>`,
  );
  return html`<div id="explanation"><p class="notice">Outcome: <span class="${e.allow ? 'ok' : 'fail'}" id="outcome">${e.allow ? 'allowed' : 'refused'}</span>${e.reasons.length > 0 && html` — ${e.reasons.map((r) => html`<code>${r}</code> `)}`}</p>${e.notes.map((n) => html`<p class="muted">${n}</p>`)}${steps}</div>`;
}

export function explainPanel(p: PanelInput) {
  const base = p.ctx.config.basePath;
  const q = p.query;
  const recent = recentPrincipals(p.deps.recorder.decisions());
  const chosen = principalOf(p, recent);
  const rawPath = (q.get('path') ?? '').trim();
  const client = (q.get('client') ?? '').trim();
  let out: Html | undefined;
  if (typeof chosen === 'string') out = html`<p class="notice">${chosen}: pick another user.</p>`;
  else if (chosen !== undefined) {
    const target = rawPath === '' ? undefined : readTarget(rawPath);
    if (typeof target === 'string')
      out = html`<p class="notice">The path <code>${rawPath}</code> is refused by the gate itself (${target}).</p>`;
    else {
      const e = explain(p.ctx.config, chosen, {
        paths: target === undefined ? [] : [target.path],
        ...(client !== '' ? { client } : {}),
      });
      p.audit('explain', {
        user: chosen.identity.sub,
        userProvider: chosen.provider,
        path: target?.path,
        client: client || undefined,
        allow: e.allow,
      });
      out = result(e);
    }
  }
  const userOptions = recent.map(
    (r) =>
      html`<option value="${principalKey(r)}"${principalKey(r) === q.get('user') && html` selected`}>${r.identity.email ?? r.identity.preferredUsername ?? r.identity.sub} (${r.provider})</option>`,
  );
  const providers = [...p.ctx.providers.keys()].map(
    (id) => html`<option value="${id}"${id === q.get('provider') && html` selected`}>${id}</option>`,
  );
  const v = (k: string) => q.get(k) ?? '';
  return html`<section><h1>Explain a decision</h1>
<form method="get" action="${panelHref(base, 'explain')}" class="grid">
<label for="e-user">Recent user</label><select id="e-user" name="user"><option value="">— or type claims below —</option>${userOptions}</select>
<label for="e-provider">Provider</label><select id="e-provider" name="provider">${providers}</select>
<label for="e-email">E-mail</label><input id="e-email" name="email" value="${v('email')}" placeholder="alice@example.com">
<label for="e-groups">Groups</label><input id="e-groups" name="groups" value="${v('groups')}" placeholder="admins, sre">
<label for="e-claims">Claims</label><input id="e-claims" name="claims" value="${v('claims')}" placeholder="dept=eng, role=admin">
<label for="e-username">Username</label><input id="e-username" name="username" value="${v('username')}">
<label for="e-path">Path</label><input id="e-path" name="path" value="${rawPath}" placeholder="/admin/x">
<label for="e-client">or issuer client</label><input id="e-client" name="client" value="${client}" placeholder="service-grafana">
<span></span><span><button type="submit">Explain</button></span></form></section>${out && html`<section>${out}</section>`}`;
}
