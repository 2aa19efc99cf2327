/**
 * One access criterion: a check over the signed-in identity that passes, or fails with reason codes
 * (`group-missing`, `requirement-failed:hd`, …) and words a user understands. Criteria are compiled
 * once from the configuration (src/policy/compile.ts); checking one is a few comparisons.
 */
import type { Identity } from '../sessions/session.ts';

export interface RuleInput {
  readonly identity: Identity;
  /** The `type` of the provider the user signed in with (`github`, `gitlab`, …). */
  readonly providerType: string | undefined;
}

export interface Failure {
  /** Stable reason code, for the audit log and tests. */
  readonly reason: string;
  /** The same in words for the 403 page: what is missing, without revealing more of the rules than needed. */
  readonly explain: string;
}

export interface Criterion {
  /**
   * Set on the one criterion that decides for machines (`allow.clients`). Every other criterion reads a
   * person's attributes and is skipped for a machine principal; this one is skipped for people.
   */
  readonly machine?: boolean;
  /**
   * What the criterion asks for, in the configuration's words (`groups: admins or ops`): shown by
   * `portcullis explain` and the console beside whether it held. Built once at compile time.
   */
  readonly label?: string;
  /**
   * Why the criterion held for `input`, in words (`in group admins`): for explain only, called after
   * `check` passed, never on the request path.
   */
  held?(input: RuleInput): string;
  /** The failures, or an empty list when the criterion is met. */
  check(input: RuleInput): readonly Failure[];
}

export const PASS: readonly Failure[] = Object.freeze([]);

/** A short, readable list for the 403 page: `a, b or c`. */
export function oneOf(values: readonly string[]): string {
  const shown = values.slice(0, 10);
  const more = values.length > shown.length ? ` (or ${values.length - shown.length} more)` : '';
  if (shown.length <= 1) return `${shown[0] ?? ''}${more}`;
  return `${shown.slice(0, -1).join(', ')} or ${shown[shown.length - 1]}${more}`;
}
