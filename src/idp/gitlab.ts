/**
 * GitLab (gitlab.com or self-managed): OpenID Connect with the issuer at `baseUrl`. Its differences from the
 * OpenID Connect base (https://docs.gitlab.com/integration/openid_connect_provider/):
 * - groups come from the userinfo endpoint's `groups` claim (every group the user belongs to, as full
 *   paths), so userinfo is always called; the ID token's `groups_direct` is the fallback;
 * - `projects`: for each configured project, GET /api/v4/projects/:id with the access token (scope
 *   read_api) and compare the user's project or group access level with the minimum
 *   (https://docs.gitlab.com/api/projects/#get-a-single-project); the projects that pass are kept.
 */
import type { ResolvedProviderOf } from '../config/providers.ts';
import { PortcullisError } from '../errors/codes.ts';
import type { Identity } from '../sessions/session.ts';
import { strings } from './claims.ts';
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

function level(v: unknown): number {
  return isRecord(v) && typeof v['access_level'] === 'number' ? v['access_level'] : 0;
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
    if (this.#projects.length > 0) {
      if (ctx.accessToken === undefined)
        throw new PortcullisError('PCL_USERINFO_FAILED', 'GitLab: no access token');
      next = { ...next, projects: await this.#accessibleProjects(ctx.accessToken) };
    }
    return next;
  }

  async #accessibleProjects(accessToken: string): Promise<string[]> {
    const results = await Promise.all(
      this.#projects.map(async (p) => {
        const r = await callApi(this.opts.fetch, this.opts.timeoutSeconds, {
          url: `${this.issuer}/api/v4/projects/${encodeURIComponent(p.path)}`,
          accessToken,
          // 404: the project does not exist or the user cannot see it; 403: the same for some setups.
          acceptStatus: [403, 404],
          label: 'GitLab /api/v4/projects/:id',
        });
        if (!isRecord(r.body) || r.body['archived'] === true) return undefined;
        const perms = r.body['permissions'];
        const have = isRecord(perms)
          ? Math.max(level(perms['project_access']), level(perms['group_access']))
          : 0;
        return have >= p.minLevel ? p.path : undefined;
      }),
    );
    return results.filter((p): p is string => p !== undefined);
  }
}
