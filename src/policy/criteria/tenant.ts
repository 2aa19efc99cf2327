/**
 * The organisation an account belongs to, as the provider proved it: Entra's `allowedTenants` against the
 * ID token's `tid`, and Google's `hostedDomains` against the ID token's `hd` claim. Google's `hd` request
 * parameter only preselects accounts in the browser; anyone can remove it, so only the signed claim counts
 * (https://developers.google.com/identity/openid-connect/openid-connect#hd-param).
 */
import { type Criterion, oneOf, PASS, type RuleInput } from '../criterion.ts';

export function tenantRule(tenants: readonly string[]): Criterion {
  const wanted = new Set(tenants.map((t) => t.toLowerCase()));
  const fail = [
    {
      reason: 'tenant-not-allowed',
      explain: 'Accounts from your organisation’s Microsoft Entra directory are not allowed here.',
    },
  ];
  return {
    label: `allowedTenants: ${oneOf(tenants)}`,
    held: ({ identity }: RuleInput) => `directory ${identity.tenant ?? ''} is allowed`,
    check: ({ identity }: RuleInput) =>
      identity.tenant !== undefined && wanted.has(identity.tenant.toLowerCase()) ? PASS : fail,
  };
}

export function hostedDomainRule(domains: readonly string[]): Criterion {
  const wanted = new Set(domains.map((d) => d.toLowerCase()));
  return {
    label: `hostedDomains: ${oneOf(domains)}`,
    held: ({ identity }: RuleInput) => `Workspace domain ${identity.tenant ?? ''} is allowed`,
    check({ identity }: RuleInput) {
      const hd = identity.tenant?.toLowerCase();
      if (hd !== undefined && wanted.has(hd)) return PASS;
      return [
        {
          reason: 'hosted-domain-not-allowed',
          explain:
            hd === undefined
              ? 'Only Google Workspace accounts of an allowed organisation may sign in here, not personal Google accounts.'
              : `Google Workspace accounts of ${hd} are not allowed here.`,
        },
      ];
    },
  };
}
