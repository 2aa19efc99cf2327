/**
 * What each stored key is at a given time, and the JWKS built from that. A key is
 *
 * - `pending` from its rotation until `activatesAt`: published, never signs;
 * - `active` from `activatesAt` (or from the start, for keys without one) until `retiredAt`: signs;
 * - `retired` from `retiredAt` until `keepUntil`: published, verifies what it signed, never signs;
 * - `expired` after `keepUntil`: no longer published (dropped from storage by the next rotation).
 *
 * Times come from the stored set, so every instance reading it switches keys at the same moment (up to
 * clock disagreement, which src/keys/timing.ts leaves room for).
 */
import type { JWK } from 'jose';
import { ALGORITHMS, type KeySet, type SigningAlg, type StoredKey } from './store.ts';

export type KeyState = 'pending' | 'active' | 'retired' | 'expired';

export function keyState(k: StoredKey, now: number): KeyState {
  if (k.retiredAt !== undefined && k.retiredAt <= now)
    return (k.keepUntil ?? 0) > now ? 'retired' : 'expired';
  if ((k.activatesAt ?? 0) > now) return 'pending';
  return 'active';
}

/**
 * The key of `alg` that signs at `now`: the active one that took over last. A rotation retires the previous
 * key when its successor activates, so there is one; the ordering only settles a clock that sees both.
 */
export function signingKey(set: KeySet, alg: SigningAlg, now: number): StoredKey | undefined {
  let best: StoredKey | undefined;
  for (const k of set.keys) {
    if (k.alg !== alg || keyState(k, now) !== 'active') continue;
    if (best === undefined || (k.activatesAt ?? k.createdAt) > (best.activatesAt ?? best.createdAt)) best = k;
  }
  return best;
}

/**
 * The JWKS oidc-provider is configured with: the signing key of each algorithm first (RS256, then ES256),
 * because oidc-provider signs with the first key of an algorithm (lib/helpers/keystore.js selectForSign
 * keeps the order of equally matching keys), then every other published key — pending keys (so they are
 * known everywhere before they sign) and retired keys still within their verification window.
 */
export function providerJwks(set: KeySet, now: number): JWK[] {
  const signing = ALGORITHMS.map((alg) => signingKey(set, alg, now)).filter((k) => k !== undefined);
  const others = set.keys.filter((k) => !signing.includes(k) && keyState(k, now) !== 'expired');
  return [...signing, ...others].map((k) => ({ ...k.jwk }));
}

/** JWK members of public keys: everything else (d, p, q, dp, dq, qi, oth) is private. */
const PUBLIC_MEMBERS = ['kty', 'crv', 'x', 'y', 'n', 'e', 'kid', 'alg', 'use'] as const;

/** The public half of the published keys as a JWKS document (RFC 7517 §5): /oauth2/jwks. */
export function publicJwks(set: KeySet, now: number): { keys: JWK[] } {
  return {
    keys: providerJwks(set, now).map((k) => {
      const pub: JWK = {};
      for (const m of PUBLIC_MEMBERS) if (k[m] !== undefined) pub[m] = k[m];
      return pub;
    }),
  };
}

/** The next time after `now` at which some key changes state (epoch seconds), if any. */
export function nextTransition(set: KeySet, now: number): number | undefined {
  let next: number | undefined;
  for (const k of set.keys) {
    for (const t of [k.activatesAt, k.retiredAt, k.keepUntil]) {
      if (t !== undefined && t > now && (next === undefined || t < next)) next = t;
    }
  }
  return next;
}
