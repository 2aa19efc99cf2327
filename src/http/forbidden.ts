/**
 * Asking the authorize step for a request, and answering its denial: 403 `PCL_FORBIDDEN` with what is
 * missing in words (page or JSON); the audit line is the authorize step's.
 */
import { PortcullisError } from '../errors/codes.ts';
import type { Outcome, Principal, Surface } from '../policy/authorize.ts';
import type { Decision } from '../policy/decision.ts';
import { normalisePath } from '../policy/routes.ts';
import type { GatewayContext } from './context.ts';
import { type ErrorOptions, sendError } from './respond.ts';
import { type Scope, splitTarget } from './scope.ts';

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
  return ctx.authz.authorize({
    surface,
    principal,
    ...(paths !== undefined ? { paths } : {}),
    audit: () => ({ requestId: s.id, path: s.path, ...audit }),
  });
}

/** Renders a denial the authorize step has already recorded: 403 `PCL_FORBIDDEN`, the reasons in words. */
export function sendForbidden(
  ctx: GatewayContext,
  s: Scope,
  d: Decision,
  o: Pick<ErrorOptions, 'json' | 'retryHref'> = {},
): void {
  sendError(ctx.log, s, new PortcullisError('PCL_FORBIDDEN', d.reasons.join(', ')), {
    ...(o.json !== undefined ? { json: o.json } : {}),
    retryHref: o.retryHref,
    explanations: d.explanations,
    reasons: d.reasons,
    logged: true,
  });
}

/** The original request's path as forward-auth sees it: the paths to decide for, or the header that is unreadable. */
export type NamedPaths = { readonly paths: readonly string[] } | { readonly bad: string };

/** Every value of one header as received (Node joins repeated unknown headers with ", "; we need them apart). */
function rawValues(s: Scope, name: string): string[] {
  const raw = s.req.rawHeaders;
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length === name.length && raw[i]!.toLowerCase() === name) out.push(raw[i + 1]!);
  }
  return out;
}

/** The normalised path of a request target (`/a/b?q`), or undefined when it cannot be read. */
function targetPath(value: string): string | undefined {
  if (!value.startsWith('/')) return undefined;
  const target = splitTarget(value);
  return target === undefined ? undefined : normalisePath(target.path);
}

/**
 * For forward-auth (/oauth2/auth): every path the request names for the original request —
 * `X-Forwarded-Uri` (Traefik, Caddy), that path under `X-Forwarded-Prefix` (Traefik's stripPrefix stores what
 * it removed there), `X-Original-URI` (nginx, when configured) and, for Envoy's ext_authz with
 * `path_prefix: /oauth2/auth`, the rest of the request's own path (`envoyPath`, already normalised).
 *
 * The caller decides for each of them and lets the request through only when all are allowed. A path can
 * only add the rules of its route to the top-level and provider rules that apply anyway, so these values
 * are read from any peer: a client that names paths itself (directly, or through a proxy that passes its
 * headers on) can only be refused more, never let in where the path its proxy named is refused. Without any,
 * only the top-level and provider rules apply. A header that is repeated, or whose path cannot be read (not
 * absolute, undecodable, ambiguous dot segments), makes the request bad: guessing a path would be unsafe.
 */
export function forwardAuthPaths(s: Scope, envoyPath?: string): NamedPaths {
  const paths = new Set<string>();
  if (envoyPath !== undefined) paths.add(envoyPath);
  const prefixes = rawValues(s, 'x-forwarded-prefix');
  if (prefixes.length > 1) return { bad: 'X-Forwarded-Prefix' };
  for (const [name, header] of [
    ['x-forwarded-uri', 'X-Forwarded-Uri'],
    ['x-original-uri', 'X-Original-URI'],
  ] as const) {
    const values = rawValues(s, name);
    if (values.length === 0) continue;
    const value = values[0]!.trim();
    const path = values.length === 1 ? targetPath(value) : undefined;
    if (path === undefined) return { bad: header };
    paths.add(path);
    if (header === 'X-Forwarded-Uri' && prefixes.length === 1) {
      const prefix = prefixes[0]!.trim();
      const usable = prefix.startsWith('/') && !/[?#]/.test(prefix);
      const joined = usable ? targetPath(prefix.replace(/\/+$/, '') + value) : undefined;
      if (joined === undefined) return { bad: 'X-Forwarded-Prefix' };
      paths.add(joined);
    }
  }
  return { paths: [...paths] };
}
