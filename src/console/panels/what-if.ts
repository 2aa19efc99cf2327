/**
 * What-if: a changed `allow` block or `routes` pasted as YAML, checked as the configuration file is, then
 * `whatIf` (src/policy/what-if.ts) replays this instance's recent decisions and decides for the users seen
 * recently under the current and the changed rules: the list is what would turn around. Nothing is applied.
 * A POST (the YAML can be long); the console's own decisions (a rule of their own) are left out.
 */
import { ConfigError } from '../../config/errors.ts';
import { type Html, html } from '../../http/html.ts';
import { type WhatIfResult, whatIf } from '../../policy/what-if.ts';
import { panelHref, when } from '../layout.ts';
import type { PanelInput } from '../panel.ts';
import { recentPrincipals } from '../principals.ts';

const MAX_YAML = 8 * 1024;

function outcome(o: { readonly allow: boolean; readonly reasons: readonly string[] }): Html {
  return html`<span class="${o.allow ? 'ok' : 'fail'}">${o.allow ? 'allowed' : 'refused'}</span>${o.reasons.map((r) => html` <code>${r}</code>`)}`;
}

function report(r: WhatIfResult): Html {
  const rows = r.changed.map(
    (c) =>
      html`<tr><td>${c.kind === 'decision' && c.time !== undefined ? when(c.time) : 'known user'}</td><td>${c.who}</td><td>${c.paths.length > 0 ? c.paths.map((x) => html`<code>${x}</code> `) : html`<span class="muted">sign-in</span>`}</td><td>${outcome(c.before)}</td><td>${outcome(c.after)}</td></tr>`,
  );
  return html`<div id="what-if-result"><p class="notice"><strong id="changed-count">${r.changed.length}</strong> would change, of ${r.decisions.length} recent decisions and ${r.principals.length} known users (decided at ${r.probes.length} path(s) each).</p>
${r.changed.length > 0 && html`<table id="what-if-changes"><thead><tr><th>When</th><th>Who</th><th>Paths</th><th>Now</th><th>With the change</th></tr></thead><tbody>${rows}</tbody></table>`}</div>`;
}

export function whatIfPanel(p: PanelInput) {
  const base = p.ctx.config.basePath;
  const yaml = (p.form?.get('change') ?? '').slice(0, MAX_YAML);
  let out: Html | undefined;
  if (p.form !== undefined && yaml.trim() !== '') {
    const decisions = p.deps.recorder.decisions().filter((d) => d.surface !== 'console');
    const principals = recentPrincipals(decisions);
    try {
      const r = whatIf(p.ctx.config, yaml, decisions, principals);
      p.audit('what-if', {
        changed: r.changed.length,
        decisions: decisions.length,
        users: principals.length,
      });
      out = report(r);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      p.audit('what-if', { invalid: err.problems.length });
      out = html`<div class="notice" id="what-if-problems"><p>The change is not a valid configuration:</p><ul>${err.problems.map((x) => html`<li><code>${x}</code></li>`)}</ul></div>`;
    }
  }
  return html`<section><h1>What if</h1><p>Paste a changed top-level <code>allow</code> block or <code>routes</code> list, as in the configuration file. Nothing is applied: reload the configuration to do that.</p>
<form method="post" action="${panelHref(base, 'what-if')}"><textarea name="change" id="change" placeholder="allow:\n  groups: [staff]">${yaml}</textarea><p><button type="submit">Show what would change</button></p></form></section>${out && html`<section>${out}</section>`}`;
}
