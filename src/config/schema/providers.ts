/**
 * The `providers` entries: one schema per provider `type`, a discriminated union. Every type shares the
 * fields in `common`; the rest is what that provider needs (docs/providers/<type>.md). Imported by
 * src/config/schema.ts; resolved (secrets, derived endpoints, cross-field checks) by src/config/providers.ts.
 */
import { z } from 'zod';
import { providerBearerSchema } from './bearer.ts';
import { allowSchema } from './policy.ts';
import { imageUrl, webUrl as url } from './url.ts';

const claimPath = z
  .string()
  .regex(/^[^.\s]+(\.[^.\s]+)*$/, { message: 'a claim name, or a dot path such as realm_access.roles' });

export const PROVIDER_TYPES = [
  'oidc',
  'github',
  'google',
  'entra',
  'gitlab',
  'keycloak',
  'jupyterhub',
  'oauth2',
] as const;
export type ProviderType = (typeof PROVIDER_TYPES)[number];

/** Fields every provider type has. */
const common = {
  id: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_-]*$/, { message: 'must be lower-case letters, digits, - or _' })
    .describe('provider id used in /oauth2/start?provider=<id>'),
  displayName: z.string().optional().describe('name shown on the sign-in button'),
  icon: imageUrl
    .optional()
    .describe('URL of a small image shown on the sign-in button (https, or a data: URL)')
    .meta({ examples: ['https://platform.example.com/static/sso.svg'] }),
  clientId: z.string().min(1).describe('client id registered at the IdP'),
  clientSecret: z
    .string()
    .min(1)
    .optional()
    .describe('client secret; absent means a public client using PKCE'),
  clientSecretFile: z.string().min(1).optional().describe('a file holding the client secret'),
  allow: allowSchema
    .optional()
    .describe(
      'access rules for users of this provider, on top of the top-level allow (docs/access-rules.md)',
    ),
  bearer: providerBearerSchema
    .optional()
    .describe(
      'accept this provider’s JWTs (ID tokens, JWT access tokens) as Authorization: Bearer on routes with bearer (docs/api-access.md); OpenID Connect types only',
    ),
  insecureAllowUnverifiedEmail: z
    .boolean()
    .default(false)
    .describe(
      'let an e-mail address the IdP marks unverified (email_verified: false) satisfy e-mail rules and reach upstreams',
    )
    .meta({ examples: [false] }),
};

const tokenEndpointAuthMethod = z
  .enum(['client_secret_basic', 'client_secret_post', 'none'])
  .optional()
  .describe('token endpoint authentication; default client_secret_basic with a secret, none without');

const scopes = (defaults: readonly string[], more = '') =>
  z
    .array(z.string().min(1))
    .default([...defaults])
    .describe(`scopes requested${more}`);

const logoutAtIdp = z
  .boolean()
  .default(false)
  .describe('sign-out also ends the IdP session (RP-initiated logout with id_token_hint)');

const insecureAllowHttp = z
  .boolean()
  .default(false)
  .describe('allow plain-http URLs that are not on loopback (never in production)');

const audiences = z
  .array(z.string().min(1))
  .default([])
  .describe('extra audiences trusted in ID tokens besides clientId (OIDC Core 3.1.3.7)');

const userinfo = z.boolean().default(false).describe('also call the userinfo endpoint after sign-in');

