/**
 * The request target as the gateway reads it (src/config/paths.ts: one reading for the configuration's
 * route paths and for every request), and the gateway's own answers to what cannot be read.
 */
import { REFUSALS, type TargetRefusal } from '../config/paths.ts';
import { PortcullisError } from '../errors/codes.ts';

export { readTarget, splitTarget, type Target, type TargetRefusal } from '../config/paths.ts';

/** The error for an unreadable target: ambiguity has its own code, plain garbage is a bad request. */
export function targetError(r: TargetRefusal): PortcullisError {
  const ambiguous = r === 'fragment' || r === 'dot-segment' || r === 'double-encoding';
  return new PortcullisError(ambiguous ? 'PCL_AMBIGUOUS_PATH' : 'PCL_BAD_REQUEST', REFUSALS[r]);
}

/**
 * The path below the base path (publicUrl's path, '' at the root), or undefined when `path` is not under
 * it: only what is under the base can be one of Portcullis's own endpoints. Both are normalised paths.
 */
export function ownPath(base: string, path: string): string | undefined {
  if (base === '') return path;
  if (path === base) return '';
  return path.startsWith(`${base}/`) ? path.slice(base.length) : undefined;
}

/**
 * `<base>/oauth2/…` and `<base>/oidc/…` belong to Portcullis: never proxied, whatever is configured. With a
 * base path, a plain `/oauth2/…` is the upstream's, as with oauth2-proxy's `--proxy-prefix`.
 */
export function reservedPath(path: string, base = ''): boolean {
  const own = ownPath(base, path);
  if (own === undefined) return false;
  return own === '/oauth2' || own.startsWith('/oauth2/') || own === '/oidc' || own.startsWith('/oidc/');
}
