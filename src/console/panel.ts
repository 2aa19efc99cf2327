/**
 * What the console gives a panel, in a module of its own: the panels (./panels/) and the console that
 * routes to them (./console.ts) both import it, and neither imports the other's caller.
 */
import type { Finding } from '../doctor/finding.ts';
import type { GatewayContext } from '../http/context.ts';
import type { Html } from '../http/html.ts';
import type { Scope } from '../http/scope.ts';
import type { TraceStore } from '../login/trace.ts';
import type { DecisionRecorder } from '../policy/recorder.ts';
import type { Session } from '../sessions/session.ts';

export interface ConsoleDeps {
  readonly recorder: DecisionRecorder;
  readonly traces: TraceStore;
}

/** What a panel is given: the request, the operator, the recorder and traces, the form of a POST. */
export interface PanelInput {
  readonly ctx: GatewayContext;
  readonly s: Scope;
  readonly admin: Session;
  readonly deps: ConsoleDeps;
  /** The POSTed form (same-origin checked); undefined for a GET. */
  readonly form: URLSearchParams | undefined;
  readonly query: URLSearchParams;
  /** The console's state kept across requests (the last live checks). */
  readonly state: ConsoleState;
  /** Writes one audit line `console.<event>` with the operator and the request id. */
  audit(event: string, fields?: Record<string, unknown>): void;
}

export interface ConsoleState {
  lastChecks?: { readonly at: number; readonly findings: readonly Finding[] };
}

export type Panel = (p: PanelInput) => Html | Promise<Html>;
