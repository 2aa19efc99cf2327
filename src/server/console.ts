/**
 * The operator console's parts (issue 15), made once at start-up when `admin.enabled` and kept across
 * reloads: the decision recorder (the authorize step's sink), the sign-in traces, the console itself. The
 * console's module is loaded only when it is on. Denials are shared in Redis when server-side sessions are
 * there (src/console/denials.ts), else kept per instance.
 */
import type { ResolvedConfig } from '../config/load.ts';
import type { ConsoleMount } from '../http/context.ts';
import { TraceStore } from '../login/trace.ts';
import type { Logger } from '../observability/log.ts';
import { DecisionRecorder } from '../policy/recorder.ts';
import type { Storage } from '../storage/storage.ts';

export interface AdminParts {
  readonly console: ConsoleMount;
  readonly recorder: DecisionRecorder;
  readonly traces: TraceStore;
}

export async function startConsole(
  config: ResolvedConfig,
  log: Logger,
  sessionStorage: Storage | undefined,
): Promise<AdminParts | undefined> {
  if (!config.admin.enabled) return undefined;
  const [{ Console }, { sharedDenials }] = await Promise.all([
    import('../console/console.ts'),
    import('../console/denials.ts'),
  ]);
  const a = config.admin;
  const recorder = new DecisionRecorder({
    decisions: a.decisions,
    denials: a.denials,
    shared: sharedDenials(sessionStorage, a.denials, log),
  });
  const traces = new TraceStore(a.traces);
  return { console: new Console({ recorder, traces }), recorder, traces };
}
