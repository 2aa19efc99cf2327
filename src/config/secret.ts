/** Decoding of key material given as base64, base64url, hex or raw text. */

export interface DecodedSecret {
  bytes: Buffer;
  encoding: 'hex' | 'base64' | 'base64url' | 'raw';
}

export const MIN_SECRET_BYTES = 32;

export function decodeSecret(value: string): DecodedSecret {
  const s = value.trim();
  // Hex digits and padded base64 are read as what they are whatever their length. Falling back to raw
  // text when they decoded to too few bytes let `openssl rand -hex 16` (16 bytes) pass the 32-byte check
  // as 32 "raw" bytes, and reported a short padded base64 key as raw.
  if (/^[0-9a-fA-F]+$/.test(s) && s.length % 2 === 0) {
    return { bytes: Buffer.from(s, 'hex'), encoding: 'hex' };
  }
  if (/^[A-Za-z0-9+/]+={0,2}$/.test(s) && s.length % 4 === 0) {
    const bytes = Buffer.from(s, 'base64');
    if (bytes.length >= MIN_SECRET_BYTES || s.endsWith('=')) return { bytes, encoding: 'base64' };
  }
  if (/^[A-Za-z0-9_-]+$/.test(s)) {
    const bytes = Buffer.from(s, 'base64url');
    if (bytes.length >= MIN_SECRET_BYTES && bytes.toString('base64url') === s)
      return { bytes, encoding: 'base64url' };
  }
  return { bytes: Buffer.from(s, 'utf8'), encoding: 'raw' };
}
