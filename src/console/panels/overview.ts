/** The console's first page: what each panel answers, with this instance's counts. */
import { html } from '../../http/html.ts';
import { panelHref } from '../layout.ts';
import type { PanelInput } from '../panel.ts';
import { recentPrincipals } from '../principals.ts';

export async function overviewPanel(p: PanelInput) {
  const base = p.ctx.config.basePath;
  const decisions = p.deps.recorder.decisions();
  const denials = await p.deps.recorder.denials();
  const users = recentPrincipals(decisions);
  const link = (id: Parameters<typeof panelHref>[1], text: string) =>
    html`<a href="${panelHref(base, id)}">${text}</a>`;
  return html`<section><h1>Operator console</h1>
<p>This instance has recorded <strong>${decisions.length}</strong> recent decisions about <strong>${users.length}</strong> users; <strong>${denials.length}</strong> recent denials (${p.deps.recorder.denialsSource === 'redis' ? 'every instance, from Redis' : 'this instance'}).</p>
<ul>
<li>${link('explain', 'Explain')}: why a user is let in or refused, layer by layer.</li>
<li>${link('what-if', 'What-if')}: which recent decisions a changed rule would turn around.</li>
<li>${link('denials', 'Recent denials')}: who was refused, where, and why.</li>
<li>${link('checks', 'Live checks')}: the findings of <code>portcullis check</code>, run now.</li>
<li>${link('sessions', 'Sessions')}: who is signed in; end one session or all of a user's.</li>
<li>${link('trace', 'Sign-in trace')}: the steps of a sign-in by request id.</li>
</ul></section>`;
}
