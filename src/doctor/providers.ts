/**
 * Where each provider type's IdP is and how it differs from plain OAuth 2.0 / OpenID Connect, as far as
 * `portcullis check` needs to know. Entries of `providers` are read generically (by field name, checked
 * at run time) so the checks work for every type; a type's quirks are one entry in PROVIDER_KINDS.
 */

import { jupyterhubBase, sameIssuer } from '../config/idp-urls.ts';

/** The parts of a `providers` entry the checks use, read from whatever type it is. */
export interface ProviderView {
  readonly index: number;
  /** `providers[0]`: the key prefix in fixes. */
  readonly key: string;
  /** `providers[0] corp`. */
  readonly subject: string;
  readonly id: string;
  readonly type: string;
  readonly clientId: string;
  /** The resolved client secret (never printed). */
  readonly secret: string | undefined;
  readonly authMethod: string;
  readonly scopes: readonly string[];
  readonly idTokenSigningAlgs: readonly string[] | undefined;
  readonly insecureAllowHttp: boolean;
  /** The whole entry, for hooks that need their type's own fields (baseUrl, tenant, realm, …). */
  readonly raw: Readonly<Record<string, unknown>>;
}

export interface Endpoints {
  readonly authorization?: string;
  readonly token?: string;
  readonly userinfo?: string;
  readonly jwks?: string;
}

/**
 * Where the IdP is: discovery at `issuer` (whose document must publish `expected` as its issuer), or
 * fixed endpoints (OAuth 2.0 without discovery).
 */
export type Location =
  | {
      readonly kind: 'discovery';
      /** Discovery is fetched from `<issuer>/.well-known/openid-configuration`. */
      readonly issuer: string;
      /** The issuer ID tokens must carry (Entra multi-tenant: the `{tenantid}` template). */
      readonly expected: string;
      /** The setting that holds it (`issuer`, `baseUrl`), for fixes; undefined when derived from others. */
      readonly setting: string | undefined;
    }
  | { readonly kind: 'endpoints'; readonly endpoints: Endpoints }
  | { readonly kind: 'unknown'; readonly why: string };

/** What the dummy-code token request says about the client credentials. */
export type TokenVerdict = 'accepted' | 'rejected';

export interface ProviderKind {
  /** The type's documentation, cited in fixes. */
  readonly docs?: string;
  locate(p: ProviderView): Location;
  /**
   * Whether the IdP checks `redirect_uri` before anyone signs in, so that the unauthenticated probe can
   * tell. False where it asks for a sign-in first (GitHub, JupyterHub): the check then says so.
   */
  readonly redirectUriCheckedBeforeLogin: boolean;
  /** Said with the redirect URI check, e.g. how the IdP compares redirect URIs. */
  readonly redirectUriNote?: string;
  /**
   * Reads a token endpoint error that is not standard OAuth 2.0 (RFC 6749 §5.2); undefined falls back to
   * the standard reading (`invalid_grant` accepted, `invalid_client` or 401 rejected).
   */
  readTokenError?(error: string, status: number): TokenVerdict | undefined;
  /** Whether the discovered issuer is the configured one; default sameIssuer(), as `serve` compares them. */
  issuerMatches?(configured: string, discovered: string): boolean;
  /** What to change when the published issuer differs; default `set <key>.<setting>: <published>`. */
  issuerFix?(p: ProviderView, published: string): string | undefined;
}

export function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

export function strings(v: unknown): string[] | undefined {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : undefined;
}

/** Reads a provider entry (any type) into the view the checks use. */
export function providerView(entry: object, index: number): ProviderView {
  const raw = entry as Record<string, unknown>;
  const id = str(raw['id']) ?? String(index);
  const secret = str(raw['secret']) ?? str(raw['clientSecret']);
  const authMethod =
    str(raw['authMethod']) ??
    str(raw['tokenEndpointAuthMethod']) ??
    (secret !== undefined ? 'client_secret_basic' : 'none');
  return {
    index,
    key: `providers[${index}]`,
    subject: `providers[${index}] ${id}`,
    id,
    type: str(raw['type']) ?? 'oidc',
    clientId: str(raw['clientId']) ?? '',
    secret,
    authMethod,
    scopes: strings(raw['scopes']) ?? [],
    idTokenSigningAlgs: strings(raw['idTokenSigningAlgs']),
    insecureAllowHttp: raw['insecureAllowHttp'] === true,
    raw,
  };
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, '');
}

