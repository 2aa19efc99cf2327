/**
 * Live checks: `portcullis check`'s findings (src/doctor/) for the configuration this instance runs,
 * re-run on demand (a POST: each run asks the IdPs, upstreams and stores), with the fix of each. Findings
 * carry no secret (doctor/finding.ts), and are escaped like everything else.
 */
import { checkConfig, summarize } from '../../doctor/run.ts';
import { html } from '../../http/html.ts';
import { panelHref, when } from '../layout.ts';
import type { PanelInput } from '../panel.ts';

export async function checksPanel(p: PanelInput) {
  const base = p.ctx.config.basePath;
  if (p.form !== undefined) {
    const findings = await checkConfig(p.ctx.config);
    p.state.lastChecks = { at: Date.now(), findings };
    const sum = summarize(findings, false);
    p.audit('checks-run', { ok: sum.ok, warn: sum.warn, fail: sum.fail });
  }
  const last = p.state.lastChecks;
  const run = html`<form method="post" action="${panelHref(base, 'checks')}"><button type="submit" id="run-checks">Run the checks now</button></form>`;
  if (last === undefined) {
    return html`<section><h1>Live checks</h1><p>The checks of <code>portcullis check</code> against the configuration this instance runs: discovery, issuer, keys, redirect URI, client credentials, clock, upstreams and stores.</p>${run}</section>`;
  }
  const sum = summarize(last.findings, false);
  const rows = last.findings.map(
    (f) =>
      html`<tr><td class="${f.status}">${f.status}</td><td><code>${f.id}</code></td><td>${f.subject}</td><td>${f.message}${f.detail && html`<br><span class="muted">${f.detail}</span>`}</td><td>${f.fix ?? ''}</td></tr>`,
  );
  return html`<section><h1>Live checks</h1><p>Run at ${when(last.at)}: <span class="ok">${sum.ok} ok</span>, <span class="warn">${sum.warn} warnings</span>, <span class="fail">${sum.fail} failed</span>, ${sum.skip} skipped.</p>${run}
<table id="findings"><thead><tr><th>Status</th><th>Check</th><th>Subject</th><th>Finding</th><th>Fix</th></tr></thead><tbody>${rows}</tbody></table></section>`;
}
