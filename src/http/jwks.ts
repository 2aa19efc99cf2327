/**
 * `/oauth2/jwks`: the public keys that verify X-Portcullis-Assertion (docs/assertion.md), with or without
 * the issuer. The same key set as /oidc/jwks, so a service can use either. Without any upstream that is
 * sent assertions (and without the issuer) no keys exist, and the set is empty.
 */
import type { GatewayContext } from './context.ts';
import type { Scope } from './scope.ts';

const EMPTY = '{"keys":[]}';

export function jwks(ctx: GatewayContext, s: Scope): void {
  const body = ctx.assertions?.jwks ?? EMPTY;
  const res = s.res;
  res.statusCode = 200;
  // RFC 7517 §8.5. Not cached on the way: after a rotation the new key signs at once, and a verifier
  // that meets an unknown kid must get the new set when it asks again.
  res.setHeader('Content-Type', 'application/jwk-set+json');
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Access-Control-Allow-Origin', '*');
  res.end(s.req.method === 'HEAD' ? undefined : body);
}
