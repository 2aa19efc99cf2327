/**
 * From configuration to AccessPolicy, once at start-up (and on each reload): every `allow` block and every
 * provider restriction (github orgs/teams/users, google hostedDomains, entra allowedTenants, gitlab
 * groups/projects) becomes a list of criteria; regexes are compiled here, never per request. Also: the
 * configuration problems of access rules (reported with the rest at load), and what providers must keep in
 * the session for the rules to read.
 */
import { allowBlocks, type RuleSource } from '../config/access-rules.ts';
import { ISSUER_SOURCE } from '../config/bearer.ts';
import type { ResolvedConfig } from '../config/load.ts';
import type { ResolvedProvider } from '../config/providers.ts';
import type { AllowConfig } from '../config/schema.ts';
import type { Logger } from '../observability/log.ts';
import { clientsRule } from './criteria/clients.ts';
import { EmailsFile, emailRule } from './criteria/emails.ts';
import { githubOrgsRule, githubRestriction, githubTeamsRule } from './criteria/github.ts';
import { gitlabGroupsRule, gitlabProjectsRule } from './criteria/gitlab.ts';
import { groupsRule } from './criteria/groups.ts';
import { requirementsRule } from './criteria/requirements.ts';
import { hostedDomainRule, tenantRule } from './criteria/tenant.ts';
import type { Criterion } from './criterion.ts';
import { type AccessPolicy, allowSignedIn } from './decision.ts';
import { type ProviderRules, RulesPolicy } from './engine.ts';

function compileAllow(
  allow: AllowConfig | undefined,
  files: EmailsFile[],
  log: Logger | undefined,
): Criterion[] {
  if (allow === undefined) return [];
  const out: Criterion[] = [];
  if (
    (allow.emails?.length ?? 0) > 0 ||
    allow.emailsFile !== undefined ||
    (allow.emailDomains?.length ?? 0) > 0
  ) {
    let file: EmailsFile | undefined;
    if (allow.emailsFile !== undefined) {
      file = new EmailsFile(allow.emailsFile, log);
      files.push(file);
    }
    out.push(emailRule({ emails: allow.emails, file, domains: allow.emailDomains }));
  }
  if (allow.groups?.length) out.push(groupsRule(allow.groups));
  if (allow.githubOrgs?.length) out.push(githubOrgsRule(allow.githubOrgs));
  if (allow.githubTeams?.length) out.push(githubTeamsRule(allow.githubTeams));
  if (allow.gitlabGroups?.length) out.push(gitlabGroupsRule(allow.gitlabGroups));
  if (allow.clients?.length) out.push(clientsRule(allow.clients));
  if (allow.requirements !== undefined && Object.keys(allow.requirements).length > 0) {
    out.push(requirementsRule(allow.requirements));
  }
  return out;
}

/** The restrictions a provider type declares in its own settings. */
export function providerRestrictions(p: ResolvedProvider): Criterion[] {
  const out: Criterion[] = [];
  switch (p.type) {
    case 'github': {
      const r = githubRestriction(p);
      if (r) out.push(r);
      break;
    }
    case 'google':
      if (p.hostedDomains?.length) out.push(hostedDomainRule(p.hostedDomains));
      break;
    case 'entra':
      if (p.allowedTenants?.length) out.push(tenantRule(p.allowedTenants));
      break;
    case 'gitlab':
      if (p.groups?.length) out.push(gitlabGroupsRule(p.groups));
      if (p.projects?.length) out.push(gitlabProjectsRule(p.projects));
      break;
    default:
      break;
  }
  return out;
}

export interface CompileOptions {
  readonly log?: Logger | undefined;
  /** Watch emailsFile changes (default true); tests pass false and call RulesPolicy.checkFiles(). */
  readonly watch?: boolean;
}