export const oidcProviderSchema = z
  .object({
    ...common,
    type: z.literal('oidc').describe('provider type'),
    issuer: url.describe('issuer URL exactly as the IdP publishes it in its discovery document'),
    tokenEndpointAuthMethod,
    scopes: scopes(['openid', 'email', 'profile']),
    audiences,
    idTokenSigningAlgs: z
      .array(z.string().min(1))
      .optional()
      .describe(
        'allowed ID token signing algorithms; default the IdP’s advertised list (never none), or RS256 with skipDiscovery',
      ),
    userinfo,
    logoutAtIdp,
    insecureSkipAtHash: z.boolean().default(false).describe('do not check the at_hash claim of ID tokens'),
    insecureAllowHttp: z
      .boolean()
      .default(false)
      .describe('allow a plain-http issuer that is not on loopback (never in production)'),
    skipDiscovery: z
      .boolean()
      .default(false)
      .describe(
        'do not fetch <issuer>/.well-known/openid-configuration; use authorizationUrl, tokenUrl and jwksUrl',
      )
      .meta({ examples: [true] }),
    authorizationUrl: url
      .optional()
      .describe('authorization endpoint (with skipDiscovery)')
      .meta({ examples: ['https://login.example.com/oauth2/authorize'] }),
    tokenUrl: url
      .optional()
      .describe('token endpoint (with skipDiscovery)')
      .meta({ examples: ['https://login.example.com/oauth2/token'] }),
    jwksUrl: url
      .optional()
      .describe('the IdP’s signing keys, JWKS (with skipDiscovery)')
      .meta({ examples: ['https://login.example.com/oauth2/keys'] }),
    userInfoUrl: url
      .optional()
      .describe('userinfo endpoint (with skipDiscovery; needed for userinfo: true)')
      .meta({ examples: ['https://login.example.com/oauth2/userinfo'] }),
    endSessionUrl: url
      .optional()
      .describe('end-session endpoint (with skipDiscovery; needed for logoutAtIdp)')
      .meta({ examples: ['https://login.example.com/oauth2/logout'] }),
    emailClaim: claimPath
      .default('email')
      .describe('the claim holding the e-mail address; email_verified is applied only to the email claim')
      .meta({ examples: ['upn'] }),
    groupsClaim: claimPath
      .default('groups')
      .describe('the claim holding the groups (a list, or one string)')
      .meta({ examples: ['realm_access.roles'] }),
    usernameClaim: claimPath
      .default('preferred_username')
      .describe('the claim holding the username')
      .meta({ examples: ['nickname'] }),
  })
  .strict();

export const keycloakProviderSchema = z
  .object({
    ...common,
    type: z.literal('keycloak').describe('provider type'),
    issuer: url
      .describe(
        'the realm’s issuer, https://<host>/realms/<realm> (Keycloak 16 and older: …/auth/realms/<realm>)',
      )
      .meta({ examples: ['https://keycloak.example.com/realms/acme'] }),
    tokenEndpointAuthMethod,
    scopes: scopes(['openid', 'email', 'profile']),
    audiences,
    userinfo,
    logoutAtIdp,
    insecureAllowHttp,
    roleClients: z
      .array(z.string().min(1))
      .optional()
      .describe('clients whose client roles become groups role:<client>:<role>; default clientId')
      .meta({ examples: [['portcullis', 'grafana']] }),
  })
  .strict();

export const googleProviderSchema = z
  .object({
    ...common,
    type: z.literal('google').describe('provider type'),
    scopes: scopes(['openid', 'email', 'profile']),
    hostedDomains: z
      .array(z.string().min(1))
      .optional()
      .describe('Google Workspace domains allowed, checked against the hd claim of the ID token')
      .meta({ examples: [['example.com']] }),
    offlineAccess: z
      .boolean()
      .default(false)
      .describe('ask for a refresh token (access_type=offline, prompt=consent) so sessions refresh')
      .meta({ examples: [true] }),
    issuer: url
      .default('https://accounts.google.com')
      .describe('Google’s issuer; change it only for a test double')
      .meta({ examples: ['https://accounts.google.com'] }),
  })
  .strict();

