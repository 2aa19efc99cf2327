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

/** `/oauth2/…` and `/oidc/…` belong to Portcullis: never proxied, whatever is configured. */
export function reservedPath(path: string): boolean {
  return path === '/oauth2' || path.startsWith('/oauth2/') || path === '/oidc' || path.startsWith('/oidc/');
}
