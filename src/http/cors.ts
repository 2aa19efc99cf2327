/**
 * CORS per route (`routes[].cors`, the Fetch standard's CORS protocol,
 * https://fetch.spec.whatwg.org/#http-cors-protocol). A preflight — OPTIONS with `Origin` and
 * `Access-Control-Request-Method` — is answered here, before the session step: it carries no credentials by
 * design, so sending it to sign in (a 302 the browser treats as a CORS failure) or to the upstream (which
 * may not know the rules) would break every credentialed or bearer call. Other requests from an allowed
 * origin get the response headers set up front, so they ride on whatever answers: the upstream's response,
 * or Portcullis's own 401 and 403, which a single-page app must be able to read.
 */
import type { CorsConfig } from '../config/schema.ts';
import type { GatewayContext } from './context.ts';
import type { Scope } from './scope.ts';

function allowedOrigin(cors: CorsConfig, origin: string): string | undefined {
  if (cors.origins.includes(origin)) return origin;
  // `*` only without credentials (the schema refuses both): the literal * is what browsers accept then.
  return cors.origins.includes('*') ? '*' : undefined;
}

/** The reason a preflight is refused, or undefined when it passes. */
function preflightProblem(cors: CorsConfig, s: Scope): string | undefined {
  const method = String(s.req.headers['access-control-request-method']);
  // Methods compare case-sensitively (Fetch §3.2.5); the CORS-safelisted ones need no listing.
  if (!['GET', 'HEAD', 'POST'].includes(method) && !cors.methods.includes(method)) return `method ${method}`;
  const wanted = String(s.req.headers['access-control-request-headers'] ?? '')
    .split(',')
    .map((h) => h.trim().toLowerCase())
    .filter((h) => h !== '');
  const allowed = new Set(cors.headers.map((h) => h.toLowerCase()));
  const missing = wanted.filter((h) => !allowed.has(h));
  return missing.length > 0 ? `headers ${missing.join(', ')}` : undefined;
}

/** The CORS step: answers a preflight of a route with `cors` (true), or sets the headers for the answer. */
export function cors(ctx: GatewayContext, s: Scope): boolean {
  const c = s.route?.cors;
  if (c === undefined || s.upgrade !== undefined) return false;
  const res = s.res;
  res.setHeader('Vary', 'Origin');
  const origin = s.req.headers.origin;
  if (origin === undefined) return false;
  const allowed = allowedOrigin(c, origin);
  const preflight =
    s.req.method === 'OPTIONS' && s.req.headers['access-control-request-method'] !== undefined;
  if (!preflight) {
    if (allowed === undefined) return false;
    res.setHeader('Access-Control-Allow-Origin', allowed);
    if (c.credentials) res.setHeader('Access-Control-Allow-Credentials', 'true');
    if (c.exposeHeaders.length > 0)
      res.setHeader('Access-Control-Expose-Headers', c.exposeHeaders.join(', '));
    return false;
  }
  res.setHeader('Vary', 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers');
  const problem = allowed === undefined ? 'origin' : preflightProblem(c, s);
  if (problem === undefined) {
    res.setHeader('Access-Control-Allow-Origin', allowed!);
    res.setHeader('Access-Control-Allow-Methods', c.methods.join(', '));
    res.setHeader('Access-Control-Allow-Headers', c.headers.join(', '));
    if (c.credentials) res.setHeader('Access-Control-Allow-Credentials', 'true');
    res.setHeader('Access-Control-Max-Age', String(c.maxAge));
  } else {
    // No Access-Control-* headers: the browser refuses the call, and the page's console says so.
    ctx.log.info(
      { requestId: s.id, event: 'cors.refused', path: s.path, origin: origin.slice(0, 200), reason: problem },
      'CORS preflight refused',
    );
  }
  res.statusCode = 204;
  res.setHeader('Cache-Control', 'no-store');
  res.end();
  return true;
}
