/**
 * Sign-in traces (issue 15): the steps of each recent sign-in — start, the redirect to the IdP, the
 * callback, the code exchange, the ID token checks, userinfo and membership lookups, the access rules — with
 * their durations and the exact failure, so "the login loops" or "it says invalid_grant" is answered from
 * the console by request id. Bounded and in memory, per instance: the oldest trace goes when the store is
 * full. A trace is found by the request id of its start or of its callback; the callback finds the start's
 * trace by the sign-in's state (kept as a key only, never shown). Steps hold codes and messages, never a
 * token, code or cookie value.
 */
import { PortcullisError } from '../errors/codes.ts';

export interface TraceStep {
  readonly name: string;
  /** Milliseconds from the trace's start to the step's start. */
  readonly at: number;
  readonly ms: number;
  readonly ok: boolean;
  /** What happened, for an operator: the IdP host, the user, the failure's message. */
  readonly detail?: string | undefined;
  /** The failure's PCL_ code. */
  readonly code?: string | undefined;
}

export type TraceOutcome = 'in progress' | 'signed in' | 'denied' | 'failed';

/** Times a step of the sign-in: what a provider's signIn is handed (src/idp/). */
export type StepTimer = <T>(
  name: string,
  fn: () => Promise<T>,
  detail?: (v: T) => string | undefined,
) => Promise<T>;

export class SignInTrace {
  readonly started: number;
  readonly requestIds: string[] = [];
  readonly steps: TraceStep[] = [];
  provider: string | undefined;
  outcome: TraceOutcome = 'in progress';
  readonly #clock: () => number;

  constructor(requestId: string, clock: () => number) {
    this.#clock = clock;
    this.started = clock();
    this.requestIds.push(requestId);
  }

  /** A step that took no measurable time (a decision, a redirect). */
  note(name: string, ok: boolean, detail?: string, code?: string): void {
    const at = this.#clock() - this.started;
    this.steps.push({ name, at, ms: 0, ok, detail, code });
    if (!ok && this.outcome === 'in progress') this.outcome = 'failed';
  }

  /** Runs and times `fn`; a throw is recorded with its code and message, and thrown on. */
  readonly time: StepTimer = async (name, fn, detail) => {
    const t0 = this.#clock();
    try {
      const v = await fn();
      this.steps.push({ name, at: t0 - this.started, ms: this.#clock() - t0, ok: true, detail: detail?.(v) });
      return v;
    } catch (err) {
      const e = err instanceof PortcullisError ? err : undefined;
      this.steps.push({
        name,
        at: t0 - this.started,
        ms: this.#clock() - t0,
        ok: false,
        code: e?.code,
        detail: e ? e.detail : String(err),
      });
      this.outcome = 'failed';
      throw err;
    }
  };
}

/** Runs `fn`, as a step of the trace when there is one. */
export function timed<T>(trace: SignInTrace | undefined, name: string, fn: () => Promise<T>): Promise<T> {
  return trace === undefined ? fn() : trace.time(name, fn);
}

/** The access rules' step of a sign-in: who, and the reason codes of a denial. */
export function noteRules(
  trace: SignInTrace | undefined,
  who: {
    readonly email?: string | undefined;
    readonly preferredUsername?: string | undefined;
    readonly sub: string;
  },
  denied: readonly string[] | undefined,
): void {
  if (trace === undefined) return;
  const user = who.email ?? who.preferredUsername ?? who.sub;
  const ok = denied === undefined;
  trace.note(
    'access rules',
    ok,
    `${user}: ${ok ? 'allowed' : denied.join(', ')}`,
    ok ? undefined : 'PCL_FORBIDDEN',
  );
  if (!ok) trace.outcome = 'denied';
}

export class TraceStore {
  readonly #max: number;
  readonly #clock: () => number;
  /** Request id → trace (a trace is under its start's and its callback's ids); insertion order = age. */
  readonly #byRequest = new Map<string, SignInTrace>();
  readonly #byState = new Map<string, SignInTrace>();

  constructor(max: number, clock: () => number = Date.now) {
    this.#max = max;
    this.#clock = clock;
  }

  /** A sign-in starts (/oauth2/start): its trace, found later by `state` at the callback. */
  begin(requestId: string, provider: string | undefined): SignInTrace {
    const t = new SignInTrace(requestId, this.#clock);
    t.provider = provider;
    this.#put(this.#byRequest, requestId, t);
    return t;
  }

  /** The state the IdP will return: the callback finds the trace by it. */
  bindState(state: string, t: SignInTrace): void {
    this.#put(this.#byState, state, t);
  }

  /** The callback's trace: the start's (found by state, once), or a new one when the start is unknown here. */
  callback(requestId: string, state: string | null): SignInTrace {
    const found = state === null ? undefined : this.#byState.get(state);
    if (state !== null) this.#byState.delete(state);
    if (found === undefined) return this.begin(requestId, undefined);
    found.requestIds.push(requestId);
    this.#put(this.#byRequest, requestId, found);
    return found;
  }

  get(requestId: string): SignInTrace | undefined {
    return this.#byRequest.get(requestId);
  }

  /** The most recent traces, newest first (each once). */
  recent(limit: number): SignInTrace[] {
    const seen = new Set<SignInTrace>();
    const all = [...this.#byRequest.values()].reverse();
    for (const t of all) {
      if (seen.size >= limit) break;
      seen.add(t);
    }
    return [...seen];
  }

  #put(map: Map<string, SignInTrace>, key: string, t: SignInTrace): void {
    map.delete(key);
    map.set(key, t);
    // Each trace is under at most two request ids: 2 × max keys keeps `max` traces.
    while (map.size > this.#max * 2) map.delete(map.keys().next().value!);
  }
}
