// Signing for the stubs that issue JWTs (Google, Entra, the plain OAuth2 server's unused ID tokens): an RS256 key with its public JWKS, ID tokens signed
// with jose (never by hand), and at_hash as OIDC Core 3.1.3.6 defines it (left half of SHA-256, base64url).
import { createHash, randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, type JWK, type JWTPayload, SignJWT } from 'jose';

export interface StubSigner {
  readonly kid: string;
  /** The public key set, as the IdP publishes it (extra members per key allowed, as Entra's `issuer`). */
  jwks(extra?: Record<string, unknown>): { keys: JWK[] };
  sign(claims: JWTPayload & Record<string, unknown>, header?: Record<string, unknown>): Promise<string>;
}

export async function createSigner(): Promise<StubSigner> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const kid = randomUUID().replaceAll('-', '');
  const pub = await exportJWK(publicKey);
  return {
    kid,
    jwks: (extra = {}) => ({ keys: [{ ...pub, kid, alg: 'RS256', use: 'sig', ...extra }] }),
    sign: (claims, header = {}) =>
      new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid, typ: 'JWT', ...header }).sign(privateKey),
  };
}

/** OIDC Core 3.1.3.6: base64url of the left half of the SHA-256 of the access token's ASCII octets. */
export function atHash(accessToken: string): string {
  const digest = createHash('sha256').update(accessToken, 'ascii').digest();
  return digest.subarray(0, digest.length / 2).toString('base64url');
}

export const nowSeconds = (): number => Math.floor(Date.now() / 1000);
