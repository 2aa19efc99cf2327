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

/** The headers forward-auth reads the original path from, in the order they are read; lower-case. */
const PATH_HEADERS = ['x-forwarded-uri', 'x-original-uri', 'x-original-url'] as const;
const SPELLED = {
  'x-forwarded-uri': 'X-Forwarded-Uri',
  'x-original-uri': 'X-Original-URI',
  'x-original-url': 'X-Original-URL',
} as const;
const PREFIX_HEADER = 'x-forwarded-prefix';

/**
 * Every value of the path headers and of X-Forwarded-Prefix as received, each line apart (Node joins
 * repeated unknown headers with ", "; we need them apart): one pass over the raw headers, a name compared
 * only when its length is one of theirs. Slot 3 is X-Forwarded-Prefix.
 */
function pathHeaderValues(s: Scope): (string[] | undefined)[] {
  const raw = s.req.rawHeaders;
  const out: (string[] | undefined)[] = [undefined, undefined, undefined, undefined];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const n = name.length;
    if (n !== 14 && n !== 15 && n !== 18) continue;
    const lower = name.toLowerCase();
    const slot =
      lower === PATH_HEADERS[0]
        ? 0
        : lower === PATH_HEADERS[1]
          ? 1
          : lower === PATH_HEADERS[2]
            ? 2
            : lower === PREFIX_HEADER
              ? 3
              : -1;
    if (slot === -1) continue;
    const list = out[slot];
    if (list === undefined) out[slot] = [raw[i + 1]!];
    else list.push(raw[i + 1]!);
  }
  return out;
}

/** Every reading of a request target (`/a/b?q`): its path and the other readings servers make, or undefined. */
function targetPaths(value: string): readonly string[] | TargetRefusal {
  if (!value.startsWith('/')) return 'not-a-path';
  const target = readTarget(value);
  return typeof target === 'string' ? target : [target.path, ...target.readings];
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
  const paths: string[] = envoyPaths === undefined ? [] : [...new Set(envoyPaths)];
  const add = (p: string) => {
    if (!paths.includes(p)) paths.push(p);
  };
  const values = pathHeaderValues(s);
  const prefixes = values[3];
  if (prefixes !== undefined && prefixes.length > 1) return { bad: 'X-Forwarded-Prefix' };
  for (let h = 0; h < PATH_HEADERS.length; h++) {
    const found = values[h];
    if (found === undefined) continue;
    const header = SPELLED[PATH_HEADERS[h]!];
    let value = found[0]!.trim();
    if (found.length > 1) return { bad: header };
    if (header === 'X-Original-URL') {
      // ingress-nginx sends the whole URL (`$scheme://$host$request_uri`). Its path is read as written, not
      // through the URL parser, which would resolve dot segments that nginx passes on as they came.
      const origin = /^https?:\/\/[^/?#]*/i.exec(value);
      if (origin === null) return { bad: header, why: 'not-a-path' };
      value = value.slice(origin[0].length) || '/';
    }
    const read = targetPaths(value);
    if (typeof read === 'string') return { bad: header, why: read };
    for (const p of read) add(p);
    if (header === 'X-Forwarded-Uri' && prefixes !== undefined) {
      const prefix = prefixes[0]!.trim();
      const usable = prefix.startsWith('/') && !/[?#]/.test(prefix);
      const joined = usable ? targetPaths(prefix.replace(/\/+$/, '') + value) : 'not-a-path';
      if (typeof joined === 'string') return { bad: 'X-Forwarded-Prefix', why: joined };
      for (const p of joined) add(p);
    }
  }
  return { paths };
}
