/**
 * `requirements`: claims the user's profile must carry, Spinnaker-style (`hd: example.com`,
 * `team: /^platform-.*$/`). A value is compared as a string; `/regex/flags` must match the whole claim
 * value (anchors are implied: `/example\.com/` does not match `evil-example.com`); a list of values
 * passes when any matches. A claim that is a list passes when any element does. A missing claim fails.
 * Keys may be dot paths into nested claims (`realm_access.roles`). The provider keeps exactly these claims
 * in the session (src/idp/claims.ts pickClaims).
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

export function requirementsRule(requirements: Readonly<Record<string, RequirementValue>>): Criterion {
  const checks = Object.entries(requirements).map(([key, value]) => {
    const matchers = (Array.isArray(value) ? value : [value]).map(matcher);
    const failure: Failure = {
      reason: `requirement-failed:${key}`,
      explain: `Your account’s “${key}” does not have a value allowed here.`,
    };
    return { key, matchers, failure };
  });
  return {
    check({ identity }: RuleInput): readonly Failure[] {
      const out: Failure[] = [];
      for (const c of checks) {
        const have = identity.claims?.[c.key];
        const values = have === undefined ? [] : typeof have === 'string' ? [have] : have;
        if (!values.some((v) => c.matchers.some((m) => m(v)))) out.push(c.failure);
      }
      return out.length > 0 ? out : PASS;
    },
  };
}
