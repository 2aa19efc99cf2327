/**
 * Access decisions. Every decision carries reason codes (`email-domain-not-allowed`, `group-missing`,
 * `requirement-failed:hd`, …) used alike by the audit log, the 403 page and the tests.
 */
import type { Identity } from '../sessions/session.ts';

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

export interface AccessPolicy {
  /**
   * Decides whether the principal (a session's user) may reach `path` (the normalised request path), or — with
   * `path` undefined — may use the gateway at all (e.g. to be issued tokens by the issuer).
   */
  decide(principal: Principal, path: string | undefined): Decision;
  /** Releases what the policy watches (emailsFile watchers); called when its configuration is replaced. */
  close?(): void;
}

export const ALLOW: Decision = Object.freeze({
  allow: true,
  reasons: Object.freeze([]) as readonly string[],
});

/** The policy when no access rules are configured: every signed-in user is allowed. */
export const allowSignedIn: AccessPolicy = { decide: () => ALLOW };
