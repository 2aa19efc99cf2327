/**
 * Asking the authorize step for a request, and answering its denial: 403 `PCL_FORBIDDEN` with what is
 * missing in words (page or JSON); the audit line is the authorize step's.
 */
import { PortcullisError } from '../errors/codes.ts';
import type { Outcome, Principal, Surface } from '../policy/authorize.ts';
import type { Decision } from '../policy/decision.ts';
import type { GatewayContext } from './context.ts';
import { type ErrorOptions, sendError } from './respond.ts';
import type { Scope } from './scope.ts';
import { readTarget, type TargetRefusal } from './target.ts';

/**
 * Asks the one authorization step (src/policy/authorize.ts) for a request's scope: the audit line carries the
 * request id and path, plus `audit` (e.g. the paths forward-auth was asked about).
 */
export function authorizeScope<P extends Principal>(
  ctx: GatewayContext,
  s: Scope,
  surface: Surface,
  principal: P | undefined,
  paths?: readonly string[],
  audit?: Record<string, unknown>,
): Outcome<P> {
  // Built without a spread: on the hot path (every proxied request) a conditional spread costs an object
  // clone per call.
  const auditLine = () => ({ requestId: s.id, path: s.path, ...audit });
  const client = typeof audit?.['client'] === 'string' ? audit['client'] : undefined;
  // The request id is made on first use (a random UUID): only a denial's audit line or the console's
  // decision record asks for it, so an allowed request without the console makes none.
  const requestId = () => s.id;
  return ctx.authz.authorize(
    paths !== undefined
      ? { surface, principal, paths, requestId, client, audit: auditLine }
      : { surface, principal, requestId, client, audit: auditLine },
  );
}

/** Renders a denial the authorize step has already recorded: 403 `PCL_FORBIDDEN`, the reasons in words. */
/**
 * Renders a denial the authorize step has already recorded: 403 `PCL_FORBIDDEN`, the reasons in words. A
 * request that came with a bearer token gets RFC 6750 §3.1's form instead — JSON and
 * `WWW-Authenticate: Bearer error="insufficient_scope"`: the token is valid, and no sign-in would change it.
 */
export function sendForbidden(
  ctx: GatewayContext,
  s: Scope,
  d: Decision,
  o: Pick<ErrorOptions, 'json' | 'retryHref'> = {},
): void {
  const bearer = s.bearer !== undefined;
  const json = bearer ? true : o.json;
  sendError(ctx.log, s, new PortcullisError('PCL_FORBIDDEN', d.reasons.join(', ')), {
    ...(json !== undefined ? { json } : {}),
    retryHref: o.retryHref,
    ...(bearer ? { extraHeaders: { 'WWW-Authenticate': insufficientScope(d.reasons) } } : {}),
    explanations: d.explanations,
    reasons: d.reasons,
    logged: true,
  });
}

