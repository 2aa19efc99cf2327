/** Sign-in traces: one by request id (of its start or its callback), or the recent ones of this instance. */
import { html } from '../../http/html.ts';
import type { SignInTrace } from '../../login/trace.ts';
import { panelHref, when } from '../layout.ts';
import type { PanelInput } from '../panel.ts';

function outcomeClass(t: SignInTrace): string {
  return t.outcome === 'signed in' ? 'ok' : t.outcome === 'in progress' ? 'skip' : 'fail';
}

export function tracePanel(p: PanelInput) {
  const base = p.ctx.config.basePath;
  const id = (p.query.get('id') ?? '').trim().slice(0, 128);
  const form = html`<form method="get" action="${panelHref(base, 'trace')}" class="grid"><label for="t-id">Request id</label><input id="t-id" name="id" value="${id}" placeholder="the request id on the error page or in the log" size="40"><span></span><span><button type="submit">Show the trace</button></span></form>`;
  if (id === '') {
    const rows = p.deps.traces
      .recent(50)
      .map(
        (t) =>
          html`<tr><td>${when(t.started)}</td><td>${t.provider ?? ''}</td><td class="${outcomeClass(t)}">${t.outcome}</td><td>${t.requestIds.map((r) => html`<a href="${panelHref(base, 'trace')}?id=${encodeURIComponent(r)}"><code>${r}</code></a> `)}</td></tr>`,
      );
    return html`<section><h1>Sign-in trace</h1>${form}<h2>Recent sign-ins on this instance</h2><table id="traces"><thead><tr><th>Started (UTC)</th><th>Provider</th><th>Outcome</th><th>Request ids</th></tr></thead><tbody>${rows}</tbody></table></section>`;
  }
  p.audit('trace', { traceId: id });
  const t = p.deps.traces.get(id);
  if (t === undefined) {
    return html`<section><h1>Sign-in trace</h1>${form}<p class="notice">No sign-in with request id <code>${id}</code> on this instance: it may have been served by another instance, or be older than the last ${p.ctx.config.admin.traces} sign-ins.</p></section>`;
  }
  const rows = t.steps.map(
    (st) =>
      html`<tr><td>+${st.at} ms</td><td>${st.name}</td><td class="${st.ok ? 'ok' : 'fail'}">${st.ok ? 'ok' : 'failed'}</td><td>${st.ms} ms</td><td>${st.code && html`<code>${st.code}</code> `}${st.detail ?? ''}</td></tr>`,
  );
  return html`<section><h1>Sign-in trace</h1>${form}<p>Started ${when(t.started)} with provider <strong>${t.provider ?? 'unknown'}</strong>: <span class="${outcomeClass(t)}" id="trace-outcome">${t.outcome}</span>. Request ids: ${t.requestIds.map((r) => html`<code>${r}</code> `)}</p>
<table id="trace-steps"><thead><tr><th>At</th><th>Step</th><th>Result</th><th>Took</th><th>Detail</th></tr></thead><tbody>${rows}</tbody></table></section>`;
}
