/**
 * `clients`: which of the issuer's clients (a service holding a client_credentials token, src/bearer/) may
 * pass. Machines are refused unless some layer that applies lists them (src/policy/engine.ts); people are
 * not concerned by this criterion, as machines are not by the person criteria.
 */
import { type Criterion, type Failure, oneOf, PASS, type RuleInput } from '../criterion.ts';

export function clientsRule(clients: readonly string[]): Criterion {
  const wanted = new Set(clients);
  const fail: readonly Failure[] = [
    { reason: 'client-not-allowed', explain: `Only these services may call here: ${oneOf(clients)}.` },
  ];
  return {
    machine: true,
    label: `clients: ${oneOf(clients)}`,
    held: ({ identity }: RuleInput) => `the service ${identity.client ?? ''} is listed`,
    check({ identity }: RuleInput) {
      return identity.client !== undefined && wanted.has(identity.client) ? PASS : fail;
    },
  };
}
