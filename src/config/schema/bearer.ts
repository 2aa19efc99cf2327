/**
 * Bearer tokens (docs/api-access.md): `Authorization: Bearer <JWT>` accepted on the routes that say so
 * (`routes[].bearer`), from a sign-in provider that opts in (`providers[].bearer`) or from an issuer trusted
 * for bearer use only (`bearer.issuers`, e.g. a CI system's OIDC tokens). Imported by src/config/schema.ts and
 * src/config/schema/providers.ts; checked across fields by src/config/bearer.ts; used by src/bearer/.
 */
import { z } from 'zod';
import { duration } from './duration.ts';
import { allowSchema } from './policy.ts';
import { webUrl } from './url.ts';

/** Never `none`, never a symmetric algorithm: the key would be the client secret, which others hold too. */
export const BEARER_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
] as const;

const algorithms = z
  .array(z.enum(BEARER_ALGORITHMS))
  .min(1)
  .optional()
  .describe('signature algorithms accepted; default the provider’s ID token algorithms (never none or HS*)')
  .meta({ examples: [['RS256']] });

const audiences = z
  .array(z.string().min(1))
  .min(1)
  .describe(
    'the `aud` values accepted (any one suffices): the API’s own audience, e.g. api://dispatch or https://dispatch.example.com',
  )
  .meta({ examples: [['https://dispatch.example.com']] });

/** `providers[].bearer`: this provider's JWTs (ID tokens, RFC 9068 access tokens) are accepted as bearers. */
export const providerBearerSchema = z
  .object({
    audiences: audiences
      .optional()
      .describe(
        'the `aud` values accepted (any one suffices); default the clientId (ID tokens of a single-page app). Set the API’s own audience for access tokens',
      ),
    algorithms,
    opaque: z
      .enum(['introspection', 'userinfo'])
      .optional()
      .describe(
        'also accept opaque (non-JWT) access tokens: introspection asks the IdP’s RFC 7662 endpoint (OpenID Connect types); userinfo asks its profile endpoint (GitHub: its check-token API first, so only this app’s tokens pass). One IdP call per new token, cached (bearer.opaqueCache)',
      )
      .meta({ examples: ['introspection'] }),
  })
  .strict();

const claimPath = z
  .string()
  .regex(/^[^.\s]+(\.[^.\s]+)*$/, { message: 'a claim name, or a dot path such as realm_access.roles' });

/** One issuer trusted for bearer tokens only: nobody signs in through it. */
export const bearerIssuerSchema = z
  .object({
    id: z
      .string()
      .regex(/^[a-z0-9][a-z0-9_-]*$/, { message: 'must be lower-case letters, digits, - or _' })
      .describe('name of this token source: X-Forwarded-Provider, logs, routes[].bearer lists')
      .meta({ examples: ['github-actions'] }),
    issuer: webUrl
      .describe('the `iss` its tokens carry, exactly')
      .meta({ examples: ['https://token.actions.githubusercontent.com'] }),
    jwksUrl: webUrl
      .optional()
      .describe('its key set; default the jwks_uri of <issuer>/.well-known/openid-configuration')
      .meta({ examples: ['https://token.actions.githubusercontent.com/.well-known/jwks'] }),
    audiences,
    algorithms,
    userClaim: claimPath
      .default('sub')
      .describe('the claim that names the caller (X-Forwarded-User)')
      .meta({ examples: ['sub'] }),
    emailClaim: claimPath
      .default('email')
      .describe('the claim holding an e-mail address')
      .meta({ examples: ['email'] }),
    usernameClaim: claimPath
      .default('preferred_username')
      .describe('the claim sent as X-Forwarded-Preferred-Username')
      .meta({ examples: ['actor'] }),
    groupsClaim: claimPath
      .default('groups')
      .describe('the claim holding groups (a list or a string)')
      .meta({ examples: ['groups'] }),
    allow: allowSchema
      .optional()
      .describe(
        'access rules for this issuer’s tokens, on top of the top-level allow (docs/access-rules.md)',
      ),
  })
  .strict();

export const bearerSchema = z
  .object({
    clockSkew: duration
      .default(60)
      .describe(
        'how far `exp`, `nbf` and `iat` may be off (clock skew between the issuer and here), at most 5m',
      )
      .meta({ examples: ['30s'] }),
    opaqueCache: z
      .object({
        ttl: duration
          .default(60)
          .describe(
            'how long an active opaque token is believed before the IdP is asked again (at most its exp)',
          )
          .meta({ examples: ['2m'] }),
        negativeTtl: duration
          .default(10)
          .describe('how long an inactive or unknown opaque token is refused without asking the IdP again')
          .meta({ examples: ['10s'] }),
      })
      .strict()
      .prefault({})
      .describe('the cache of opaque-token answers (introspection, userinfo), keyed by the token’s SHA-256'),
    issuers: z
      .array(bearerIssuerSchema)
      .default([])
      .describe('issuers trusted for bearer tokens only, each with its audience (a CI system’s OIDC tokens)'),
  })
  .strict();

/** `routes[].bearer`: true (every bearer source) or the ids of the sources accepted there. */
export const routeBearerSchema = z
  .union([z.boolean(), z.array(z.string().min(1)).min(1)])
  .default(false)
  .describe(
    'accept Authorization: Bearer tokens here: true for every source (providers with a bearer section, bearer.issuers), or a list of their ids',
  )
  .meta({ examples: [['corp', 'github-actions']] });

export type BearerConfig = z.output<typeof bearerSchema>;
export type BearerIssuerConfig = z.output<typeof bearerIssuerSchema>;
export type ProviderBearerConfig = z.output<typeof providerBearerSchema>;
