/**
 * GitHub (github.com and GitHub Enterprise Server): an OAuth app, plain OAuth2 — no ID token, so the user
 * is read from the REST API with the access token. Its differences from the OAuth2 base:
 * - endpoints under `baseUrl` (/login/oauth/authorize, /login/oauth/access_token) and the API at
 *   https://api.github.com, or <baseUrl>/api/v3 for Enterprise Server;
 *   https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps
 * - the token endpoint answers errors with HTTP 200 and an `error` member; they are turned into the
 *   RFC 6749 §5.2 shape (HTTP 400) so the OAuth error is reported as such;
 * - the e-mail address: the profile's public one, or the primary verified address from /user/emails when
 *   the profile hides it (https://docs.github.com/en/rest/users/emails);
 * - organisations (/user/orgs) and teams (/user/teams), fetched when a rule reads them, following
 *   pagination (Link: rel="next", https://docs.github.com/en/rest/using-the-rest-api/using-pagination-in-the-rest-api);
 *   groups are the teams as `org/team-slug`.
 * The user id (`sub`, X-Forwarded-User) is GitHub's numeric id, which survives a change of login.
 */
import type { CustomFetch } from 'openid-client';
import type { ResolvedProviderOf } from '../config/providers.ts';
import { PortcullisError } from '../errors/codes.ts';
import type { Identity } from '../sessions/session.ts';
import { withEmailPolicy } from './claims.ts';
import { fetchOf, isRecord } from './http.ts';
import { OAuth2Provider, oauth2BaseSettings } from './oauth2.ts';
import type { OpaqueToken, ProviderOptions } from './provider.ts';

const API_HEADERS = { accept: 'application/vnd.github+json', 'x-github-api-version': '2022-11-28' };
/** At most this many pages (of 100) of organisations or teams are read. */
const MAX_PAGES = 10;

export function githubApiUrl(c: ResolvedProviderOf<'github'>): string {
  if (c.apiUrl !== undefined) return c.apiUrl.replace(/\/+$/, '');
  const base = new URL(c.baseUrl);
  return base.hostname === 'github.com' ? 'https://api.github.com' : `${c.issuer}/api/v3`;
}

/** Scopes that let /user/teams and private memberships in /user/orgs be read. */
const ORG_SCOPES = ['read:org', 'write:org', 'admin:org'];

/**
 * The scopes to ask for, with read:org added when memberships are read: a githubOrgs or githubTeams rule
 * in a top-level or route `allow` needs them as much as the provider's own orgs or teams do, and without
 * read:org /user/teams answers 403 and /user/orgs lists public memberships only.
 * https://docs.github.com/en/rest/teams/teams#list-teams-for-the-authenticated-user
 */
function withOrgScope(scopes: readonly string[], memberships: boolean): readonly string[] {
  return memberships && !scopes.some((s) => ORG_SCOPES.includes(s)) ? [...scopes, 'read:org'] : scopes;
}

export class GithubProvider extends OAuth2Provider {
  readonly #api: string;
  readonly #memberships: boolean;

  constructor(config: ResolvedProviderOf<'github'>, opts: ProviderOptions) {
    const memberships =
      opts.githubMemberships === true ||
      (config.orgs?.length ?? 0) > 0 ||
      (config.teams?.length ?? 0) > 0 ||
      config.scopes.includes('read:org');
    super(config, opts, {
      ...oauth2BaseSettings(config),
      scopes: withOrgScope(config.scopes, memberships),
      authorizationUrl: `${config.issuer}/login/oauth/authorize`,
      tokenUrl: `${config.issuer}/login/oauth/access_token`,
    });
    this.#api = githubApiUrl(config);
    this.#memberships = memberships;
  }

  protected override defaultDisplayName(): string {
    return 'GitHub';
  }