/** Builds the AccessPolicy; allow-all (no per-request work) when nothing restricts access. */
export function compilePolicy(config: ResolvedConfig, o: CompileOptions = {}): AccessPolicy {
  const files: EmailsFile[] = [];
  const global = compileAllow(config.allow, files, o.log);
  const providers = new Map<string, ProviderRules>();
  let any = global.length > 0;
  for (const p of config.providers) {
    const criteria = [...providerRestrictions(p), ...compileAllow(p.allow, files, o.log)];
    if (criteria.length > 0) any = true;
    providers.set(p.id, { type: p.type, criteria });
  }
  // Issuers trusted for bearer tokens only: their tokens' principals name them as the provider.
  for (const b of config.bearer.issuers) {
    const criteria = compileAllow(b.allow, files, o.log);
    if (criteria.length > 0) any = true;
    providers.set(b.id, { type: 'bearer', criteria });
  }
  // The issuer's machine principals (client_credentials tokens): refused unless allow.clients lists them,
  // so a route that accepts them needs the rule engine even when nothing else restricts access.
  if (config.issuer !== undefined) {
    providers.set(ISSUER_SOURCE, { type: ISSUER_SOURCE, criteria: [] });
    if (config.routes.some((r) => Array.isArray(r.bearer) && r.bearer.includes(ISSUER_SOURCE))) any = true;
  }
  const routes = config.routes
    .filter((r) => r.allow !== undefined && !r.public)
    .map((r) => ({ path: r.path, criteria: compileAllow(r.allow, files, o.log) }))
    .filter((r) => r.criteria.length > 0);
  if (routes.length > 0) any = true;
  if (!any) return allowSignedIn;
  return new RulesPolicy({
    global,
    providers,
    routes,
    files,
    ...(o.watch !== undefined ? { watch: o.watch } : {}),
  });
}

/**
 * The operator console's own rule (`admin.allow`), asked by the authorize step for the `console` surface on
 * top of the gate's rules; undefined when the console is off. Every configured provider's users may be
 * admitted by it (the provider's own restrictions are the gate's, already applied).
 */
export function compileAdminPolicy(config: ResolvedConfig, o: CompileOptions = {}): AccessPolicy | undefined {
  if (!config.admin.enabled || config.admin.allow === undefined) return undefined;
  const files: EmailsFile[] = [];
  const global = compileAllow(config.admin.allow, files, o.log);
  const providers = new Map<string, ProviderRules>(
    config.providers.map((p) => [p.id, { type: p.type, criteria: [] }]),
  );
  return new RulesPolicy({
    global,
    providers,
    routes: [],
    files,
    ...(o.watch !== undefined ? { watch: o.watch } : {}),
  });
}

/** Claim names (dot paths) some `requirements` rule may read for users of `providerId`. */
export function requiredClaims(c: RuleSource, providerId: string): string[] {
  const keys = new Set<string>();
  for (const { key, allow } of allowBlocks(c)) {
    const own =
      key === 'allow' ||
      key === 'admin.allow' ||
      key.startsWith('routes[') ||
      c.providers.find((p) => p.allow === allow)?.id === providerId ||
      c.bearer?.issuers.find((b) => b.allow === allow)?.id === providerId;
    if (own) for (const k of Object.keys(allow.requirements ?? {})) keys.add(k);
  }
  return [...keys];
}

/** Whether some rule reads GitHub memberships of users of this provider (so the provider fetches them). */
export function needsGithubMemberships(c: RuleSource, providerId: string): boolean {
  const p = c.providers.find((x) => x.id === providerId);
  if (p?.type === 'github' && ((p.orgs?.length ?? 0) > 0 || (p.teams?.length ?? 0) > 0)) return true;
  return allowBlocks(c).some(
    ({ key, allow }) =>
      (key === 'allow' || key === 'admin.allow' || key.startsWith('routes[') || p?.allow === allow) &&
      ((allow.githubOrgs?.length ?? 0) > 0 || (allow.githubTeams?.length ?? 0) > 0),
  );
}
