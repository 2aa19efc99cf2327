/**
 * The trust boundary for `X-Forwarded-*`.
 *
 * `X-Forwarded-For`, `-Proto` and `-Host` are honoured only when the TCP peer is one of the configured
 * `trustedProxies` (default: none). The client IP is the rightmost untrusted hop of `X-Forwarded-For`.
 * IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`, as reported by dual-stack listeners) are treated and
 * reported as IPv4.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { BlockList, isIPv4, isIPv6 } from 'node:net';

export interface TrustedProxies {
  /** False when no proxy is trusted: X-Forwarded-* is then ignored without being read. */
  readonly any: boolean;
  isTrusted(address: string): boolean;
}

export interface ForwardedInfo {
  clientIp: string;
  proto: 'http' | 'https';
  /** The validated, lower-cased `host[:port]`, or '' when no valid host was given. */
  host: string;
}

interface NormalisedIp {
  readonly ip: string;
  readonly family: 'ipv4' | 'ipv6';
}

const MAPPED_DOTTED = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i;
const MAPPED_HEX = /^\[::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})\]$/;
const IPV4_WITH_PORT = /^(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$/;
const BRACKETED_IPV6 = /^\[([^\]]+)\](?::\d{1,5})?$/;
const DECIMAL = /^\d{1,3}$/;

/**
 * Normalises an IP address: IPv4 as is, IPv4-mapped IPv6 to IPv4, other IPv6 to its canonical compressed
 * lower-case form without zone. Returns null when `address` is not an IP address.
 */
function normaliseIp(address: string): NormalisedIp | null {
  if (isIPv4(address)) return { ip: address, family: 'ipv4' };
  if (!isIPv6(address)) return null;
  const dotted = MAPPED_DOTTED.exec(address);
  if (dotted !== null && isIPv4(dotted[1] ?? '')) return { ip: dotted[1] ?? '', family: 'ipv4' };
  const zone = address.indexOf('%');
  const bare = zone === -1 ? address : address.slice(0, zone);
  let canonical: string;
  try {
    canonical = new URL(`http://[${bare}]`).hostname; // the WHATWG serialiser compresses and lower-cases
  } catch {
    return null;
  }
  const hex = MAPPED_HEX.exec(canonical);
  if (hex !== null) {
    const high = Number.parseInt(hex[1] ?? '', 16);
    const low = Number.parseInt(hex[2] ?? '', 16);
    return { ip: `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`, family: 'ipv4' };
  }
  return { ip: canonical.slice(1, -1), family: 'ipv6' };
}

interface ParsedEntry {
  readonly network: NormalisedIp;
  readonly prefix: number;
}

/** Parses one `trustedProxies` entry (IP or CIDR); returns a problem description instead when it is bad. */
function parseEntry(raw: unknown): ParsedEntry | string {
  if (typeof raw !== 'string') return 'must be a string (an IP address or CIDR)';
  const entry = raw.trim();
  if (entry === '') return 'is empty';
  const slash = entry.indexOf('/');
  const address = slash === -1 ? entry : entry.slice(0, slash);
  const prefixText = slash === -1 ? undefined : entry.slice(slash + 1);
  if (address.includes('%')) return 'must not carry an IPv6 zone ("%…")';
  const network = normaliseIp(address);
  if (network === null) {
    return /^[a-z]/i.test(address) && !address.includes(':')
      ? 'is not an IP address or CIDR; host names are not supported (e.g. use "127.0.0.1" and "::1" for localhost)'
      : 'is not an IP address or CIDR (e.g. "10.0.0.0/8", "192.168.1.7", "fd00::/8")';
  }
  const mapped = network.family === 'ipv4' && isIPv6(address);
  const max = isIPv6(address) ? 128 : 32;
  let prefix = network.family === 'ipv4' ? 32 : 128;
  if (prefixText !== undefined) {
    if (!DECIMAL.test(prefixText) || Number(prefixText) > max) {
      return `has an invalid prefix length "/${prefixText}" (0–${max})`;
    }
    prefix = Number(prefixText);
    if (mapped) {
      // ::ffff:10.0.0.0/104 is 10.0.0.0/8; shorter prefixes reach outside the mapped range.
      if (prefix < 96) return `has prefix /${prefix}, shorter than the IPv4-mapped range (use /96 or longer)`;
      prefix -= 96;
    }
  }
  return { network, prefix };
}