  protected override tokenFetch(f: CustomFetch | undefined): CustomFetch {
    // GitHub answers a bad code with HTTP 200 {"error": "bad_verification_code", …}:
    // https://docs.github.com/en/apps/oauth-apps/maintaining-oauth-apps/troubleshooting-oauth-app-access-token-request-errors
    return async (url, init) => {
      const res = await fetchOf(f)(url, init);
      if (res.status !== 200 || !(res.headers.get('content-type') ?? '').includes('json')) return res;
      const text = await res.text();
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        body = undefined;
      }
      const status = isRecord(body) && typeof body['error'] === 'string' ? 400 : 200;
      return new Response(text, { status, headers: res.headers });
    };
  }

  /**
   * A GitHub token is first checked with the OAuth app's own credentials (POST
   * /applications/{client_id}/token, https://docs.github.com/en/rest/apps/oauth-applications#check-a-token):
   * 404 or 422 means it is not a live token of this app — a token the user gave another app does not pass.
   * Then the identity is read as at sign-in.
   */
  override async opaqueToken(token: string): Promise<OpaqueToken | undefined> {
    if (this.config.bearer?.opaque !== 'userinfo') return undefined;
    const basic = Buffer.from(`${this.config.clientId}:${this.settings.secret ?? ''}`).toString('base64');
    const check = await this.api({
      url: `${this.#api}/applications/${encodeURIComponent(this.config.clientId)}/token`,
      method: 'POST',
      scheme: 'Basic',
      accessToken: basic,
      json: { access_token: token },
      headers: API_HEADERS,
      acceptStatus: [404, 422],
      label: 'GitHub check a token',
    });
    if (check.status !== 200) return undefined;
    const expiresAt = isRecord(check.body) ? check.body['expires_at'] : undefined;
    const r = await super.opaqueToken(token);
    if (r === undefined) return undefined;
    return typeof expiresAt === 'string' ? { ...r, exp: Math.floor(Date.parse(expiresAt) / 1000) } : r;
  }

  protected override async fetchIdentity(accessToken: string): Promise<Identity> {
    const get = (path: string, acceptStatus?: number[]) =>
      this.api({
        url: `${this.#api}${path}`,
        accessToken,
        headers: API_HEADERS,
        label: `GitHub ${path.split('?')[0]}`,
        ...(acceptStatus ? { acceptStatus } : {}),
      });
    const user = (await get('/user')).body;
    if (!isRecord(user) || user['id'] === undefined || typeof user['login'] !== 'string') {
      throw new PortcullisError('PCL_USERINFO_FAILED', 'GitHub /user: no id or login');
    }
    const [email, memberships] = await Promise.all([
      this.#email(user, get),
      this.#memberships ? this.#orgsAndTeams(accessToken) : undefined,
    ]);
    const base = this.identityFrom(
      user,
      { sub: ['id'], email: 'email', username: 'login', name: 'name' },
      'GitHub /user',
    );
    return withEmailPolicy(
      {
        ...base,
        email: email.address,
        emailVerified: email.verified,
        groups: memberships?.teams ?? [],
        ...(memberships ? { orgs: memberships.orgs, teams: memberships.teams } : {}),
      },
      this.settings.allowUnverifiedEmail,
    );
  }

  /** The profile's public address, or the primary verified one; verified as /user/emails says. */
  async #email(
    user: Record<string, unknown>,
    get: (path: string, accept?: number[]) => Promise<{ status: number; body: unknown }>,
  ): Promise<{ address: string | undefined; verified: boolean | undefined }> {
    const shown = typeof user['email'] === 'string' && user['email'] !== '' ? user['email'] : undefined;
    // Without the user:email scope the list is refused (403/404): only the public address is known.
    const r = await get('/user/emails', [401, 403, 404]);
    if (!Array.isArray(r.body)) return { address: shown, verified: undefined };
    const emails = r.body.filter(isRecord);
    if (shown !== undefined) {
      const listed = emails.find(
        (e) => typeof e['email'] === 'string' && e['email'].toLowerCase() === shown.toLowerCase(),
      );
      return { address: shown, verified: listed ? listed['verified'] === true : undefined };
    }
    const primary = emails.find((e) => e['primary'] === true && typeof e['email'] === 'string');
    if (primary === undefined) return { address: undefined, verified: undefined };
    return { address: primary['email'] as string, verified: primary['verified'] === true };
  }

  async #orgsAndTeams(accessToken: string): Promise<{ orgs: string[]; teams: string[] }> {
    const [orgs, teams] = await Promise.all([
      this.#pages(accessToken, '/user/orgs', (o) =>
        typeof o['login'] === 'string' ? o['login'] : undefined,
      ),
      this.#pages(accessToken, '/user/teams', (t) => {
        const org = isRecord(t['organization']) ? t['organization']['login'] : undefined;
        return typeof org === 'string' && typeof t['slug'] === 'string' ? `${org}/${t['slug']}` : undefined;
      }),
    ]);
    return { orgs: orgs.map((o) => o.toLowerCase()), teams: teams.map((t) => t.toLowerCase()) };
  }

  async #pages(
    accessToken: string,
    path: string,
    pick: (item: Record<string, unknown>) => string | undefined,
  ): Promise<string[]> {
    const out: string[] = [];
    let url: string | undefined = `${this.#api}${path}?per_page=100`;
    const origin = new URL(this.#api).origin;
    for (let page = 0; url !== undefined && page < MAX_PAGES; page++) {
      const r = await this.api({ url, accessToken, headers: API_HEADERS, label: `GitHub ${path}` });
      if (!Array.isArray(r.body))
        throw new PortcullisError('PCL_USERINFO_FAILED', `GitHub ${path}: not a list`);
      for (const item of r.body)
        if (isRecord(item)) {
          const v = pick(item);
          if (v !== undefined) out.push(v);
        }
      const next = /<([^>]+)>;\s*rel="next"/.exec(r.headers.get('link') ?? '')?.[1];
      // Follow only links to the API itself: the access token must not travel anywhere else.
      url = next !== undefined && URL.canParse(next) && new URL(next).origin === origin ? next : undefined;
    }
    return out;
  }
}
