/**
 * The PKCE S256 code challenge (RFC 7636 §4.2): BASE64URL(SHA256(ASCII(code_verifier))). Computed with
 * node:crypto, synchronously: openid-client's calculatePKCECodeChallenge goes through WebCrypto's async
 * digest, a thread-pool round trip that cost ~0.15–0.2 ms per sign-in start here against ~1 µs (the same
 * value; test/login/pkce.test.ts compares them).
 */
import { createHash } from 'node:crypto';

export function codeChallenge(codeVerifier: string): string {
  return createHash('sha256').update(codeVerifier, 'ascii').digest('base64url');
}