/** Explicit endpoints in the entry (`type: oauth2`, or any type with skipDiscovery). */
function explicitEndpoints(p: ProviderView): Endpoints | undefined {
  const authorization = str(p.raw['authorizationUrl']);
  const token = str(p.raw['tokenUrl']);
  const userinfo = str(p.raw['userInfoUrl']) ?? str(p.raw['userinfoUrl']);
  const jwks = str(p.raw['jwksUrl']);
  if (!authorization && !token && !userinfo) return undefined;
  return {
    ...(authorization ? { authorization } : {}),
    ...(token ? { token } : {}),
    ...(userinfo ? { userinfo } : {}),
    ...(jwks ? { jwks } : {}),
  };
}

/** Discovery at the entry's `issuer` (the setting of that name). */
function discoverIssuer(p: ProviderView, setting = 'issuer'): Location {
  const issuer = str(p.raw['issuer']);
  if (issuer === undefined) return { kind: 'unknown', why: 'the entry has no issuer' };
  return { kind: 'discovery', issuer, expected: issuer, setting };
}

/** oidc (and types not listed): skipDiscovery or endpoints without an issuer → endpoints; else discovery. */
function locateGeneric(p: ProviderView): Location {
  const endpoints = explicitEndpoints(p);
  if (endpoints && (p.raw['skipDiscovery'] === true || str(p.raw['issuer']) === undefined)) {
    return { kind: 'endpoints', endpoints };
  }
  if (p.raw['skipDiscovery'] === true) {
    return { kind: 'unknown', why: 'skipDiscovery is set but no endpoints are' };
  }
  const issuer = discoverIssuer(p);
  return issuer.kind === 'unknown'
    ? { kind: 'unknown', why: 'the entry has neither an issuer nor authorizationUrl/tokenUrl' }
    : issuer;
}

const standard: ProviderKind = {
  locate: locateGeneric,
  redirectUriCheckedBeforeLogin: true,
};

/**
 * Entra ID: discovery at <authority>/<tenant>/v2.0. For the multi-tenant values (organizations, common)
 * the document publishes a template issuer, `https://login.microsoftonline.com/{tenantid}/v2.0`, and
 * ID tokens carry the user's tenant there. A single tenant given by domain name publishes its GUID.
 * learn.microsoft.com/en-us/entra/identity-platform/v2-protocols-oidc
 */
function locateEntra(p: ProviderView): Location {
  const tenant = str(p.raw['tenant']) ?? 'common';
  const authority = trimSlash(str(p.raw['authority']) ?? 'https://login.microsoftonline.com');
  const issuer = `${authority}/${tenant}/v2.0`;
  return { kind: 'discovery', issuer, expected: str(p.raw['issuer']) ?? issuer, setting: undefined };
}

function entraIssuerMatches(configured: string, discovered: string): boolean {
  if (sameIssuer(configured, discovered)) return true;
  if (!discovered.includes('{tenantid}')) return false;
  const pattern = discovered
    .split('{tenantid}')
    .map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('[^/]+');
  return new RegExp(`^${pattern}$`).test(configured);
}

function entraIssuerFix(p: ProviderView, published: string): string | undefined {
  const tenant = /\/([^/]+)\/v2\.0\/?$/.exec(published)?.[1];
  if (tenant === undefined || tenant === '{tenantid}') return undefined;
  return `set ${p.key}.tenant: ${tenant} (the directory id the IdP publishes in its issuer)`;
}

/**
 * GitHub (and GitHub Enterprise Server at `baseUrl`) has no discovery: the endpoints are documented at
 * docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps, the API at
 * api.github.com or <baseUrl>/api/v3 (`apiUrl`). Its token endpoint answers errors with HTTP 200 and its
 * own codes: docs.github.com/en/apps/oauth-apps/maintaining-oauth-apps/troubleshooting-oauth-app-access-token-request-errors
 */
