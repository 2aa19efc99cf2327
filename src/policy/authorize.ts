/**
 * The one authorization step. Every surface that lets a user through or hands out their identity — proxied
 * requests, WebSocket upgrades, forward-auth, the services page, the sign-in callback, and the issuer's
 * authorization, token (code and refresh), userinfo and introspection — asks `authorize` and only renders
 * its outcome in its own form (a page, JSON, a forward-auth status, an OAuth error, a refused upgrade).
 *
 * It is the only caller of the access policy and the only place a denial is recorded: counted in
 * `portcullis_denials_total{reason}` and written as one audit line (`access.denied`, `sign-in.denied`,
 * `issuer.denied`) with the surface, the request id, the provider, the user and every reason code. Written
 * out per surface, "sign in, then decide" drifted: a counter nothing incremented, an issuer refresh that
 * skipped the rules. Here it cannot.
 */
import type { Logger } from '../observability/log.ts';
import type { Metrics } from '../observability/metrics.ts';
import { coarseNow } from './coarse-clock.ts';
import type { AccessPolicy, Decision, Principal } from './decision.ts';
import type { DecisionRecord, DecisionSink } from './record.ts';

export type { Principal } from './decision.ts';

/** Where the question comes from; named in the audit line, and enumerated by the surface test. */
export const SURFACES = [
  'request',
  'upgrade',
  'bearer',
  'forward-auth',
  'services',
  'sign-in',
  'issuer.authorization',
  'issuer.token',
  'issuer.userinfo',
  'issuer.introspection',
  'console',
] as const;
export type Surface = (typeof SURFACES)[number];

export interface AuthorizeRequest<P extends Principal> {
  readonly surface: Surface;
  /** The signed-in principal, if any. */
  readonly principal: P | undefined;
  /**
   * The normalised paths whose route rules apply (a proxied request: its path; forward-auth: every path the
   * request names). Empty or absent: the top-level and provider rules only (sign-in, the issuer).
   */
  readonly paths?: readonly string[];
  /**
   * Fields of the audit line (the request id, the path, the issuer's client): made only for a denial, so
   * an allowed request pays nothing for them. Never tokens or cookie values.
   */
  readonly audit?: () => Record<string, unknown>;
  /**
   * The request id, kept with the decision's record (the console's recent decisions and denials); a function
   * when making it costs something (the gateway's are random UUIDs made on first use): called only when a
   * record is kept.
   */
  readonly requestId?: string | (() => string) | undefined;
  /** The issuer client asking, for the issuer's surfaces (kept with the record). */
  readonly client?: string | undefined;
}

export interface AuthorizerOptions {
  /** Receives every decision (src/console's recorder): a bounded ring, never a token or cookie value. */
  readonly sink?: DecisionSink | undefined;
  /**
   * The operator console's rule (`admin.allow`, compileAdminPolicy): the `console` surface must pass it on
   * top of the top-level and provider rules. Absent: nobody passes the console surface.
   */
  readonly admin?: AccessPolicy | undefined;
}

/** The console surface without a console rule (never mounted so; a guard, not a configuration). */
const NO_ADMIN_RULE: Decision = Object.freeze({
  allow: false,
  reasons: Object.freeze(['admin-not-allowed']),
  explanations: Object.freeze(['The operator console is not enabled for anyone.']),
});

export type Outcome<P extends Principal> =
  | { readonly kind: 'allowed'; readonly principal: P }
  | { readonly kind: 'unauthenticated' }
  | { readonly kind: 'denied'; readonly principal: P; readonly decision: Decision };

export type DenialEvent = 'access.denied' | 'sign-in.denied' | 'issuer.denied';

function eventOf(surface: Surface): DenialEvent {
  if (surface === 'sign-in') return 'sign-in.denied';
  if (surface.startsWith('issuer.')) return 'issuer.denied';
  return 'access.denied';
}

const NO_PATHS: readonly string[] = Object.freeze([]);