/** RFC 6750 §3: the challenge for a valid token the access rules refuse (reasons as the description). */
export function insufficientScope(reasons: readonly string[]): string {
  const description = reasons.join(', ').replace(/[^\x20-\x7e]|["\\]/g, '');
  return `Bearer error="insufficient_scope", error_description="Access rules refuse this token: ${description}"`;
}

/** The original request's path as forward-auth sees it: the paths to decide for, or the header that is unreadable. */
export type NamedPaths =
  | { readonly paths: readonly string[] }
  | { readonly bad: string; readonly why?: TargetRefusal | undefined };

/** The path headers, in the order they are read (lower-case, then as named in errors); slot 3 is the prefix. */
const NAMES = ['x-forwarded-uri', 'x-original-uri', 'x-original-url', 'x-forwarded-prefix'] as const;
const SPELLED = ['X-Forwarded-Uri', 'X-Original-URI', 'X-Original-URL', 'X-Forwarded-Prefix'] as const;

/**
 * Which of NAMES a raw header name is, in any case, or -1: looked at only when its length and one letter
 * fit (X-Forwarded-For, as long as X-Forwarded-Uri, is told apart by its last letter), so the usual
 * headers are not lower-cased to find out.
 */
function pathHeader(name: string): number {
  const n = name.length;
  const last = name.charCodeAt(n - 1) | 0x20;
  let slot: number;
  if (n === 15 && last === 0x69)
    slot = 0; // …-uri
  else if (n === 14 && (last === 0x69 || last === 0x6c))
    slot = last === 0x69 ? 1 : 2; // …-uri, …-url
  else if (n === 18 && last === 0x78)
    slot = 3; // …-prefix
  else return -1;
  return name.toLowerCase() === NAMES[slot] ? slot : -1;
}

function addPath(paths: string[], p: string): void {
  if (!paths.includes(p)) paths.push(p);
}

/** Adds every reading of a request target (`/a/b?q`): its path and the other readings servers make. */
function addTargetPaths(paths: string[], value: string): TargetRefusal | undefined {
  if (!value.startsWith('/')) return 'not-a-path';
  const target = readTarget(value);
  if (typeof target === 'string') return target;
  addPath(paths, target.path);
  for (const r of target.readings) addPath(paths, r);
  return undefined;
}

/**
 * For forward-auth (/oauth2/auth): every path the request names for the original request —
 * `X-Forwarded-Uri` (Traefik, Caddy), that path under `X-Forwarded-Prefix` (Traefik's stripPrefix stores what
 * it removed there), `X-Original-URI` (nginx, when configured), `X-Original-URL` (ingress-nginx: the whole URL,
 * whose path is taken as written) and, for Envoy's ext_authz with
 * `path_prefix: /oauth2/auth`, the rest of the request's own path (`envoyPath`, already normalised).
 *
 * The caller decides for each of them and lets the request through only when all are allowed. A path can
 * only add the rules of its route to the top-level and provider rules that apply anyway, so these values
 * are read from any peer: a client that names paths itself (directly, or through a proxy that passes its
 * headers on) can only be refused more, never let in where the path its proxy named is refused. A path that
 * servers read in more than one way (`%2F`, `;params`, `//`, see target.ts) names every reading, so the
 * strictest route decides. A header that is repeated, or whose path cannot be read (not absolute, a raw `#`,
 * dot segments, undecodable), makes the request bad: guessing a path would be unsafe. Without any header the
 * caller refuses the request when route rules exist (PCL_FORWARD_AUTH_NO_PATH): silently deciding without
 * them would lose every route rule of an operator who copied a snippet that sends no path.
 */
export function forwardAuthPaths(s: Scope, envoyPaths?: readonly string[]): NamedPaths {
  // One pass over the raw headers (Node joins repeated unknown headers with ", "; they are needed apart):
  // the first value and the number of lines of each.
  const raw = s.req.rawHeaders;
  const first: (string | undefined)[] = [undefined, undefined, undefined, undefined];
  const count = [0, 0, 0, 0];
  for (let i = 0; i < raw.length; i += 2) {
    const slot = pathHeader(raw[i]!);
    if (slot === -1) continue;
    const seen = count[slot]!;
    count[slot] = seen + 1;
    if (seen === 0) first[slot] = raw[i + 1]!;
  }
  if (count[3]! > 1) return { bad: SPELLED[3] };
  const paths: string[] = envoyPaths === undefined ? [] : [...new Set(envoyPaths)];
  for (let h = 0; h < 3; h++) {
    if (count[h] === 0) continue;
    const header = SPELLED[h]!;
    let value = first[h]!.trim();
    if (count[h]! > 1) return { bad: header };
    if (h === 2) {
      // ingress-nginx sends the whole URL (`$scheme://$host$request_uri`). Its path is read as written, not
      // through the URL parser, which would resolve dot segments that nginx passes on as they came.
      const origin = /^https?:\/\/[^/?#]*/i.exec(value);
      if (origin === null) return { bad: header, why: 'not-a-path' };
      value = value.slice(origin[0].length) || '/';
    }
    const refused = addTargetPaths(paths, value);
    if (refused !== undefined) return { bad: header, why: refused };
    if (h === 0 && count[3] === 1) {
      const prefix = first[3]!.trim();
      const usable = prefix.startsWith('/') && !/[?#]/.test(prefix);
      const joined = usable ? addTargetPaths(paths, prefix.replace(/\/+$/, '') + value) : 'not-a-path';
      if (joined !== undefined) return { bad: SPELLED[3], why: joined };
    }
  }
  return { paths };
}