/** Human-readable problems with `trustedProxies` entries, for configuration validation. */
export function trustedProxyProblems(entries: readonly string[]): string[] {
  const problems: string[] = [];
  entries.forEach((entry, index) => {
    const parsed = parseEntry(entry);
    if (typeof parsed === 'string') problems.push(`trustedProxies[${index}] "${String(entry)}" ${parsed}`);
  });
  return problems;
}

/**
 * Compiles `trustedProxies` (IPv4/IPv6 addresses and CIDRs) into a matcher.
 * Throws a TypeError naming the first bad entry.
 */
export function compileTrustedProxies(entries: readonly string[]): TrustedProxies {
  const list = new BlockList();
  for (const [index, entry] of entries.entries()) {
    const parsed = parseEntry(entry);
    if (typeof parsed === 'string')
      throw new TypeError(`trustedProxies[${index}] "${String(entry)}" ${parsed}`);
    list.addSubnet(parsed.network.ip, parsed.prefix, parsed.network.family);
  }
  const any = entries.length > 0;
  return Object.freeze({
    any,
    isTrusted(address: string): boolean {
      if (!any) return false;
      const ip = normaliseIp(address);
      return ip !== null && list.check(ip.ip, ip.family);
    },
  });
}

function firstValue(value: string | string[] | undefined): string {
  const text = Array.isArray(value) ? (value[0] ?? '') : (value ?? '');
  const comma = text.indexOf(',');
  return (comma === -1 ? text : text.slice(0, comma)).trim();
}

let lastHostIn = '';
let lastHostOut = '';

/**
 * Validates a `host[:port]` value: it must survive a round trip through the WHATWG URL parser unchanged
 * (apart from case). Returns the lower-cased host, or '' when it is not a plain, valid `host[:port]`.
 */
function validHost(value: string | string[] | undefined): string {
  const host = Array.isArray(value) ? (value[0] ?? '') : (value ?? '');
  if (host === '') return '';
  if (host === lastHostIn) return lastHostOut;
  let result = '';
  try {
    const asHttp = new URL(`http://${host}`);
    const port = asHttp.port || new URL(`https://${host}`).port; // keep an explicit :80 or :443
    const normalised = port === '' ? asHttp.hostname : `${asHttp.hostname}:${port}`;
    if (normalised === host.toLowerCase()) result = normalised;
  } catch {
    result = '';
  }
  lastHostIn = host;
  lastHostOut = result;
  return result;
}

/** One `X-Forwarded-For` element as an IP; tolerates the `ip:port` and `[ipv6]:port` forms some proxies send. */
function forwardedIp(element: string): NormalisedIp | null {
  const direct = normaliseIp(element);
  if (direct !== null || element === '') return direct;
  const v4 = IPV4_WITH_PORT.exec(element);
  if (v4 !== null) return normaliseIp(v4[1] ?? '');
  const v6 = BRACKETED_IPV6.exec(element);
  if (v6 !== null && isIPv6(v6[1] ?? '')) return normaliseIp(v6[1] ?? '');
  return null;
}

/**
 * Resolves the client IP, scheme and host of a request. X-Forwarded-* is read only when the peer is a
 * trusted proxy; then the client IP is the rightmost untrusted `X-Forwarded-For` hop (the leftmost one when
 * every hop is trusted; a malformed element stops the walk at the last good hop).
 */
export function resolveForwarded(
  headers: IncomingHttpHeaders,
  peer: string,
  localProto: 'http' | 'https',
  trusted: TrustedProxies,
): ForwardedInfo {
  const peerIp = normaliseIp(peer)?.ip ?? peer;
  if (!trusted.any || !trusted.isTrusted(peerIp)) {
    return { clientIp: peerIp, proto: localProto, host: validHost(headers.host) };
  }

  let clientIp = peerIp;
  const xff = headers['x-forwarded-for'];
  const chain = Array.isArray(xff) ? xff.join(',') : (xff ?? '');
  let end = chain.length;
  while (end > 0) {
    const comma = chain.lastIndexOf(',', end - 1);
    const ip = forwardedIp(chain.slice(comma + 1, end).trim());
    if (ip === null) break;
    clientIp = ip.ip;
    if (!trusted.isTrusted(ip.ip)) break;
    end = comma === -1 ? 0 : comma;
  }

  const forwardedProto = firstValue(headers['x-forwarded-proto']).toLowerCase();
  const proto = forwardedProto === 'https' || forwardedProto === 'http' ? forwardedProto : localProto;
  const host = validHost(firstValue(headers['x-forwarded-host'])) || validHost(headers.host);
  return { clientIp, proto, host };
}
