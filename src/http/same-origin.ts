/**
 * Is a state-changing request (a sign-out POST, the issuer's logout confirmation) from one of Portcullis's
 * own pages? Fetch Metadata first (https://w3c.github.io/webappsec-fetch-metadata/): `Sec-Fetch-Site`
 * must be `same-origin` — `same-site` is another origin (another port or subdomain), `cross-site` another
 * site, and `none` a typed URL or bookmark, which must go through the confirmation page too. Browsers
 * without Fetch Metadata still send `Origin` on every POST (RFC 6454 §7, Fetch §3.1), which must then be
 * the public origin. A request with neither header is refused: it cannot show where it came from.
 */
import type { Scope } from './scope.ts';

/** Why the request is not same-origin, or undefined when it is. */
export function crossSiteReason(s: Scope, publicOrigin: string): string | undefined {
  const h = s.req.headers;
  const site = h['sec-fetch-site'];
  if (site !== undefined) return site === 'same-origin' ? undefined : `Sec-Fetch-Site: ${site.slice(0, 32)}`;
  const origin = h.origin;
  if (origin === undefined) return 'neither Sec-Fetch-Site nor Origin';
  return origin === publicOrigin ? undefined : `Origin: ${origin.slice(0, 200)}`;
}