export const entraProviderSchema = z
  .object({
    ...common,
    type: z.literal('entra').describe('provider type'),
    tenant: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9.-]*$/, { message: 'a tenant id (GUID), a domain, or organizations' })
      .describe('the directory (tenant) id; organizations or common for a multi-tenant application')
      .meta({ examples: ['72f988bf-86f1-41af-91ab-2d7cd011db47'] }),
    allowedTenants: z
      .array(z.string().min(1))
      .optional()
      .describe('with tenant organizations or common: the tenant ids (tid) whose users may sign in')
      .meta({ examples: [['72f988bf-86f1-41af-91ab-2d7cd011db47']] }),
    tokenEndpointAuthMethod,
    scopes: scopes(['openid', 'profile', 'email', 'offline_access']),
    logoutAtIdp,
    groupOverage: z
      .boolean()
      .default(true)
      .describe('when a user has too many groups for the token, read them from Microsoft Graph')
      .meta({ examples: [false] }),
    authority: url
      .default('https://login.microsoftonline.com')
      .describe('the sign-in host; another one for national clouds, e.g. https://login.microsoftonline.us')
      .meta({ examples: ['https://login.microsoftonline.us'] }),
    graphUrl: url
      .default('https://graph.microsoft.com')
      .describe('Microsoft Graph, for group overage; e.g. https://graph.microsoft.us for national clouds')
      .meta({ examples: ['https://graph.microsoft.us'] }),
  })
  .strict();

export const gitlabProviderSchema = z
  .object({
    ...common,
    type: z.literal('gitlab').describe('provider type'),
    baseUrl: url
      .default('https://gitlab.com')
      .describe('gitlab.com or your self-managed GitLab (its issuer)')
      .meta({ examples: ['https://gitlab.example.com'] }),
    tokenEndpointAuthMethod,
    scopes: scopes(['openid', 'profile', 'email'], '; read_api is added when projects are set'),
    groups: z
      .array(z.string().min(1))
      .optional()
      .describe('the user must be a member of one of these groups (full path)')
      .meta({ examples: [['acme', 'acme/platform']] }),
    projects: z
      .array(
        z.string().regex(/^[^=\s]+\/[^=\s]+(=(\d+|guest|reporter|developer|maintainer|owner))?$/, {
          message: 'must be group/project, optionally =access level (reporter, developer, 30, …)',
        }),
      )
      .optional()
      .describe(
        'the user must have access to one of these projects, path[=minimum access level] (default reporter)',
      )
      .meta({ examples: [['acme/website', 'acme/infra=developer']] }),
    insecureAllowHttp,
  })
  .strict();

export const githubProviderSchema = z
  .object({
    ...common,
    type: z.literal('github').describe('provider type'),
    baseUrl: url
      .default('https://github.com')
      .describe('https://github.com, or your GitHub Enterprise Server')
      .meta({ examples: ['https://github.example.com'] }),
    apiUrl: url
      .optional()
      .describe('the REST API; default https://api.github.com, or <baseUrl>/api/v3 for Enterprise Server')
      .meta({ examples: ['https://github.example.com/api/v3'] }),
    scopes: z
      .array(z.string().min(1))
      .optional()
      .describe('scopes requested; default read:user and user:email, plus read:org with orgs or teams')
      .meta({ examples: [['read:user', 'user:email', 'read:org']] }),
    orgs: z
      .array(z.string().min(1))
      .optional()
      .describe('the user must be a member of one of these organisations')
      .meta({ examples: [['acme']] }),
    teams: z
      .array(z.string().regex(/^[^/\s]+\/[^/\s]+$/, { message: 'must be org/team-slug' }))
      .optional()
      .describe('the user must be in one of these teams, org/team-slug')
      .meta({ examples: [['acme/platform']] }),
    users: z
      .array(z.string().min(1))
      .optional()
      .describe('these GitHub logins may sign in whatever their organisations and teams')
      .meta({ examples: [['octocat']] }),
    insecureAllowHttp,
  })
  .strict();

export const jupyterhubProviderSchema = z
  .object({
    ...common,
    type: z.literal('jupyterhub').describe('provider type'),
    url: url.describe('the hub’s public URL (without /hub)').meta({ examples: ['https://hub.example.com'] }),
    scopes: scopes([], '; the default is the hub’s identify scope'),
    insecureAllowHttp,
  })
  .strict();

