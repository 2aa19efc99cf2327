/**
 * ID token checks beyond what openid-client performs on the token response (it verifies the signature
 * with enableNonRepudiationChecks, iss, aud contains client_id, azp, exp, iat and nonce):
 * - the signing algorithm is on the configured allow-list (and is never `none`);
 * - every audience other than client_id is explicitly trusted (OIDC Core 3.1.3.7 step 3);
 * - an `azp`, when present, is client_id even with a single audience (3.1.3.7 step 5; openid-client checks
 *   it only when there are several audiences). In the code flow the token endpoint answered this client,
 *   so another authorized party means the token was minted for someone else;
 * - `at_hash` matches the access token when present (OIDC Core 3.2.2.9 / 3.1.3.8).
 */
import { createHash } from 'node:crypto';
import { decodeProtectedHeader } from 'jose/decode/protected_header';

export interface IdTokenPolicy {
  readonly clientId: string;
  readonly audiences: readonly string[];
  /** undefined: whatever the IdP advertises, minus `none`. */
  readonly algorithms: readonly string[] | undefined;
  readonly skipAtHash: boolean;
}

const HASH_FOR_ALG: Record<string, string> = {
  RS256: 'sha256',
  PS256: 'sha256',
  ES256: 'sha256',
  HS256: 'sha256',
  RS384: 'sha384',
  PS384: 'sha384',
  ES384: 'sha384',
  RS512: 'sha512',
  PS512: 'sha512',
  ES512: 'sha512',
  EdDSA: 'sha512',
  Ed25519: 'sha512',
};

/** Returns a reason the token must be rejected, or undefined when it passes. */
export function idTokenProblem(
  idToken: string,
  claims: Readonly<Record<string, unknown>>,
  accessToken: string | undefined,
  policy: IdTokenPolicy,
): string | undefined {
  let alg: string | undefined;
  try {
    alg = decodeProtectedHeader(idToken).alg;
  } catch {
    return 'ID token header cannot be decoded';
  }
  if (alg === undefined || alg.toLowerCase() === 'none') return 'unsigned ID token (alg none)';
  if (policy.algorithms !== undefined && !policy.algorithms.includes(alg)) {
    return `ID token signed with ${alg}, allowed: ${policy.algorithms.join(', ')}`;
  }
  const aud = claims['aud'];
  const auds = Array.isArray(aud) ? aud : [aud];
  for (const a of auds) {
    if (a !== policy.clientId && !policy.audiences.includes(String(a))) {
      return `ID token audience "${String(a)}" is not trusted (add it to audiences if it should be)`;
    }
  }
  const azp = claims['azp'];
  if (azp !== undefined && azp !== policy.clientId) {
    return `ID token authorized party (azp) "${String(azp)}" is not this client`;
  }
  const atHash = claims['at_hash'];
  if (atHash !== undefined && !policy.skipAtHash && accessToken !== undefined) {
    const hash = HASH_FOR_ALG[alg];
    if (hash === undefined) return `cannot check at_hash for alg ${alg}`;
    const digest = createHash(hash).update(accessToken, 'ascii').digest();
    const expected = digest.subarray(0, digest.length / 2).toString('base64url');
    if (atHash !== expected) return 'ID token at_hash does not match the access token';
  }
  return undefined;
}
