/**
 * The single source of Portcullis's configuration: every option with its type, default and description.
 * Validation, the TypeScript types and (later) the generated reference docs all come from here.
 */

import { z } from 'zod';
import { REFUSALS, readTarget } from './paths.ts';
import { adminSchema } from './schema/admin.ts';
import { bearerSchema, routeBearerSchema } from './schema/bearer.ts';
import { corsSchema } from './schema/cors.ts';
import { duration } from './schema/duration.ts';
import { forwardAuthSchema } from './schema/forward-auth.ts';
import { issuerSchema, storageSchema } from './schema/issuer.ts';
import { allowSchema } from './schema/policy.ts';
import { providerSchema } from './schema/providers.ts';
import { redisConnectionFields } from './schema/redis.ts';
import { serverSchema } from './schema/server.ts';
import { webUrl } from './schema/url.ts';

export type { AllowConfig } from './schema/policy.ts';
export {
  type OidcProviderConfig,
  oidcProviderSchema,
  type ProviderConfig,
  type ProviderType,
  providerSchema,
} from './schema/providers.ts';

export { duration };

const url = webUrl;
const hostPort = z.string().regex(/^(?:\[[0-9a-fA-F:.]+\]|[^:\s]+):\d{1,5}$/, {
  message: 'must be host:port, e.g. 0.0.0.0:4180 or 127.0.0.1:4180',
});

const secretFields = (what: string, rules: string) => ({
  secret: z
    .union([z.string().min(1), z.array(z.string().min(1)).min(1)])
    .optional()
    .describe(`${what} (${rules}); a list rotates: the first encrypts`),
  secretFile: z
    .string()
    .min(1)
    .optional()
    .describe(`a file holding ${what}, one per line for rotation (the first encrypts)`),
});

/**
 * A path prefix as requests are matched (src/config/paths.ts, the same reading every request gets): decoded
 * once, no dot segments, no doubled slashes, nothing another server would read differently. `/a%20b/`
 * would never match anything; the message says how to write it.
 */
const pathPrefix = z
  .string()
  .startsWith('/', { message: 'must start with /' })
  .superRefine((v, ctx) => {
    if (!v.startsWith('/')) return;
    const t = readTarget(v);
    if (typeof t !== 'string' && t.path === v && t.query === '' && t.readings.length === 0) return;
    ctx.addIssue({
      code: 'custom',
      message:
        typeof t === 'string'
          ? `is not a usable path (${REFUSALS[t]}: such requests are refused)${t === 'dot-segment' ? `; write it as ${new URL(v, 'http://x').pathname}` : ''}`
          : t.query !== '' || t.path !== v
            ? `requests are matched on the decoded, normalised path: write it as ${t.path}`
            : `servers read it in more than one way (${t.readings.join(', ')}): write it as ${t.path} without ;, %2F, %5C, \\ or trailing dots`,
    });
  });

/** The signed identity assertion for one upstream (src/proxy/assertion.ts, docs/assertion.md). */
export const assertionSchema = z
  .object({
    enabled: z
      .boolean()
      .default(true)
      .describe('sign and send the assertion; an `assertion` section turns it on unless this is false')
      .meta({ examples: [true] }),
    audience: z
      .string()
      .min(1)
      .optional()
      .describe('the `aud` claim the upstream checks; default the origin of the upstream’s `url`')
      .meta({ examples: ['https://grafana.internal.example.com'] }),
    lifetime: duration
      .default(300)
      .describe(
        'how long one assertion is valid (`exp` − `iat`), 30s to 1h; re-signed when a third of it is left',
      )
      .meta({ examples: ['2m'] }),
  })
  .strict();

export const upstreamSchema = z
  .object({
    id: z.string().min(1).optional().describe('name used in logs and error pages; default the path'),
    path: pathPrefix.describe('path prefix served by this upstream'),
    url: url.describe('where requests are forwarded, e.g. http://127.0.0.1:8080'),
    timeout: duration.default(30).describe('time to wait for the upstream’s response headers'),
    passAuthorization: z
      .enum(['none', 'access_token', 'id_token'])
      .default('none')
      .describe('send Authorization: Bearer with this token'),
    preserveHost: z.boolean().default(true).describe('send the client’s Host header upstream'),
    assertion: assertionSchema
      .optional()
      .describe(
        'send X-Portcullis-Assertion, a short-lived JWT signed by Portcullis that says who the user is; absent: not sent',
      ),
  })
  .strict();

