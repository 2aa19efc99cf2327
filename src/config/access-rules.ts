/**
 * Where access rules live in the configuration (`allow`, `providers[].allow`, `routes[].allow`), and the
 * problems of those rules that the schema alone cannot see, reported with every other problem at start-up.
 */
import { readFileSync } from 'node:fs';
import { parseEmailsFile } from './emails.ts';
import type { AllowConfig, BearerConfig, ProviderConfig, RouteConfig } from './schema.ts';

/** The parts of the configuration access rules live in (schema output or resolved). */
export interface RuleSource {
  readonly allow?: AllowConfig | undefined;
  readonly providers: readonly ProviderConfig[];
  readonly routes: readonly RouteConfig[];
  /** Issuers trusted for bearer tokens only (their `allow` is a provider-level block). */
  readonly bearer?: Pick<BearerConfig, 'issuers'> | undefined;
  /** The operator console's rule (who may use it), a top-level block of its own. */
  readonly admin?: { readonly allow?: AllowConfig | undefined } | undefined;
}

/** Every `allow` block with its key, top level first. */
export function allowBlocks(c: RuleSource): { key: string; allow: AllowConfig }[] {
  const out: { key: string; allow: AllowConfig }[] = [];
  if (c.allow) out.push({ key: 'allow', allow: c.allow });
  c.providers.forEach((p, i) => {
    if (p.allow) out.push({ key: `providers[${i}].allow`, allow: p.allow });
  });
  c.routes.forEach((r, i) => {
    if (r.allow) out.push({ key: `routes[${i}].allow`, allow: r.allow });
  });
  c.bearer?.issuers.forEach((b, i) => {
    if (b.allow) out.push({ key: `bearer.issuers[${i}].allow`, allow: b.allow });
  });
  if (c.admin?.allow) out.push({ key: 'admin.allow', allow: c.admin.allow });
  return out;
}

/** Problems of the access rules that the schema alone cannot see; reported with every other problem. */
export function accessRuleProblems(c: RuleSource): string[] {
  const problems: string[] = [];
  const types = new Set(c.providers.map((p) => p.type));
  for (const { key, allow } of allowBlocks(c)) {
    if (allow.emailsFile !== undefined) {
      let text: string | undefined;
      try {
        text = readFileSync(allow.emailsFile, 'utf8');
      } catch (err) {
        problems.push(
          `${key}.emailsFile: cannot read ${allow.emailsFile} (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
        );
      }
      if (text !== undefined) {
        for (const b of parseEmailsFile(text).bad.slice(0, 5)) {
          problems.push(
            `${key}.emailsFile: ${allow.emailsFile}:${b.line} "${b.text}" is not one e-mail address`,
          );
        }
      }
    }
    const provider = /^providers\[(\d+)\]/.exec(key);
    // A bearer-only issuer's tokens carry claims, never GitHub or GitLab memberships.
    const scope = provider
      ? [c.providers[Number(provider[1])]!.type]
      : key.startsWith('bearer.')
        ? ['bearer']
        : [...types];
    for (const [field, type] of [
      ['githubOrgs', 'github'],
      ['githubTeams', 'github'],
      ['gitlabGroups', 'gitlab'],
    ] as const) {
      if ((allow[field]?.length ?? 0) > 0 && !scope.includes(type)) {
        problems.push(
          provider
            ? `${key}.${field}: only users of a ${type} provider have these; this provider is ${scope[0]}`
            : `${key}.${field}: no ${type} provider is configured, so nobody could pass`,
        );
      }
    }
  }
  c.routes.forEach((r, i) => {
    if (r.public && r.allow !== undefined) {
      problems.push(`routes[${i}].allow: a public route needs no sign-in, so its rules would never apply`);
    }
  });
  return problems;
}
