/**
 * `groups`: the user must be in at least one of the listed groups. Group names compare exactly (IdPs treat
 * them as identifiers: Entra's are object ids, Keycloak's may be paths). The identity's groups come from the
 * provider's groups claim, a list or a single string (src/idp/claims.ts).
 */
import { type Criterion, type Failure, oneOf, PASS, type RuleInput } from '../criterion.ts';

export function groupsRule(groups: readonly string[]): Criterion {
  const wanted = new Set(groups);
  const fail: readonly Failure[] = [
    { reason: 'group-missing', explain: `You need to be in one of these groups: ${oneOf(groups)}.` },
  ];
  return {
    label: `groups: ${oneOf(groups)}`,
    held: ({ identity }: RuleInput) => `in group ${oneOf(identity.groups.filter((g) => wanted.has(g)))}`,
    check({ identity }: RuleInput) {
      for (const g of identity.groups) if (wanted.has(g)) return PASS;
      return fail;
    },
  };
}
