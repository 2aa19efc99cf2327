/**
 * GitLab groups and projects. `gitlabGroups` (allow blocks, and the gitlab provider's `groups`) reads the
 * groups of a user who signed in with a gitlab provider — full paths such as `acme/platform`, compared
 * exactly, as GitLab lists them (docs/providers/gitlab.md); users of other providers have no GitLab groups.
 * Subgroups are not implied: `acme` does not admit a member of `acme/platform` only. GitLab lists every
 * group a user belongs to, directly or through an ancestor group, so a member of `acme` already carries
 * `acme/platform` too; the other way round would admit someone invited to one subgroup to everything under
 * its parent. The gitlab provider's `projects` reads the projects it found the user may access at sign-in
 * (GET /api/v4/projects/:id, src/idp/gitlab.ts).
 */
import { type Criterion, oneOf, PASS, type RuleInput } from '../criterion.ts';

export function gitlabGroupsRule(groups: readonly string[]): Criterion {
  const wanted = new Set(groups);
  const fail = [
    {
      reason: 'gitlab-group-missing',
      explain: `You need to be a member of one of these GitLab groups: ${oneOf(groups)}.`,
    },
  ];
  return {
    label: `gitlabGroups: ${oneOf(groups)}`,
    held: ({ identity }: RuleInput) =>
      `in GitLab group ${oneOf(identity.groups.filter((g) => wanted.has(g)))}`,
    check({ identity, providerType }: RuleInput) {
      if (providerType === 'gitlab') {
        for (const g of identity.groups) if (wanted.has(g)) return PASS;
      }
      return fail;
    },
  };
}

export function gitlabProjectsRule(projects: readonly string[]): Criterion {
  const wanted = new Set(projects.map((p) => p.split('=')[0]!));
  const fail = [
    {
      reason: 'project-missing',
      explain: `You need access to one of these GitLab projects: ${oneOf([...wanted])}.`,
    },
  ];
  return {
    label: `gitlab projects: ${oneOf([...wanted])}`,
    held: ({ identity }: RuleInput) =>
      `has access to ${oneOf((identity.projects ?? []).filter((p) => wanted.has(p)))}`,
    check({ identity }: RuleInput) {
      for (const p of identity.projects ?? []) if (wanted.has(p)) return PASS;
      return fail;
    },
  };
}
