/**
 * Access decisions. Every decision carries reason codes (`email-domain-not-allowed`, `group-missing`,
 * `requirement-failed:hd`, …) used alike by the audit log, the 403 page and the tests.
 */
import type { Identity } from '../sessions/session.ts';
import type { Criterion, Failure, RuleInput } from './criterion.ts';

/** Who a decision is about: a gate session, or the account an issuer grant was made for. */
export interface Principal {
  /** Provider id from the configuration. */
  readonly provider: string;
  readonly identity: Identity;
}

export interface Decision {
  readonly allow: boolean;
  /** Why: for a denial, what is missing; for an allow, which rule matched (may be empty). */
  readonly reasons: readonly string[];
  /** For a denial, the reasons in words for the 403 page, one sentence each (same order). */
  readonly explanations?: readonly string[];
}

/** The layers a decision passes through, in order (src/policy/engine.ts). */
export type Layer = 'allow' | 'provider' | 'route';

/**
 * Receives what the rule engine does while it decides, criterion by criterion — for `portcullis explain`
 * and the operator console (src/policy/explain.ts). The gate never passes one: without it a decision costs
 * what it always did (the cached path, no calls, no allocation).
 */
export interface DecisionTrace {
  /** A layer starts; `route` is the path prefix of the matched route (layer `route` only). */
  layer(layer: Layer, route?: string): void;
  /**
   * One criterion of the current layer was checked (`failures` empty: it held), or skipped (`failures`
   * undefined): person rules do not apply to machines, nor `allow.clients` to people.
   */
  criterion(c: Criterion, failures: readonly Failure[] | undefined, input: RuleInput): void;
}

export interface AccessPolicy {
  /**
   * Decides whether the principal (a session's user) may reach `path` (the normalised request path), or — with
   * `path` undefined — may use the gateway at all (e.g. to be issued tokens by the issuer). With `trace`, the
   * decision is made afresh (not from a cache) and reported to it step by step.
   */
  decide(principal: Principal, path: string | undefined, trace?: DecisionTrace): Decision;
  /** Releases what the policy watches (emailsFile watchers); called when its configuration is replaced. */
  close?(): void;
}

export const ALLOW: Decision = Object.freeze({
  allow: true,
  reasons: Object.freeze([]) as readonly string[],
});

/** The policy when no access rules are configured: every signed-in user is allowed. */
export const allowSignedIn: AccessPolicy = { decide: () => ALLOW };