function githubEndpoints(p: ProviderView): Location {
  const base = trimSlash(str(p.raw['baseUrl']) ?? 'https://github.com');
  const dotCom = /^https:\/\/(www\.)?github\.com$/.test(base);
  const api = trimSlash(str(p.raw['apiUrl']) ?? (dotCom ? 'https://api.github.com' : `${base}/api/v3`));
  const web = dotCom ? 'https://github.com' : base;
  return {
    kind: 'endpoints',
    endpoints: {
      authorization: `${web}/login/oauth/authorize`,
      token: `${web}/login/oauth/access_token`,
      userinfo: `${api}/user`,
    },
  };
}

/**
 * JupyterHub's OAuth 2.0 provider: /hub/api/oauth2/authorize, /hub/api/oauth2/token and the identity at
 * /hub/api/user under the hub's `url` (jupyterhub.readthedocs.io/en/stable/reference/api/). It asks for
 * the hub sign-in before it looks at the OAuth request.
 */
function jupyterhubEndpoints(p: ProviderView): Location {
  const base = str(p.raw['url']);
  if (base === undefined) return { kind: 'unknown', why: 'the entry has no hub url' };
  const b = jupyterhubBase(base);
  return {
    kind: 'endpoints',
    endpoints: {
      authorization: `${b}/hub/api/oauth2/authorize`,
      token: `${b}/hub/api/oauth2/token`,
      userinfo: `${b}/hub/api/user`,
    },
  };
}

/** Plain OAuth 2.0: the three endpoints are required settings; `issuer` is only an identifier there. */
function oauth2Endpoints(p: ProviderView): Location {
  const endpoints = explicitEndpoints(p);
  return endpoints
    ? { kind: 'endpoints', endpoints }
    : { kind: 'unknown', why: 'the entry has no authorizationUrl or tokenUrl' };
}

/**
 * Per provider type: how to find the IdP and its quirks. A type not listed is read like `oidc`. The
 * provider modules (src/idp) may replace an entry; the checks only use this interface.
 */
export const PROVIDER_KINDS: Readonly<Record<string, ProviderKind>> = {
  oidc: standard,
  keycloak: {
    ...standard,
    docs: 'https://www.keycloak.org/securing-apps/oidc-layers',
    locate: (p) => discoverIssuer(p),
  },
  google: {
    ...standard,
    docs: 'https://developers.google.com/identity/openid-connect/openid-connect',
    locate: (p) => discoverIssuer(p),
  },
  gitlab: {
    ...standard,
    docs: 'https://docs.gitlab.com/integration/openid_connect_provider/',
    // The resolved entry's issuer is baseUrl without a trailing slash.
    locate: (p) => {
      const base = str(p.raw['baseUrl']);
      if (base === undefined) return discoverIssuer(p);
      return {
        kind: 'discovery',
        issuer: base,
        expected: str(p.raw['issuer']) ?? trimSlash(base),
        setting: 'baseUrl',
      };
    },
  },
  entra: {
    ...standard,
    docs: 'https://learn.microsoft.com/en-us/entra/identity-platform/v2-protocols-oidc',
    locate: locateEntra,
    issuerMatches: entraIssuerMatches,
    issuerFix: entraIssuerFix,
  },
  github: {
    docs: 'https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps',
    locate: githubEndpoints,
    redirectUriCheckedBeforeLogin: false,
    redirectUriNote:
      'GitHub compares the host and port exactly and accepts any path below the app’s callback URL',
    readTokenError: (error) =>
      error === 'bad_verification_code'
        ? 'accepted'
        : error === 'incorrect_client_credentials'
          ? 'rejected'
          : undefined,
  },
  jupyterhub: {
    docs: 'https://jupyterhub.readthedocs.io/en/stable/reference/api/',
    locate: jupyterhubEndpoints,
    redirectUriCheckedBeforeLogin: false,
  },
  oauth2: { ...standard, locate: oauth2Endpoints },
};

export function providerKind(type: string): ProviderKind {
  return PROVIDER_KINDS[type] ?? standard;
}
