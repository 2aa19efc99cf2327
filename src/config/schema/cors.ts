/**
 * `routes[].cors`: which other origins' pages may call this route from a browser (the Fetch standard's CORS
 * protocol, https://fetch.spec.whatwg.org/#http-cors-protocol). Portcullis answers the preflights itself —
 * never redirected to sign in, never forwarded — and adds the response headers to every answer of the route,
 * its own 401 and 403 included, so a single-page app can read why it was refused. Used by src/http/cors.ts.
 */
import { z } from 'zod';
import { duration } from './duration.ts';

/**
 * An origin as browsers send it in `Origin` (RFC 6454 §6.2): scheme://host[:port], nothing after. The
 * trailing slash that comes with pasting a URL never matches, silently: Dispatch's operators lost days to it.
 */
const origin = z.string().superRefine((v, ctx) => {
  if (v === '*') return;
  let u: URL | undefined;
  try {
    u = new URL(v);
  } catch {
    u = undefined;
  }
  if (u === undefined || (u.protocol !== 'https:' && u.protocol !== 'http:')) {
    ctx.addIssue({ code: 'custom', message: 'must be an origin such as https://app.example.com' });
    return;
  }
  if (u.origin !== v) {
    ctx.addIssue({
      code: 'custom',
      message: `browsers send the origin as ${u.origin}${v.endsWith('/') ? ' (no trailing slash)' : ' (no path, default port left out, lower-case host)'}: "${v}" would never match; write ${u.origin}`,
    });
  }
});

const token = z
  .string()
  .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, { message: 'must be a header or method name' });

export const corsSchema = z
  .object({
    origins: z
      .array(origin)
      .min(1)
      .describe(
        'origins whose pages may call this route, exactly as browsers send them (no trailing slash); * for any (never with credentials)',
      )
      .meta({ examples: [['https://dispatch.example.com']] }),
    methods: z
      .array(token)
      .default(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'])
      .describe('methods allowed (Access-Control-Allow-Methods)')
      .meta({ examples: [['GET', 'POST']] }),
    headers: z
      .array(token)
      .default(['Authorization', 'Content-Type'])
      .describe(
        'request headers allowed (Access-Control-Allow-Headers); Authorization is needed for bearer tokens',
      )
      .meta({ examples: [['Authorization', 'Content-Type', 'X-Requested-With']] }),
    exposeHeaders: z
      .array(token)
      .default([])
      .describe('response headers the page may read besides the simple ones (Access-Control-Expose-Headers)')
      .meta({ examples: [['X-Request-Id']] }),
    credentials: z
      .boolean()
      .default(false)
      .describe(
        'let the page send cookies (the session) and read the answer (Access-Control-Allow-Credentials)',
      )
      .meta({ examples: [true] }),
    maxAge: duration
      .default(600)
      .describe(
        'how long browsers may cache a preflight answer (Access-Control-Max-Age; Chromium caps it at 2h)',
      )
      .meta({ examples: ['10m'] }),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.credentials && c.origins.includes('*')) {
      ctx.addIssue({
        code: 'custom',
        path: ['origins'],
        message: 'browsers refuse * with credentials (Fetch standard): list the origins',
      });
    }
  });

export type CorsConfig = z.output<typeof corsSchema>;
