// The parts of GitLab's REST API the gitlab provider reads, mounted beside the dev IdP, which plays GitLab's
// OpenID provider at the same origin (GitLab serves both: <baseUrl>/oauth/… and <baseUrl>/api/v4/…).
// Shapes follow GitLab's documentation:
// - authentication with an OAuth access token, `Authorization: Bearer …`; a missing or unknown token is
//   401 {"message":"401 Unauthorized"}, a token without api or read_api is 403 insufficient_scope
//   https://docs.gitlab.com/api/rest/authentication/#oauth-20-tokens
//   https://docs.gitlab.com/api/rest/troubleshooting/#status-codes
// - a project is named by its numeric id or its URL-encoded full path (acme%2Fwebsite)
//   https://docs.gitlab.com/api/rest/#namespaced-paths
// - GET /api/v4/projects/:id/members/all/:user_id: the member's effective access level, including
//   membership inherited from ancestor groups and through invited (shared) groups; 404 {"message":"404 Not
//   found"} for a user who is not a member; a project the caller cannot see is 404 {"message":"404 Project
//   Not Found"}
//   https://docs.gitlab.com/api/members/#get-a-member-of-a-group-or-project-including-inherited-and-invited-members
// The stub learns which user and scopes an access token stands for from the IdP's token responses
// (TestIdp.setTokenResponseHook, test/support/idp.ts), as GitLab knows its own tokens.
import type http from 'node:http';
import { decodeJwt } from 'jose';
import { bearer, sendJson } from './http.ts';

/** GitLab's access levels: https://docs.gitlab.com/api/members/#roles */
export const LEVEL = { guest: 10, reporter: 20, developer: 30, maintainer: 40, owner: 50 } as const;

export interface GitlabProject {
  readonly id: number;
  /** Full path, e.g. `acme/platform/website`. */
  readonly path: string;
  readonly visibility: 'private' | 'internal' | 'public';
  /** Direct members: user id → access level. */
  readonly members: Record<string, number>;
  /** Access through an ancestor group or a shared group: user id → access level. */
  readonly inherited?: Record<string, number>;
}

export interface GitlabApi {
  readonly projects: GitlabProject[];
  /** Every API request: method, path as received (still encoded), and the Authorization scheme. */
  readonly requests: { method: string; path: string; scheme: string | undefined }[];
  /** When set, every API request is answered with this instead (to see errors handled). */
  override: { status: number; body: unknown } | undefined;
  /** Give to the dev IdP as tokenResponseHook: records each issued access token's user and scopes. */
  tokenResponseHook(body: Record<string, unknown>): Record<string, unknown>;
  /** Give to the dev IdP as extraRoutes: answers /api/v4/…, leaves the rest to the OpenID provider. */
  handle(req: http.IncomingMessage, res: http.ServerResponse): boolean;
}

interface TokenInfo {
  readonly userId: string;
  readonly scopes: readonly string[];
}

const MEMBER_ALL = /^\/api\/v4\/projects\/([^/]+)\/members\/all\/(\d+)$/;

export function gitlabApi(projects: GitlabProject[]): GitlabApi {
  const tokens = new Map<string, TokenInfo>();

  function find(idOrPath: string): GitlabProject | undefined {
    const key = decodeURIComponent(idOrPath);
    return projects.find((p) => String(p.id) === key || p.path === key);
  }

  function levelOf(p: GitlabProject, userId: string): number {
    return Math.max(p.members[userId] ?? 0, p.inherited?.[userId] ?? 0);
  }

  const api: GitlabApi = {
    projects,
    requests: [],
    override: undefined,
    tokenResponseHook(body) {
      const access = body['access_token'];
      const idToken = body['id_token'];
      if (typeof access === 'string' && typeof idToken === 'string') {
        const scopes = typeof body['scope'] === 'string' ? body['scope'].split(' ') : [];
        tokens.set(access, { userId: String(decodeJwt(idToken).sub), scopes });
      }
      return body;
    },
    handle(req, res) {
      const rawPath = (req.url ?? '/').split('?')[0]!;
      if (!rawPath.startsWith('/api/v4/')) return false;
      const scheme = /^(\S+)\s/.exec(req.headers.authorization ?? '')?.[1];
      api.requests.push({ method: req.method ?? 'GET', path: rawPath, scheme });
      if (api.override) {
        sendJson(res, api.override.status, api.override.body);
        return true;
      }
      const token = tokens.get(bearer(req, ['bearer']) ?? '');
      if (token === undefined) {
        sendJson(res, 401, { message: '401 Unauthorized' });
        return true;
      }
      if (!token.scopes.includes('read_api') && !token.scopes.includes('api')) {
        sendJson(res, 403, {
          error: 'insufficient_scope',
          error_description: 'The request requires higher privileges than provided by the access token.',
          scope: 'api read_api',
        });
        return true;
      }
      if (req.method !== 'GET') {
        sendJson(res, 405, { message: '405 Method Not Allowed' });
        return true;
      }
      const memberAll = MEMBER_ALL.exec(rawPath);
      if (!memberAll) {
        sendJson(res, 404, { message: '404 Not Found' });
        return true;
      }
      const project = find(memberAll[1]!);
      if (!project || (project.visibility === 'private' && levelOf(project, token.userId) === 0)) {
        sendJson(res, 404, { message: '404 Project Not Found' });
        return true;
      }
      const userId = memberAll[2]!;
      const level = levelOf(project, userId);
      if (level === 0) sendJson(res, 404, { message: '404 Not found' });
      else {
        sendJson(res, 200, {
          id: Number(userId),
          username: `user${userId}`,
          name: `User ${userId}`,
          state: 'active',
          access_level: level,
          expires_at: null,
        });
      }
      return true;
    },
  };
  return api;
}
