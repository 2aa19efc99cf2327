/** Cookie header parsing and Set-Cookie serialisation (RFC 6265 §4.1, §5.2). */

export interface CookieOptions {
  readonly secure: boolean;
  readonly domain?: string | undefined;
  readonly httpOnly?: boolean;
  readonly sameSite?: 'Lax' | 'Strict' | 'None';
  readonly path?: string;
}

/**
 * Parses a Cookie header into name → value; the first occurrence of a name wins. With `prefix`, only names
 * starting with it are kept: a request may carry thousands of cookies of other apps on the domain (or
 * garbage), and none of them is ours to read or clear.
 */
export function parseCookies(header: string | undefined, prefix = ''): Map<string, string> {
  const out = new Map<string, string>();
  if (!header) return out;
  let start = 0;
  while (start < header.length) {
    let end = header.indexOf(';', start);
    if (end === -1) end = header.length;
    const eq = header.indexOf('=', start);
    if (eq !== -1 && eq < end) {
      const name = header.slice(start, eq).trim();
      if (name !== '' && name.startsWith(prefix) && !out.has(name))
        out.set(name, header.slice(eq + 1, end).trim());
    }
    start = end + 1;
  }
  return out;
}

export function serializeCookie(
  name: string,
  value: string,
  maxAgeSeconds: number,
  o: CookieOptions,
): string {
  let s = `${name}=${value}; Path=${o.path ?? '/'}; Max-Age=${Math.max(0, Math.floor(maxAgeSeconds))}`;
  if (maxAgeSeconds <= 0) s += '; Expires=Thu, 01 Jan 1970 00:00:00 GMT';
  if (o.domain) s += `; Domain=${o.domain}`;
  if (o.httpOnly !== false) s += '; HttpOnly';
  if (o.secure) s += '; Secure';
  s += `; SameSite=${o.sameSite ?? 'Lax'}`;
  return s;
}

/** The names of Portcullis's cookies: the session's (and its chunks'), and the sign-in flows' prefix. */
export interface CookieNames {
  /** The session cookie's name, including any __Host- prefix. */
  readonly session: string;
  /** Prefix of the per-flow state cookies. */
  readonly flowPrefix: string;
}

export function cookieNames(base: string, secure: boolean, domain: string | undefined): CookieNames {
  // __Host- binds the cookie to this exact origin: needs Secure, Path=/ and no Domain (RFC 6265bis §4.1.3.2).
  const name = secure && domain === undefined ? `__Host-${base}` : base;
  return { session: name, flowPrefix: `${name}_f_` };
}
