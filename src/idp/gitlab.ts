/**
 * GitLab (gitlab.com or self-managed): OpenID Connect with the issuer at `baseUrl`. Its differences from the
 * OpenID Connect base (https://docs.gitlab.com/integration/openid_connect_provider/):
 * - `sub` is the numeric user id; the username is `preferred_username` (older GitLab: `nickname` only);
 * - groups come from the userinfo endpoint's `groups` claim (full paths of every group the user belongs
 *   to, directly or through an ancestor group), so userinfo is always called; the ID token's
 *   `groups_direct` (direct memberships only) is the fallback when userinfo has none;
 * - `projects`: for each configured project, GET /api/v4/projects/:id/members/all/:user_id with the
 *   access token (scope read_api) gives the user's effective access level, including membership inherited
 *   from ancestor groups and through groups the project is shared with
 *   (https://docs.gitlab.com/api/members/#get-a-member-of-a-group-or-project-including-inherited-and-invited-members);
 *   404 means not a member. The `permissions` of GET /api/v4/projects/:id are not used: they leave out
 *   inherited and shared-group access (project_access and group_access are null for such members). The
 *   projects that pass are kept in the identity.
 */
import type { ResolvedProviderOf } from '../config/providers.ts';
import { PortcullisError } from '../errors/codes.ts';
import type { Identity } from '../sessions/session.ts';
import { str, strings } from './claims.ts';
import { callApi, isRecord } from './http.ts';
import { baseSettings, OidcProvider, type ProfileContext, STANDARD_MAPPING } from './oidc.ts';
import type { ProviderOptions } from './provider.ts';

/** GitLab's access levels (https://docs.gitlab.com/api/members/#roles). */
export const ACCESS_LEVELS: Readonly<Record<string, number>> = {
  guest: 10,
  reporter: 20,
  developer: 30,
  maintainer: 40,
  owner: 50,
};

export interface ProjectRule {
  readonly path: string;
  readonly minLevel: number;
}

export function parseProject(spec: string): ProjectRule {
  const [path, level] = spec.split('=') as [string, string | undefined];
  const minLevel = level === undefined ? ACCESS_LEVELS['reporter']! : (ACCESS_LEVELS[level] ?? Number(level));
  return { path, minLevel };
}

export class GitlabProvider extends OidcProvider {
  readonly #projects: readonly ProjectRule[];

  constructor(config: ResolvedProviderOf<'gitlab'>, opts: ProviderOptions) {
    super(config, opts, {
      ...baseSettings(config),
      issuer: config.issuer,
      userinfo: true,
      mapping: STANDARD_MAPPING,
    });
    this.#projects = (config.projects ?? []).map(parseProject);
  }

  protected override defaultDisplayName(): string {
    return 'GitLab';
  }

  protected override async enrich(identity: Identity, ctx: ProfileContext): Promise<Identity> {
    let next = identity;
    if (next.groups.length === 0) {
      const direct = strings(ctx.profile['groups_direct']);
      if (direct.length > 0) next = { ...next, groups: direct };
    }
    if (next.preferredUsername === undefined) {
      const nickname = str(ctx.profile['nickname']);
      if (nickname !== undefined) next = { ...next, preferredUsername: nickname };
    }
    if (this.#projects.length > 0) {
      if (ctx.accessToken === undefined) {
        throw new PortcullisError('PCL_USERINFO_FAILED', 'GitLab: no access token to read project access');
      }
      if (!/^\d+$/.test(next.sub)) {
        throw new PortcullisError('PCL_USERINFO_FAILED', `GitLab: sub "${next.sub}" is not a user id`);
      }
      next = { ...next, projects: await this.#accessibleProjects(ctx.accessToken, next.sub) };
    }
    return next;
  }

  async #accessibleProjects(accessToken: string, userId: string): Promise<string[]> {
    const results = await Promise.all(
      this.#projects.map(async (p) => {
        const r = await callApi(this.opts.fetch, this.opts.timeoutSeconds, {
          url: `${this.issuer}/api/v4/projects/${encodeURIComponent(p.path)}/members/all/${userId}`,
          accessToken,
          // 404: not a member, or the project does not exist or is hidden from the user. Anything else that
          // is not 2xx (401, 403 insufficient_scope) is an error: access cannot be decided.
          acceptStatus: [404],
          label: 'GitLab /api/v4/projects/:id/members/all/:user_id',
        });
        const have =
          isRecord(r.body) && typeof r.body['access_level'] === 'number' ? r.body['access_level'] : 0;
        return have >= p.minLevel ? p.path : undefined;
      }),
    );
    return results.filter((p): p is string => p !== undefined);
  }
}
