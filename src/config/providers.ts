/**
 * Resolving `providers` entries: secrets read, token endpoint authentication and scopes settled, the
 * issuer (or authorization server) each provider's flows are bound to worked out, and every cross-field
 * problem reported. Called by resolveConfig (src/config/load.ts) with its problem list.
 */
import type { z } from 'zod';
import { jupyterhubBase } from './idp-urls.ts';
import { isLoopbackHost } from './net.ts';
import { commonProviderSchema, type ProviderConfig } from './schema/providers.ts';

export type AuthMethod = 'client_secret_basic' | 'client_secret_post' | 'none';

export type ResolvedProvider = ProviderConfig & {
  /** Resolved from clientSecret or clientSecretFile. */
  readonly secret: string | undefined;
  readonly authMethod: AuthMethod;
  /**
   * The issuer (OpenID Connect) or authorization server (plain OAuth2) this provider's flows are bound to:
   * stored in each flow cookie and compared at the callback (mix-up defence, RFC 9700 §4.4). For a
   * multi-tenant Entra application it holds the `{tenantid}` template.
   */
  readonly issuer: string;
  readonly scopes: readonly string[];
  /** RP-initiated logout at the IdP on sign-out (only OpenID Connect providers can). */
  readonly logoutAtIdp: boolean;
};

export type ResolvedProviderOf<T extends ProviderConfig['type']> = Extract<ResolvedProvider, { type: T }>;

/** Entra's tenant values that mean "any directory", whose issuer is the `{tenantid}` template. */
export const ENTRA_MULTI_TENANT = new Set(['organizations', 'common']);

const trimSlash = (u: string) => u.replace(/\/+$/, '');

type ReadSecret = (file: string, key: string) => string | undefined;

export function resolveProviders(
  list: readonly ProviderConfig[],
  problems: string[],
  readSecret: ReadSecret,
): ResolvedProvider[] {
  const ids = new Set<string>();
  return list.map((p, i) => {
    const key = `providers[${i}]`;
    if (ids.has(p.id)) problems.push(`${key}.id: "${p.id}" is used by another provider; ids must be unique`);
    ids.add(p.id);
    if (p.clientSecret !== undefined && p.clientSecretFile !== undefined) {
      problems.push(`${key}: set either clientSecret or clientSecretFile, not both`);
    }
    const secret =
      p.clientSecret ??
      (p.clientSecretFile !== undefined
        ? readSecret(p.clientSecretFile, `${key}.clientSecretFile`)?.trim()
        : undefined);
    const r = resolveType(p, key, secret, problems);
    // A secret file that cannot be read was reported above: "needs a client secret" would repeat it.
    if (r.authMethod !== 'none' && secret === undefined && p.clientSecretFile === undefined) {
      problems.push(
        p.type === 'github' || p.type === 'jupyterhub'
          ? `${key}.clientSecret: ${p.type} needs the client secret of the OAuth application`
          : `${key}.clientSecret: ${r.authMethod} needs a client secret (or set tokenEndpointAuthMethod: none)`,
      );
    }
    return { ...p, secret, ...r } as ResolvedProvider;
  });
}

interface Derived {
  readonly authMethod: AuthMethod;
  readonly issuer: string;
  readonly scopes: readonly string[];
  readonly logoutAtIdp: boolean;
}

function checkHttp(
  problems: string[],
  key: string,
  value: string | undefined,
  insecureAllowHttp: boolean,
): void {
  if (value === undefined) return;
  const u = new URL(value);
  if (u.protocol === 'http:' && !isLoopbackHost(u.hostname) && !insecureAllowHttp) {
    problems.push(`${key}: ${value} is plain http; use https (or insecureAllowHttp for a lab)`);
  } else if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    problems.push(`${key}: must be an http(s) URL`);
  }
}

function requireOpenid(problems: string[], key: string, scopes: readonly string[]): void {
  if (!scopes.includes('openid')) problems.push(`${key}.scopes: must include "openid"`);
}

function defaultAuth(method: AuthMethod | undefined, secret: string | undefined): AuthMethod {
  return method ?? (secret !== undefined ? 'client_secret_basic' : 'none');
}

