/**
 * The operator console's page frame: a header with the panels, the signed-in operator, and the same
 * escaping (src/http/html.ts) and headers (CSP with no scripts, no framing) as every Portcullis page.
 */
import { type Html, html, rawHtml } from '../http/html.ts';

export const PANELS = [
  ['explain', 'Explain'],
  ['what-if', 'What-if'],
  ['denials', 'Recent denials'],
  ['checks', 'Live checks'],
  ['sessions', 'Sessions'],
  ['trace', 'Sign-in trace'],
] as const;
export type PanelId = (typeof PANELS)[number][0];

const STYLE = rawHtml(`
  :root { color-scheme: light dark; font-family: system-ui, -apple-system, "Segoe UI", sans-serif; }
  body { margin: 0; background: #f4f5f7; color: #1d2330; }
  header { background: #1d2330; color: #fff; padding: .6rem 1.5rem; display: flex; gap: 1.2rem; align-items: center; flex-wrap: wrap; }
  header a { color: #cfd6ff; text-decoration: none; } header a.on { color: #fff; font-weight: 600; border-bottom: 2px solid #fff; }
  header .who { margin-left: auto; font-size: .85rem; color: #b8bdd0; }
  main { max-width: 72rem; margin: 1.2rem auto; padding: 0 1.5rem; }
  section { background: #fff; border-radius: 10px; box-shadow: 0 1px 6px rgb(0 0 0 / 8%); padding: 1rem 1.4rem; margin-bottom: 1rem; }
  h1 { font-size: 1.25rem; margin: .2rem 0 .8rem; } h2 { font-size: 1.05rem; margin: .6rem 0; }
  table { border-collapse: collapse; width: 100%; font-size: .88rem; } th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid #e3e5ea; vertical-align: top; }
  th { font-weight: 600; color: #4b5263; }
  form.inline { display: inline; } form.grid { display: grid; grid-template-columns: max-content 1fr; gap: .4rem .8rem; align-items: center; max-width: 44rem; }
  input, select, textarea { font: inherit; padding: .3rem .45rem; border: 1px solid #c5c9d3; border-radius: 6px; }
  textarea { width: 100%; min-height: 10rem; font-family: ui-monospace, monospace; font-size: .85rem; }
  button { font: inherit; padding: .35rem .9rem; border-radius: 6px; border: 1px solid #2f54eb; background: #2f54eb; color: #fff; cursor: pointer; }
  button.danger { background: #c62828; border-color: #c62828; }
  .ok { color: #1b7f3b; font-weight: 600; } .fail { color: #c62828; font-weight: 600; } .warn { color: #a15c00; font-weight: 600; } .skip { color: #6b7280; }
  .muted { color: #6b7280; font-size: .85rem; } code { font-size: .85em; overflow-wrap: anywhere; }
  .notice { background: #eef2ff; border-left: 4px solid #2f54eb; padding: .5rem .8rem; margin: .6rem 0; }
  @media (prefers-color-scheme: dark) { body { background: #111318; color: #e6e8ee; } section { background: #1b1e26; } th, td { border-color: #2c303b; } th { color: #aab0c0; } }
`);

export interface Frame {
  readonly base: string;
  readonly panel: PanelId | undefined;
  /** The operator, as the header shows them. */
  readonly who: string;
}

/** The console's link for a panel (under publicUrl's path). */
export function panelHref(base: string, panel?: PanelId): string {
  return `${base}/oauth2/admin${panel ? `/${panel}` : ''}`;
}

export function consolePage(f: Frame, title: string, body: Html): string {
  const nav = PANELS.map(
    ([id, name]) =>
      html`<a href="${panelHref(f.base, id)}"${f.panel === id && rawHtml(' class="on"')}>${name}</a>`,
  );
  return html`<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta name="robots" content="noindex"><title>${title} · Portcullis console</title><style>${STYLE}</style></head><body><header><a href="${panelHref(f.base)}"><strong>Portcullis console</strong></a>${nav}<span class="who">signed in as ${f.who}</span></header><main>${body}</main></body></html>`.toString();
}

/** Epoch milliseconds as an ISO time without milliseconds. */
export function when(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** The user a record or session names, as an operator reads it. */
export function userLabel(i: {
  readonly email?: string | undefined;
  readonly preferredUsername?: string | undefined;
  readonly sub: string;
}): string {
  return i.email ?? i.preferredUsername ?? i.sub;
}
