/**
 * `forwardAuth`: how /oauth2/auth answers the proxy in front (nginx auth_request, Traefik, Caddy, Envoy).
 * The one setting lets a proxy cache an allow decision (src/http/endpoints.ts, docs/integrations/nginx.md):
 * the speed it buys is paid in revocation delay, so it is off unless the operator says how long.
 */
import { z } from 'zod';

/** The longest an allow decision may be cached: a signed-out or removed user is let in for at most this. */
export const FORWARD_AUTH_CACHE_MAX = 300;

export const forwardAuthSchema = z
  .object({
    cacheSeconds: z
      .number()
      .int()
      .min(0)
      .max(FORWARD_AUTH_CACHE_MAX)
      .default(0)
      .describe(
        `let the proxy cache a 202 (allowed) of /oauth2/auth for up to this many seconds (0–${FORWARD_AUTH_CACHE_MAX}), bounded by the session's own expiry: Cache-Control max-age plus Vary: Cookie, only on 202/200 and never with a Set-Cookie; 401/403/400 stay no-store. 0 (the default): every answer is no-store. The price is revocation delay: a replayed cookie of a server-side session that signed out, or a user whose rules changed, is let in by the cache until the entry expires. The cache key must hold the whole Cookie header and the path (examples/nginx-cached.conf)`,
      )
      .meta({ examples: [10] }),
  })
  .strict();

export type ForwardAuthConfig = z.output<typeof forwardAuthSchema>;