function resolveType(
  p: ProviderConfig,
  key: string,
  secret: string | undefined,
  problems: string[],
): Derived {
  switch (p.type) {
    case 'oidc': {
      checkHttp(problems, `${key}.issuer`, p.issuer, p.insecureAllowHttp);
      requireOpenid(problems, key, p.scopes);
      if (p.idTokenSigningAlgs?.some((a) => a.toLowerCase() === 'none')) {
        problems.push(`${key}.idTokenSigningAlgs: "none" is never accepted`);
      }
      const endpoints = ['authorizationUrl', 'tokenUrl', 'jwksUrl', 'userInfoUrl', 'endSessionUrl'] as const;
      for (const e of endpoints) checkHttp(problems, `${key}.${e}`, p[e], p.insecureAllowHttp);
      if (p.skipDiscovery) {
        for (const e of ['authorizationUrl', 'tokenUrl', 'jwksUrl'] as const) {
          if (p[e] === undefined) problems.push(`${key}.${e}: is required with skipDiscovery`);
        }
        if (p.userinfo && p.userInfoUrl === undefined) {
          problems.push(`${key}.userInfoUrl: is required with skipDiscovery and userinfo: true`);
        }
        if (p.logoutAtIdp && p.endSessionUrl === undefined) {
          problems.push(`${key}.endSessionUrl: is required with skipDiscovery and logoutAtIdp: true`);
        }
      } else {
        const set = endpoints.filter((e) => p[e] !== undefined);
        if (set.length > 0) {
          problems.push(
            `${key}.${set[0]}: endpoints are read from discovery; set skipDiscovery: true to give them yourself`,
          );
        }
      }
      return {
        authMethod: defaultAuth(p.tokenEndpointAuthMethod, secret),
        issuer: p.issuer,
        scopes: p.scopes,
        logoutAtIdp: p.logoutAtIdp,
      };
    }
    case 'keycloak': {
      checkHttp(problems, `${key}.issuer`, p.issuer, p.insecureAllowHttp);
      requireOpenid(problems, key, p.scopes);
      if (!/\/realms\/[^/]+\/?$/.test(new URL(p.issuer).pathname)) {
        problems.push(`${key}.issuer: a Keycloak issuer ends with /realms/<realm> (got ${p.issuer})`);
      }
      return {
        authMethod: defaultAuth(p.tokenEndpointAuthMethod, secret),
        issuer: p.issuer,
        scopes: p.scopes,
        logoutAtIdp: p.logoutAtIdp,
      };
    }
    case 'google': {
      checkHttp(problems, `${key}.issuer`, p.issuer, false);
      requireOpenid(problems, key, p.scopes);
      return {
        authMethod: defaultAuth(undefined, secret),
        issuer: p.issuer,
        scopes: p.scopes,
        logoutAtIdp: false,
      };
    }
    case 'entra': {
      checkHttp(problems, `${key}.authority`, p.authority, false);
      checkHttp(problems, `${key}.graphUrl`, p.graphUrl, false);
      requireOpenid(problems, key, p.scopes);
      const multi = ENTRA_MULTI_TENANT.has(p.tenant.toLowerCase());
      if (p.tenant.toLowerCase() === 'consumers') {
        problems.push(`${key}.tenant: personal Microsoft accounts only (consumers) is not supported`);
      }
      if (multi && (p.allowedTenants === undefined || p.allowedTenants.length === 0)) {
        problems.push(
          `${key}.allowedTenants: with tenant: ${p.tenant} any Microsoft Entra directory could sign in; list the tenant ids allowed`,
        );
      }
      if (!multi && p.allowedTenants !== undefined) {
        problems.push(`${key}.allowedTenants: only for tenant: organizations or common (a multi-tenant app)`);
      }
      const authority = trimSlash(p.authority);
      return {
        authMethod: defaultAuth(p.tokenEndpointAuthMethod, secret),
        issuer: `${authority}/${multi ? '{tenantid}' : p.tenant}/v2.0`,
        scopes: p.scopes,
        logoutAtIdp: p.logoutAtIdp,
      };
    }
    case 'gitlab': {
      checkHttp(problems, `${key}.baseUrl`, p.baseUrl, p.insecureAllowHttp);
      requireOpenid(problems, key, p.scopes);
      const scopes =
        p.projects?.length && !p.scopes.includes('read_api') ? [...p.scopes, 'read_api'] : p.scopes;
      return {
        authMethod: defaultAuth(p.tokenEndpointAuthMethod, secret),
        issuer: trimSlash(p.baseUrl),
        scopes,
        logoutAtIdp: false,
      };
    }
    case 'github': {
      checkHttp(problems, `${key}.baseUrl`, p.baseUrl, p.insecureAllowHttp);
      checkHttp(problems, `${key}.apiUrl`, p.apiUrl, p.insecureAllowHttp);
      const needOrg = (p.orgs?.length ?? 0) > 0 || (p.teams?.length ?? 0) > 0;
      const scopes = p.scopes ?? ['read:user', 'user:email', ...(needOrg ? ['read:org'] : [])];
      // GitHub's token endpoint takes client_id and client_secret as form parameters:
      // https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps#2-users-are-redirected-back-to-your-site-by-github
      return { authMethod: 'client_secret_post', issuer: trimSlash(p.baseUrl), scopes, logoutAtIdp: false };
    }
    case 'jupyterhub': {
      checkHttp(problems, `${key}.url`, p.url, p.insecureAllowHttp);
      // JupyterHub reads the client secret from the form body of the token request. A `url` ending in
      // /hub is read as the hub's base, as `check` reads it (src/config/idp-urls.ts).
      return {
        authMethod: 'client_secret_post',
        issuer: jupyterhubBase(p.url),
        scopes: p.scopes,
        logoutAtIdp: false,
      };
    }
    case 'oauth2': {
      for (const e of ['authorizationUrl', 'tokenUrl', 'userInfoUrl', 'issuer'] as const) {
        checkHttp(problems, `${key}.${e}`, p[e], p.insecureAllowHttp);
      }
      return {
        authMethod: defaultAuth(p.tokenEndpointAuthMethod, secret),
        issuer: p.issuer ?? new URL(p.authorizationUrl).origin,
        scopes: p.scopes,
        logoutAtIdp: false,
      };
    }
  }
}

/**
 * When an entry's `type` is missing or unknown, zod stops at the discriminator. Checking the fields every
 * type shares still reports their problems in the same run (`id`, `clientId`, …).
 */
export function sharedFieldProblems(entry: unknown): z.core.$ZodIssue[] {
  const r = commonProviderSchema.safeParse(entry);
  return r.success ? [] : r.error.issues;
}