export const oauth2ProviderSchema = z
  .object({
    ...common,
    type: z.literal('oauth2').describe('provider type'),
    authorizationUrl: url
      .describe('authorization endpoint')
      .meta({ examples: ['https://sso.example.com/oauth/authorize'] }),
    tokenUrl: url.describe('token endpoint').meta({ examples: ['https://sso.example.com/oauth/token'] }),
    userInfoUrl: url
      .describe('where the profile is read, with Authorization: Bearer <access token>')
      .meta({ examples: ['https://sso.example.com/api/me'] }),
    tokenEndpointAuthMethod,
    scopes: scopes([]),
    userInfoMapping: z
      .object({
        id: claimPath
          .optional()
          .describe(
            'the stable user id; default sub, else id, else (with a warning from check) username, then email',
          )
          .meta({ examples: ['data.uid'] }),
        email: claimPath
          .default('email')
          .describe('the e-mail address')
          .meta({ examples: ['mail'] }),
        name: claimPath
          .default('name')
          .describe('the display name')
          .meta({ examples: ['displayName'] }),
        firstName: claimPath
          .optional()
          .describe('the given name (makes the name when name is absent)')
          .meta({ examples: ['profile.given'] }),
        lastName: claimPath
          .optional()
          .describe('the family name')
          .meta({ examples: ['profile.family'] }),
        username: claimPath
          .optional()
          .describe('the username')
          .meta({ examples: ['login'] }),
        groups: claimPath
          .optional()
          .describe('the groups (a list, or one string)')
          .meta({ examples: ['memberOf'] }),
        roles: claimPath
          .optional()
          .describe('Spinnaker’s name for groups (a Gate userInfoMapping block pastes as is); not both')
          .meta({ examples: ['memberOf'] }),
      })
      .strict()
      .refine((m) => m.groups === undefined || m.roles === undefined, {
        message: 'set groups or roles (Spinnaker’s name for it), not both',
      })
      .prefault({})
      .describe('where each field of the identity is in the profile (dot paths allowed)'),
    issuer: url
      .optional()
      .describe(
        'the server’s issuer identifier, when it sends the RFC 9207 iss response parameter; default the origin of authorizationUrl',
      )
      .meta({ examples: ['https://sso.example.com'] }),
    insecureAllowHttp,
  })
  .strict();

const VARIANTS = [
  oidcProviderSchema,
  githubProviderSchema,
  googleProviderSchema,
  entraProviderSchema,
  gitlabProviderSchema,
  keycloakProviderSchema,
  jupyterhubProviderSchema,
  oauth2ProviderSchema,
] as const;

export const providerSchema = z.discriminatedUnion('type', VARIANTS, {
  error: (issue) =>
    issue.code === 'invalid_union'
      ? `must be one of ${PROVIDER_TYPES.join(', ')}${typeof issue.input === 'object' && issue.input !== null && 'type' in issue.input ? ` (got ${JSON.stringify((issue.input as { type: unknown }).type)})` : ''}`
      : undefined,
});

/** The fields shared by every type, for reporting their problems when the `type` itself is wrong. */
export const commonProviderSchema = z.object({ ...common });

export type ProviderConfig = z.output<typeof providerSchema>;
export type OidcProviderConfig = z.output<typeof oidcProviderSchema>;
export type GithubProviderConfig = z.output<typeof githubProviderSchema>;
export type GoogleProviderConfig = z.output<typeof googleProviderSchema>;
export type EntraProviderConfig = z.output<typeof entraProviderSchema>;
export type GitlabProviderConfig = z.output<typeof gitlabProviderSchema>;
export type KeycloakProviderConfig = z.output<typeof keycloakProviderSchema>;
export type JupyterhubProviderConfig = z.output<typeof jupyterhubProviderSchema>;
export type OAuth2ProviderConfig = z.output<typeof oauth2ProviderSchema>;
