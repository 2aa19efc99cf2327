/**
 * GitHub organisations and teams. `githubOrgs` and `githubTeams` (allow blocks) read the memberships the
 * GitHub provider fetched at sign-in (/user/orgs, /user/teams); users of other providers have none. The
 * github provider's own `orgs`/`teams`/`users` restriction follows oauth2-proxy: a listed user passes
 * whatever their memberships; anyone else must meet the org and team conditions that are set.
 * Organisation logins and team slugs compare without regard to case, as GitHub treats them.
 */
import { type Criterion, type Failure, oneOf, PASS, type RuleInput } from '../criterion.ts';

function anyOf(have: readonly string[] | undefined, wanted: ReadonlySet<string>): boolean {
  // The provider stores memberships lower-case; lower-cased again so a session written otherwise still compares.
  for (const v of have ?? []) if (wanted.has(v.toLowerCase())) return true;
  return false;
}

/** The memberships among `wanted` (what `held` names). */
function among(have: readonly string[] | undefined, wanted: ReadonlySet<string>): string[] {
  return (have ?? []).filter((v) => wanted.has(v.toLowerCase()));
}

const lower = (xs: readonly string[]) => new Set(xs.map((x) => x.toLowerCase()));

function orgFailure(orgs: readonly string[]): Failure {
  return {
    reason: 'org-missing',
    explain: `You need to be a member of one of these GitHub organisations: ${oneOf(orgs)}.`,
  };
}

function teamFailure(teams: readonly string[]): Failure {
  return { reason: 'team-missing', explain: `You need to be in one of these GitHub teams: ${oneOf(teams)}.` };
}

export function githubOrgsRule(orgs: readonly string[]): Criterion {
  const wanted = lower(orgs);
  const fail = [orgFailure(orgs)];
  return {
    label: `githubOrgs: ${oneOf(orgs)}`,
    held: ({ identity }: RuleInput) => `member of ${oneOf(among(identity.orgs, wanted))}`,
    check: ({ identity }: RuleInput) => (anyOf(identity.orgs, wanted) ? PASS : fail),
  };
}

export function githubTeamsRule(teams: readonly string[]): Criterion {
  const wanted = lower(teams);
  const fail = [teamFailure(teams)];
  return {
    label: `githubTeams: ${oneOf(teams)}`,
    held: ({ identity }: RuleInput) => `in team ${oneOf(among(identity.teams, wanted))}`,
    check: ({ identity }: RuleInput) => (anyOf(identity.teams, wanted) ? PASS : fail),
  };
}

export interface GithubRestriction {
  readonly orgs?: readonly string[] | undefined;
  readonly teams?: readonly string[] | undefined;
  readonly users?: readonly string[] | undefined;
}

/** The github provider's `orgs`, `teams` and `users`; undefined when none is set. */
export function githubRestriction(r: GithubRestriction): Criterion | undefined {
  const orgs = r.orgs?.length ? lower(r.orgs) : undefined;
  const teams = r.teams?.length ? lower(r.teams) : undefined;
  const users = r.users?.length ? lower(r.users) : undefined;
  if (!orgs && !teams && !users) return undefined;
  const parts = [
    r.users?.length ? `users ${oneOf(r.users)}` : '',
    r.orgs?.length ? `orgs ${oneOf(r.orgs)}` : '',
    r.teams?.length ? `teams ${oneOf(r.teams)}` : '',
  ];
  return {
    label: `github provider: ${parts.filter((x) => x !== '').join('; ')}`,
    held({ identity }: RuleInput): string {
      if (users?.has((identity.preferredUsername ?? '').toLowerCase())) {
        return `${identity.preferredUsername} is a listed user`;
      }
      const held = [
        orgs ? `member of ${oneOf(among(identity.orgs, orgs))}` : '',
        teams ? `in team ${oneOf(among(identity.teams, teams))}` : '',
      ];
      return held.filter((x) => x !== '').join(', ');
    },
    check({ identity }: RuleInput): readonly Failure[] {
      if (users?.has((identity.preferredUsername ?? '').toLowerCase())) return PASS;
      if (!orgs && !teams) {
        return [
          {
            reason: 'user-not-allowed',
            explain: 'Your GitHub account is not on the list of users allowed here.',
          },
        ];
      }
      const out: Failure[] = [];
      if (orgs && !anyOf(identity.orgs, orgs)) out.push(orgFailure(r.orgs!));
      if (teams && !anyOf(identity.teams, teams)) out.push(teamFailure(r.teams!));
      return out.length === 0 ? PASS : out;
    },
  };
}
