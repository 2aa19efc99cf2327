/**
 * An IdP's signing keys (its jwks_uri), for every JWT Portcullis verifies: ID tokens at sign-in and
 * refresh (src/idp/oidc.ts), Keycloak's access tokens (src/idp/keycloak.ts).
 *
 * Keys rotate: an IdP publishes a new key and starts signing with it. A token whose `kid` is not in the
 * cached set makes us fetch the set again (OpenID RP certification, rp-key-rotation-op-sign-key) — but at
 * most once per JWKS_REFETCH_COOLDOWN_MS, so tokens with made-up kids cannot turn each request into a
 * request to the IdP. jose refuses outright an unknown kid seen within the cooldown of the last fetch; a
 * sign-in right after a rotation would then fail, so here it waits the cooldown out and asks once more
 * (the first to ask refetches, for everyone waiting).
 */
import type { JWTVerifyGetKey } from 'jose';
import * as errors from 'jose/errors';
import { createRemoteJWKSet, customFetch } from 'jose/jwks/remote';
import type { CustomFetch } from 'openid-client';

/** At most one refetch of a key set per this many ms, however many unknown kids arrive. */
export const JWKS_REFETCH_COOLDOWN_MS = 5_000;
/** A key set is fetched again after this long even without an unknown kid (jose's default, 10 min). */
export const JWKS_MAX_AGE_MS = 10 * 60_000;

export interface RemoteKeysOptions {
  readonly timeoutSeconds: number;
  readonly fetch?: CustomFetch | undefined;
}

export function remoteKeys(jwksUri: URL, o: RemoteKeysOptions): JWTVerifyGetKey {
  const set = createRemoteJWKSet(jwksUri, {
    cooldownDuration: JWKS_REFETCH_COOLDOWN_MS,
    cacheMaxAge: JWKS_MAX_AGE_MS,
    timeoutDuration: o.timeoutSeconds * 1000,
    ...(o.fetch ? { [customFetch]: (url: string, init: object) => o.fetch!(url, init as never) } : {}),
  });
  return async (header, token) => {
    try {
      return await set(header, token);
    } catch (err) {
      if (!(err instanceof errors.JWKSNoMatchingKey) || !set.coolingDown) throw err;
      const deadline = Date.now() + JWKS_REFETCH_COOLDOWN_MS;
      while (set.coolingDown && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      return await set(header, token);
    }
  };
}

/** Key sets kept per provider; the oldest is dropped beyond this (Entra: one per tenant signing in). */
const MAX_SETS = 100;

/** One key set per jwks_uri (Entra's tenants each have theirs), made on first use. */
export class KeySets {
  readonly #sets = new Map<string, JWTVerifyGetKey>();
  readonly #opts: RemoteKeysOptions;

  constructor(opts: RemoteKeysOptions) {
    this.#opts = opts;
  }

  for(jwksUri: string): JWTVerifyGetKey {
    let set = this.#sets.get(jwksUri);
    if (set === undefined) {
      set = remoteKeys(new URL(jwksUri), this.#opts);
      if (this.#sets.size >= MAX_SETS) this.#sets.delete(this.#sets.keys().next().value!);
      this.#sets.set(jwksUri, set);
    }
    return set;
  }
}
