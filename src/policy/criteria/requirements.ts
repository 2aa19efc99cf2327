/**
 * `requirements`: claims the user's profile must carry, Spinnaker-style (`hd: example.com`,
 * `team: /^platform-.*$/`). A value is compared as a string (`true` and `3` equal the claims "true" and
 * "3"); `/regex/flags` must match the whole claim value (anchors are implied: `/example\.com/` does not
 * match `evil-example.com`; the `g`, `y` and `m` flags are dropped); a list of values passes when any
 * matches. A claim that is a list passes when any element does. A missing claim fails. Keys may be dot
 * paths into nested claims (`realm_access.roles`). The provider keeps exactly these claims in the session
 * (src/idp/claims.ts pickClaims).
 */
import { requirementRegex } from '../../config/schema/policy.ts';
import { type Criterion, type Failure, PASS, type RuleInput } from '../criterion.ts';

export type RequirementValue = string | number | boolean | readonly (string | number | boolean)[];

type Matcher = (value: string) => boolean;

function matcher(v: string | number | boolean): Matcher {
  if (typeof v === 'string') {
    const re = requirementRegex(v);
    if (re !== undefined) return (s) => re.test(s);
  }
  const want = String(v);
  return (s) => s === want;
}

type Claims = Readonly<Record<string, string | readonly string[]>>;

/** The first value of the claim that a matcher accepts, or undefined: the requirement is not met. */
function firstMatch(
  claims: Claims | undefined,
  key: string,
  matchers: readonly Matcher[],
): string | undefined {
  // Own keys only: a requirement on `constructor` or `__proto__` must not read Object.prototype.
  if (claims === undefined || !Object.hasOwn(claims, key)) return undefined;
  const have: unknown = claims[key];
  const values = typeof have === 'string' ? [have] : Array.isArray(have) ? have : [];
  for (const v of values) {
    if (typeof v !== 'string') continue;
    for (const m of matchers) if (m(v)) return v;
  }
  return undefined;
}

export function requirementsRule(requirements: Readonly<Record<string, RequirementValue>>): Criterion {
  const checks = Object.entries(requirements).map(([key, value]) => {
    const matchers = (Array.isArray(value) ? value : [value]).map(matcher);
    const failure: Failure = {
      reason: `requirement-failed:${key}`,
      explain: `Your account’s “${key}” does not have a value allowed here.`,
    };
    return { key, matchers, failure };
  });
  const shown = Object.entries(requirements).map(
    ([k, v]) => `${k} = ${Array.isArray(v) ? v.join(' | ') : String(v)}`,
  );
  return {
    label: `requirements: ${shown.join(', ')}`,
    held: ({ identity }: RuleInput) =>
      checks.map((c) => `${c.key} is ${firstMatch(identity.claims, c.key, c.matchers) ?? '?'}`).join(', '),
    check({ identity }: RuleInput): readonly Failure[] {
      const out: Failure[] = [];
      for (const c of checks) {
        if (firstMatch(identity.claims, c.key, c.matchers) === undefined) out.push(c.failure);
      }
      return out.length > 0 ? out : PASS;
    },
  };
}