export const routeSchema = z
  .object({
    path: pathPrefix.describe('path prefix'),
    public: z
      .boolean()
      .default(false)
      .describe('no sign-in needed; a visitor with a valid session is still forwarded with their identity'),
    api: z.boolean().default(false).describe('answer 401 JSON instead of redirecting to sign-in'),
    bearer: routeBearerSchema,
    cors: corsSchema
      .optional()
      .describe(
        'let pages of other origins call this route (CORS); preflights are answered by Portcullis (docs/api-access.md)',
      ),
    allow: allowSchema
      .optional()
      .describe(
        'access rules for this path, on top of the top-level and provider rules (docs/access-rules.md)',
      ),
  })
  .strict();

/**
 * `sessions`: in the cookie (the default), or server-side with only a sealed random id in the cookie —
 * on a redis server of their own (`store: redis` + `url`, the design's spelling) or in the top-level
 * `storage` section (`store: storage`, sqlite or redis) that the issuer uses too (docs/endpoints.md).
 */
export const sessionsSchema = z
  .object({
    store: z
      .enum(['cookie', 'redis', 'storage'])
      .default('cookie')
      .describe(
        'where sessions live. cookie: sealed in the browser cookie; redis: on the redis server at sessions.url; storage: in the top-level storage section (sqlite or redis). With redis or storage the cookie holds only a sealed random id, and sign-out revokes the session everywhere',
      )
      .meta({ examples: ['redis'] }),
    lifetime: duration.default(12 * 3600).describe('absolute session lifetime'),
    url: z
      .string()
      .optional()
      .describe(
        'redis URL for store redis, e.g. redis://redis:6379/0 or rediss:// for TLS; store redis needs url, sentinels or cluster',
      )
      .meta({ examples: ['redis://127.0.0.1:6379/0'] }),
    password: z
      .string()
      .min(1)
      .optional()
      .describe('redis password for store redis (or put it in passwordFile)')
      .meta({ examples: ['${REDIS_PASSWORD}'] }),
    passwordFile: z
      .string()
      .min(1)
      .optional()
      .describe('a file holding the redis password for store redis')
      .meta({ examples: ['/run/secrets/redis-password'] }),
    keyPrefix: z
      .string()
      .min(1)
      .default('portcullis:sessions:')
      .describe(
        'prefix of the session keys in redis (store redis), so deployments can share a server; on a Cluster it is also the hash tag of every key (docs/scaling.md)',
      )
      .meta({ examples: ['platform-a:sessions:'] }),
    localCache: z
      .object({
        seconds: z
          .number()
          .int()
          .min(1)
          .max(300)
          .describe(
            'the longest a session is served from memory without a store read, even when an invalidation is lost: the bound on how late a revocation can take effect',
          )
          .meta({ examples: [5] }),
      })
      .strict()
      .optional()
      .describe(
        'off unless set: keep live sessions in each process’s memory, so a request skips the redis read. Every sign-out, revocation and refresh publishes an invalidation (redis PUBLISH) that every instance hears, so revocation takes effect after that message’s latency (a millisecond or so) instead of at the next request; while an instance is not subscribed its cache is emptied and unused. Store redis, or store storage with storage.type redis (docs/endpoints.md#server-side-sessions)',
      ),
    ...redisConnectionFields('store redis'),
  })
  .strict();

