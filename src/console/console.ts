/**
 * The operator console at <basePath>/oauth2/admin (issue 15, docs/console.md), mounted by the gateway as
 * the issuer is (http/context.ts ConsoleMount). Who may use it is the authorize step's `console` surface:
 * the gate's rules and `admin.allow` on top. Anonymous → sign in; signed in but not an admin → the 403
 * page. Forms POST under the same-origin rule of every Portcullis form (http/same-origin.ts); each view
 * and each action is one audit line (`console.*`) naming the operator. Pages are server-rendered with the
 * escaping `html` tag and the CSP of every page (no scripts); nothing shown is a token, secret or cookie.
 */
import { PortcullisError } from '../errors/codes.ts';
import type { ConsoleMount, GatewayContext } from '../http/context.ts';
import { authorizeScope, sendForbidden } from '../http/forbidden.ts';
import { readForm } from '../http/form.ts';
import { redirect, sendError, sendHtml } from '../http/respond.ts';
import { crossSiteReason } from '../http/same-origin.ts';
import type { Scope } from '../http/scope.ts';
import { loadSession } from '../http/session.ts';
import { ownPath } from '../http/target.ts';
import { consolePage, PANELS, type PanelId, panelHref, userLabel } from './layout.ts';
import type { ConsoleDeps, ConsoleState, Panel } from './panel.ts';
import { checksPanel } from './panels/checks.ts';
import { denialsPanel } from './panels/denials.ts';
import { explainPanel } from './panels/explain.ts';
import { overviewPanel } from './panels/overview.ts';
import { sessionsPanel } from './panels/sessions.ts';
import { tracePanel } from './panels/trace.ts';
import { whatIfPanel } from './panels/what-if.ts';

export type { ConsoleDeps, ConsoleState, Panel, PanelInput } from './panel.ts';

export const CONSOLE_PATH = '/oauth2/admin';

const PANEL_FNS: Readonly<Record<PanelId | '', Panel>> = {
  '': overviewPanel,
  explain: explainPanel,
  'what-if': whatIfPanel,
  denials: denialsPanel,
  checks: checksPanel,
  sessions: sessionsPanel,
  trace: tracePanel,
};

const METHODS = new Set(['GET', 'HEAD', 'POST']);

export class Console implements ConsoleMount {
  readonly #deps: ConsoleDeps;
  readonly #state: ConsoleState = {};

  constructor(deps: ConsoleDeps) {
    this.#deps = deps;
  }

  async handle(ctx: GatewayContext, s: Scope): Promise<void> {
    const base = ctx.config.basePath;
    const own = ownPath(base, s.path) ?? '';
    const rest = own.slice(CONSOLE_PATH.length).replace(/^\//, '');
    const panel = rest === '' || PANELS.some(([id]) => id === rest) ? (rest as PanelId | '') : undefined;
    if (panel === undefined) {
      sendError(ctx.log, s, new PortcullisError('PCL_NOT_FOUND', `no console panel ${s.path}`));
      return;
    }
    const method = s.req.method ?? 'GET';
    if (!METHODS.has(method)) {
      sendError(ctx.log, s, new PortcullisError('PCL_METHOD_NOT_ALLOWED', `${method} ${s.path}`), {
        extraHeaders: { Allow: [...METHODS].join(', ') },
      });
      return;
    }
    const loading = loadSession(ctx, s);
    if (loading) await loading;
    const admin = s.session;
    if (admin === undefined) {
      if (method === 'POST') sendError(ctx.log, s, 'PCL_UNAUTHENTICATED');
      else {
        const here = panelHref(base, panel || undefined) + s.query;
        const login = `${base}${ctx.autoStart ? '/oauth2/start' : '/oauth2/sign_in'}`;
        redirect(s, `${login}?rd=${encodeURIComponent(here)}`);
      }
      return;
    }
    const outcome = authorizeScope(ctx, s, 'console', admin, undefined, { panel: panel || 'overview' });
    if (outcome.kind === 'denied') {
      sendForbidden(ctx, s, outcome.decision);
      return;
    }
    let form: URLSearchParams | undefined;
    if (method === 'POST') {
      const refused = crossSiteReason(s, ctx.config.public.origin);
      if (refused !== undefined) {
        sendError(ctx.log, s, new PortcullisError('PCL_CROSS_SITE', `console form refused: ${refused}`), {
          retryHref: panelHref(base, panel || undefined),
        });
        return;
      }
      form = (await readForm(s.req)) ?? new URLSearchParams();
    }
    const audit = (event: string, fields: Record<string, unknown> = {}) =>
      ctx.log.info(
        {
          event: `console.${event}`,
          requestId: s.id,
          provider: admin.provider,
          sub: admin.identity.sub,
          email: admin.identity.email,
          panel: panel || 'overview',
          ...fields,
        },
        'operator console',
      );
    if (method !== 'POST') audit('view');
    const body = await PANEL_FNS[panel]({
      ctx,
      s,
      admin,
      deps: this.#deps,
      form,
      query: s.searchParams(),
      state: this.#state,
      audit,
    });
    const title = PANELS.find(([id]) => id === panel)?.[1] ?? 'Overview';
    sendHtml(
      s,
      200,
      consolePage({ base, panel: panel || undefined, who: userLabel(admin.identity) }, title, body),
    );
  }
}