/** DecisionRecord with its fields writable: the authorize step's one reused record. */
type Scratch = { -readonly [K in keyof DecisionRecord]: DecisionRecord[K] } & {
  principal: { provider: string; identity: Principal['identity'] };
};

/**
 * The decision for a principal and the paths a request names: the gateway at all first, then each path in
 * order until one is refused. `authorize` and `portcullis explain` (src/policy/explain.ts) both decide
 * through this, so an explanation cannot follow another order.
 */
export function decidePaths(
  policy: AccessPolicy,
  p: Principal,
  paths: readonly string[] | undefined,
): Decision {
  let decision = policy.decide(p, undefined);
  if (paths === undefined) return decision;
  for (let i = 0; i < paths.length && decision.allow; i++) decision = policy.decide(p, paths[i]!);
  return decision;
}

export class Authorizer {
  readonly #policy: AccessPolicy;
  readonly #log: Logger;
  readonly #metrics: Metrics;

  readonly #sink: DecisionSink | undefined;
  readonly #admin: AccessPolicy | undefined;

  constructor(policy: AccessPolicy, log: Logger, metrics: Metrics, o: AuthorizerOptions = {}) {
    this.#policy = policy;
    this.#log = log;
    this.#metrics = metrics;
    this.#sink = o.sink;
    this.#admin = o.admin;
  }

  /** Releases the policy's watchers: its configuration was replaced (reload) or the gateway closed. */
  close(): void {
    this.#policy.close?.();
    this.#admin?.close?.();
  }

  authorize<P extends Principal>(r: AuthorizeRequest<P>): Outcome<P> {
    const p = r.principal;
    if (p === undefined) return { kind: 'unauthenticated' };
    let decision = decidePaths(this.#policy, p, r.paths);
    if (decision.allow && r.surface === 'console')
      decision = this.#admin?.decide(p, undefined) ?? NO_ADMIN_RULE;
    if (this.#sink !== undefined) this.#record(this.#sink, r, p, decision);
    if (decision.allow) return { kind: 'allowed', principal: p };
    this.#metrics.denial(decision.reasons);
    this.#log.warn(
      {
        event: eventOf(r.surface),
        surface: r.surface,
        ...r.audit?.(),
        code: 'PCL_FORBIDDEN',
        status: 403,
        provider: p.provider,
        sub: p.identity.sub,
        email: p.identity.email,
        reasons: decision.reasons,
      },
      'access denied',
    );
    return { kind: 'denied', principal: p, decision };
  }

  /**
   * One record reused for every decision (the sink copies what it keeps: see DecisionSink), so recording
   * allocates nothing on the allowed path. The principal is re-made as provider + identity: a session's
   * tokens never reach a record.
   */
  readonly #scratch: Scratch = {
    time: 0,
    surface: 'request',
    requestId: undefined,
    principal: { provider: '', identity: { sub: '', groups: NO_PATHS } },
    paths: NO_PATHS,
    client: undefined,
    allow: true,
    reasons: NO_PATHS,
  };

  #record(sink: DecisionSink, r: AuthorizeRequest<Principal>, p: Principal, d: Decision): void {
    const x = this.#scratch;
    x.time = coarseNow();
    x.surface = r.surface;
    x.requestId = typeof r.requestId === 'function' ? r.requestId() : r.requestId;
    x.principal.provider = p.provider;
    x.principal.identity = p.identity;
    x.paths = r.paths ?? NO_PATHS;
    x.client = r.client;
    x.allow = d.allow;
    x.reasons = d.reasons;
    sink.record(x);
  }

  /**
   * Whether the rules admit the principal at all, without recording anything: for the issuer's single-sign-on
   * check, which only decides whether to show the login prompt — the interaction that follows asks
   * `authorize` and records the denial there, once.
   */
  admits(p: Principal): boolean {
    return this.#policy.decide(p, undefined).allow;
  }
}
