/**
 * What crosses to the upstream: hop-by-hop headers removed (RFC 9110 §7.6.1), identity headers from the
 * client stripped in every spelling (any case, `_` for `-`, since many servers treat them alike),
 * Portcullis's cookies removed, X-Forwarded-* set from the trust boundary, identity added.
 */
/** What the trust boundary (src/http/trust.ts) established about the client: the X-Forwarded-* to send on. */
export interface ForwardedInfo {
  clientIp: string;
  proto: 'http' | 'https';
  /** The validated, lower-cased `host[:port]`, or '' when no valid host was given. */
  host: string;
}

export const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
]);

/** By length: whether some hop-by-hop name has it (a name of another length is not lower-cased to look). */
const HOP_LENGTH: readonly boolean[] = (() => {
  const out: boolean[] = [];
  for (const n of HOP_BY_HOP) out[n.length] = true;
  return out;
})();

/** The hop-by-hop name `name` is, lower-cased, or undefined when it is none. */
export function hopByHop(name: string): string | undefined {
  if (HOP_LENGTH[name.length] !== true) return undefined;
  const lower = name.toLowerCase();
  return HOP_BY_HOP.has(lower) ? lower : undefined;
}

/**
 * Adds the header names a Connection value lists (RFC 9110 §7.6.1) to `into` (made when needed); the
 * options keep-alive and close are not names. The usual values (`keep-alive`, `close`) allocate nothing.
 */
export function connectionNames(value: string, into: string[] | undefined): string[] | undefined {
  if (value.length === 10 || value.length === 5) {
    const v = value.toLowerCase();
    if (v === 'keep-alive' || v === 'close') return into;
  }
  let out = into;
  for (const t of value.toLowerCase().split(',')) {
    const token = t.trim();
    if (token === '' || token === 'keep-alive' || token === 'close') continue;
    if (out === undefined) out = [token];
    else out.push(token);
  }
  return out;
}

/** Headers only Portcullis may set: a client's copy never reaches the upstream. */
export const RESERVED = new Set([
  'x-forwarded-user',
  'x-forwarded-email',
  'x-forwarded-preferred-username',
  'x-forwarded-groups',
  'x-forwarded-provider',
  'x-forwarded-client-id',
  'x-forwarded-access-token',
  'x-auth-request-user',
  'x-auth-request-email',
  'x-auth-request-preferred-username',
  'x-auth-request-groups',
  'x-auth-request-provider',
  'x-auth-request-access-token',
  'x-portcullis-assertion',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'forwarded',
  'x-real-ip',
]);

export interface UpstreamHeaderOptions {
  readonly preserveHost: boolean;
  /** Drops the client's Authorization header because Portcullis sets its own. */
  readonly replaceAuthorization: boolean;
  readonly ownsCookie: (name: string) => boolean;
}

function filterCookie(value: string, owns: (name: string) => boolean): string {
  let out = '';
  for (const part of value.split(';')) {
    const eq = part.indexOf('=');
    const name = (eq === -1 ? part : part.slice(0, eq)).trim();
    if (name === '' || owns(name)) continue;
    out += out === '' ? part.trim() : `; ${part.trim()}`;
  }
  return out;
}

/**
 * Builds the flat header list for the upstream request from the client's raw headers.
 * `extra` (identity, Authorization) is appended last.
 */
export function upstreamHeaders(
  rawHeaders: readonly string[],
  fwd: ForwardedInfo,
  peer: string,
  trustedPeer: boolean,
  opts: UpstreamHeaderOptions,
  extra: readonly string[] | undefined,
): string[] {
  // Sized once for everything it can hold (each client line gives at most one, then four X-Forwarded-* and
  // `extra`), written by index and cut to its length at the end: no backing store grown and copied.
  const out = new Array<string>(rawHeaders.length + 8 + (extra === undefined ? 0 : extra.length));
  let n = 0;
  let xff = '';
  let connectionTokens: string[] | undefined;
  let hostSent = false;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    const lower = name.toLowerCase();
    if (lower === 'connection') {
      // Every Connection line counts, not just the last: a client may split its options over several.
      connectionTokens = connectionNames(rawHeaders[i + 1]!, connectionTokens);
      continue;
    }
    if (HOP_BY_HOP.has(lower)) continue;
    // Node's server has already answered `Expect: 100-continue` to the client, and undici rejects the header
    // outright (NotSupportedError), which turned every such upload (curl sends it for large bodies) into a 502.
    if (lower === 'expect') continue;
    const value = rawHeaders[i + 1]!;
    if (lower === 'cookie') {
      const kept = filterCookie(value, opts.ownsCookie);
      if (kept !== '') {
        out[n++] = 'cookie';
        out[n++] = kept;
      }
      continue;
    }
    if (lower === 'x-forwarded-for') {
      if (trustedPeer) xff = xff === '' ? value : `${xff}, ${value}`;
      continue;
    }
    if (lower === 'host') {
      // Only the first Host, the one the gateway itself read (req.headers keeps the first): a second one
      // made undici throw "duplicate host header", answered as a 502 blaming the upstream.
      if (opts.preserveHost && !hostSent) {
        out[n++] = 'host';
        out[n++] = value;
      }
      hostSent = true;
      continue;
    }
    if (lower === 'authorization' && opts.replaceAuthorization) continue;
    // One spelling for the check: `_` for `-` in any mix (`X-Auth_Request-User`), as CGI-style servers read them.
    const canonical = lower.includes('_') ? lower.replaceAll('_', '-') : lower;
    if (RESERVED.has(canonical) || canonical.startsWith('x-auth-request-')) continue;
    out[n++] = name;
    out[n++] = value;
  }
  if (connectionTokens !== undefined) {
    // Headers the client listed in Connection are hop-by-hop too (RFC 9110 §7.6.1): dropped in place.
    let w = 0;
    for (let r = 0; r < n; r += 2) {
      if (connectionTokens.includes(out[r]!.toLowerCase())) continue;
      out[w++] = out[r]!;
      out[w++] = out[r + 1]!;
    }
    n = w;
  }
  out[n++] = 'x-forwarded-for';
  out[n++] = xff === '' ? peer : `${xff}, ${peer}`;
  out[n++] = 'x-forwarded-proto';
  out[n++] = fwd.proto;
  out[n++] = 'x-forwarded-host';
  out[n++] = fwd.host;
  out[n++] = 'x-real-ip';
  out[n++] = fwd.clientIp;
  if (extra !== undefined) for (let i = 0; i < extra.length; i++) out[n++] = extra[i]!;
  out.length = n;
  return out;
}
