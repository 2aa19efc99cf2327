/**
 * The `issuer` and `storage` sections of the configuration: the OpenID provider Portcullis runs for the
 * platform's own services (mounted at `<publicUrl>/oidc`), and where its state lives. Imported by
 * src/config/schema.ts; resolved (secrets read, cross-field checks) by src/config/issuer.ts.
 */
import { z } from 'zod';
import { duration } from './duration.ts';
import { redisConnectionFields } from './redis.ts';
import { absoluteUrl, webUrl } from './url.ts';

/** The scopes the issuer knows, and the claims each releases (docs/issuer.md lists them for service owners). */
export const ISSUER_SCOPES = ['openid', 'profile', 'email', 'groups', 'offline_access'] as const;

export const issuerClientSchema = z
  .object({
    id: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/, {
        message: 'letters, digits, ".", "_", ":" and "-" only (at most 128)',
      })
      .describe('the client_id the service sends')
      .meta({ examples: ['grafana'] }),
    secret: z
      .string()
      .min(1)
      .optional()
      .describe(
        'client secret of a confidential client, at least 32 characters (`portcullis secret --client`)',
      )
      .meta({ examples: ['${GRAFANA_CLIENT_SECRET}'] }),
    secretFile: z
      .string()
      .min(1)
      .optional()
      .describe('a file holding the client secret')
      .meta({ examples: ['/run/secrets/grafana-client'] }),
    public: z
      .boolean()
      .default(false)
      .describe('a public client (single-page or native app): no secret, PKCE S256 required')
      .meta({ examples: [true] }),
    redirectUris: z
      .array(absoluteUrl)
      .default([])
      .describe(
        'redirect URIs the service may use, compared exactly: https, http on loopback only, or a native app’s private-use scheme in reverse-domain form (com.example.app:/callback, RFC 8252 §7.1)',
      )
      .meta({ examples: [['https://grafana.example.com/login/generic_oauth']] }),
    postLogoutRedirectUris: z
      .array(absoluteUrl)
      .default([])
      .describe(
        'where the service may send users after RP-initiated logout, compared exactly; the same schemes as redirectUris',
      )
      .meta({ examples: [['https://grafana.example.com/login']] }),
    scopes: z
      .array(z.enum(ISSUER_SCOPES))
      .default([...ISSUER_SCOPES])
      .describe('scopes the service may request')
      .meta({ examples: [['openid', 'profile', 'email', 'groups']] }),
    skipConsent: z
      .boolean()
      .default(false)
      .describe('no consent page (first-party services run by the same operator)')
      .meta({ examples: [true] }),
    clientCredentials: z
      .boolean()
      .default(false)
      .describe('may use the client_credentials grant (service-to-service calls without a user)')
      .meta({ examples: [true] }),
    idTokenSigningAlg: z
      .enum(['RS256', 'ES256'])
      .default('RS256')
      .describe('algorithm of the ID tokens this service receives')
      .meta({ examples: ['ES256'] }),
    accessTokenTtl: duration
      .optional()
      .describe('access token lifetime for this service; default issuer.accessTokenTtl')
      .meta({ examples: ['15m'] }),
    idTokenTtl: duration
      .optional()
      .describe('ID token lifetime for this service; default issuer.idTokenTtl')
      .meta({ examples: ['15m'] }),
    refreshTokenTtl: duration
      .optional()
      .describe('refresh token lifetime for this service; default issuer.refreshTokenTtl')
      .meta({ examples: ['24h'] }),
    display: z
      .object({
        name: z
          .string()
          .min(1)
          .describe('the service’s name on the consent page and the services page')
          .meta({ examples: ['Grafana'] }),
        url: webUrl
          .optional()
          .describe('the service’s home page (http or https), linked from the services page')
          .meta({ examples: ['https://grafana.example.com/'] }),
        description: z
          .string()
          .optional()
          .describe('one line about the service')
          .meta({ examples: ['Dashboards and alerts'] }),
      })
      .strict()
      .optional()
      .describe('how users see the service; default its id'),
  })
  .strict();

export const issuerSchema = z
  .object({
    clients: z
      .array(issuerClientSchema)
      .min(1, { message: 'register at least one client (a service that signs users in through Portcullis)' })
      .describe('the services that sign users in through Portcullis'),
    accessTokenTtl: duration
      .default(3600)
      .describe('default access token lifetime')
      .meta({ examples: ['30m'] }),
    idTokenTtl: duration
      .default(3600)
      .describe('default ID token lifetime')
      .meta({ examples: ['30m'] }),
    refreshTokenTtl: duration
      .default(14 * 24 * 3600)
      .describe('default refresh token lifetime (each use rotates it)')
      .meta({ examples: ['72h'] }),
  })
  .strict();

export const storageSchema = z
  .object({
    type: z
      .enum(['sqlite', 'redis', 'memory'])
      .default('sqlite')
      .describe(
        'sqlite: a file on this host; redis: shared by several Portcullis instances; memory: tests only (lost on restart)',
      )
      .meta({ examples: ['redis'] }),
    path: z
      .string()
      .min(1)
      .default('data/portcullis.db')
      .describe('the sqlite database file, relative to the working directory (created with mode 0600)')
      .meta({ examples: ['/var/lib/portcullis/portcullis.db'] }),
    url: z
      .string()
      .optional()
      .describe(
        'redis URL, e.g. redis://redis:6379/0 or rediss:// for TLS; type redis needs url, sentinels or cluster',
      )
      .meta({ examples: ['redis://127.0.0.1:6379/0'] }),
    password: z
      .string()
      .min(1)
      .optional()
      .describe('redis password (or put it in passwordFile)')
      .meta({ examples: ['${REDIS_PASSWORD}'] }),
    passwordFile: z
      .string()
      .min(1)
      .optional()
      .describe('a file holding the redis password')
      .meta({ examples: ['/run/secrets/redis-password'] }),
    keyPrefix: z
      .string()
      .min(1)
      .default('portcullis:')
      .describe(
        'prefix of every redis key, so instances of different deployments can share a server; on a Cluster it is also the hash tag of every key (docs/scaling.md)',
      )
      .meta({ examples: ['platform-a:'] }),
    ...redisConnectionFields('type redis'),
    cleanupInterval: duration
      .default(600)
      .describe('how often expired entries are removed (sqlite; redis expires keys itself)')
      .meta({ examples: ['5m'] }),
  })
  .strict();

export type IssuerConfig = z.output<typeof issuerSchema>;
export type IssuerClientConfig = z.output<typeof issuerClientSchema>;
export type StorageConfig = z.output<typeof storageSchema>;