export const configSchema = z
  .object({
    publicUrl: url
      .describe('the URL users open; the redirect URI is publicUrl + /oauth2/callback')
      .meta({ examples: ['https://platform.example.com'] }),
    redirectUrl: url
      .optional()
      .describe('explicit redirect URI, e.g. behind a TLS-terminating load balancer that rewrites the host'),
    listen: hostPort.default('127.0.0.1:4180').describe('address to listen on'),
    server: serverSchema
      .prefault({})
      .describe('timeouts for slow or idle clients and the cap on open connections (docs/endpoints.md)'),
    cookie: z
      .object({
        name: z
          .string()
          .regex(/^[A-Za-z0-9_-]+$/, { message: 'letters, digits, - and _ only' })
          .default('portcullis')
          .describe('cookie name (a __Host- prefix is added on https)'),
        ...secretFields('the cookie secret', '≥ 32 bytes; base64, hex or raw'),
        domain: z
          .string()
          .optional()
          .describe('cookie domain; default host-only (allows the __Host- prefix)'),
        secure: z
          .boolean()
          .optional()
          .describe('Secure flag; default on unless publicUrl is http on loopback'),
      })
      .strict(),
    sessions: sessionsSchema.prefault({}),
    providers: z
      .array(providerSchema)
      .min(1, { message: 'configure at least one identity provider' })
      .describe('the identity providers users sign in with (docs/providers/)')
      .meta({
        examples: [
          [
            {
              id: 'corp',
              type: 'oidc',
              issuer: 'https://login.example.com',
              clientId: 'portcullis',
              clientSecretFile: '/run/secrets/oidc',
            },
          ],
        ],
      }),
    allow: allowSchema
      .optional()
      .describe('access rules for every signed-in user, whichever provider (docs/access-rules.md)'),
    bearer: bearerSchema
      .prefault({})
      .describe('bearer tokens: clock skew, and issuers trusted for bearer use only (docs/api-access.md)'),
    autoLogin: z
      .boolean()
      .default(false)
      .describe(
        'with exactly one provider: skip the sign-in page. A browser without a session that opens a protected page is answered with the redirect to the IdP itself (the sign-in started as /oauth2/start starts it), and /oauth2/sign_in starts it too; API requests still get 401',
      ),
    upstreams: z
      .array(upstreamSchema)
      .min(1, { message: 'configure at least one upstream' })
      .describe('the applications behind Portcullis, by path prefix')
      .meta({ examples: [[{ path: '/', url: 'http://127.0.0.1:8080' }]] }),
    routes: z.array(routeSchema).default([]),
    admin: adminSchema
      .prefault({})
      .describe('the operator console at <publicUrl>/oauth2/admin, off by default (docs/console.md)'),
    forwardAuth: forwardAuthSchema
      .prefault({})
      .describe('how /oauth2/auth answers nginx auth_request, Traefik, Caddy and Envoy (docs/endpoints.md)'),
    trustedProxies: z
      .array(z.string())
      .default([])
      .describe('peers whose X-Forwarded-* headers are honoured'),
    allowedRedirectDomains: z
      .array(z.string())
      .default([])
      .describe('other hosts allowed as rd targets: example.com or .example.com'),
    pendingLoginsMax: z.number().int().min(1).max(20).default(5).describe('sign-ins in flight per browser'),
    logging: z
      .object({
        level: z
          .enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'])
          .default('info')
          .describe('lowest level of the log lines written to standard output'),
        format: z
          .enum(['auto', 'json', 'pretty'])
          .default('auto')
          .describe(
            'json lines, or pretty (coloured; needs the optional package pino-pretty, else json after a warning); auto: pretty on a terminal, else json',
          ),
      })
      .strict()
      .default({ level: 'info', format: 'auto' }),
    metrics: z
      .object({
        enabled: z.boolean().default(true).describe('serve Prometheus metrics at /metrics'),
        listen: hostPort
          .default('127.0.0.1:9180')
          .describe(
            'the metrics listener: /metrics and nothing else. Loopback by default, so only the host (or an agent beside Portcullis) can scrape it; in a pod scraped over the network use 0.0.0.0:9180 and restrict who reaches the port',
          )
          .meta({ examples: ['0.0.0.0:9180'] }),
        insecureOnMainListener: z
          .boolean()
          .default(false)
          .describe(
            'serve /metrics on the main listener instead (and open no metrics listener): anyone who can reach Portcullis then reads the sign-in and denial counts without signing in, and the upstream’s own /metrics is hidden',
          ),
      })
      .strict()
      .prefault({}),
    issuer: issuerSchema
      .optional()
      .describe('an OpenID provider at <publicUrl>/oidc for the platform’s own services (docs/issuer.md)'),
    storage: storageSchema
      .prefault({})
      .describe(
        'where Portcullis keeps state: the issuer’s grants, tokens and signing keys, the assertion signing keys, and sessions with sessions.store: storage',
      ),
  })
  .strict();

export type RawConfig = z.input<typeof configSchema>;
export type Config = z.output<typeof configSchema>;
export type UpstreamConfig = z.output<typeof upstreamSchema>;
export type RouteConfig = z.output<typeof routeSchema>;
export type SessionsConfig = z.output<typeof sessionsSchema>;
export type { BearerConfig, BearerIssuerConfig, ProviderBearerConfig } from './schema/bearer.ts';
export type { CorsConfig } from './schema/cors.ts';
export type { ForwardAuthConfig } from './schema/forward-auth.ts';
export type { ServerConfig } from './schema/server.ts';
