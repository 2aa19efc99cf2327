/**
 * The trust boundary for `X-Forwarded-*`.
 *
 * `X-Forwarded-For`, `-Proto` and `-Host` are honoured only when the TCP peer is one of the configured
 * `trustedProxies` (default: none). The client IP is the rightmost untrusted hop of `X-Forwarded-For`.
 * IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`, as reported by dual-stack listeners) are treated and
 * reported as IPv4.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { BlockList, isIPv6 } from 'node:net';
import { type NormalisedIp, normaliseIp, parseTrustedProxy } from '../config/trusted-proxies.ts';
import type { ForwardedInfo } from '../proxy/headers.ts';

export { trustedProxyProblems } from '../config/trusted-proxies.ts';
export type { ForwardedInfo } from '../proxy/headers.ts';

const IPV4_WITH_PORT = /^(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$/;
const BRACKETED_IPV6 = /^\[([^\]]+)\](?::\d{1,5})?$/;

export interface TrustedProxies {
  /** False when no proxy is trusted: X-Forwarded-* is then ignored without being read. */
  readonly any: boolean;
  isTrusted(address: string): boolean;
}

/**
 * Compiles `trustedProxies` (IPv4/IPv6 addresses and CIDRs) into a matcher.
 * Throws a TypeError naming the first bad entry.
 */
export function compileTrustedProxies(entries: readonly string[]): TrustedProxies {
  const list = new BlockList();
  for (const [index, entry] of entries.entries()) {
    const parsed = parseTrustedProxy(entry);
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

let lastPeerIn = '';
let lastPeerOut = '';

/** The TCP peer's address as an IP (IPv4-mapped IPv6 as IPv4); the last one is kept, as keep-alive repeats it. */
function peerIpOf(peer: string): string {
  if (peer === lastPeerIn) return lastPeerOut;
  const ip = normaliseIp(peer)?.ip ?? peer;
  lastPeerIn = peer;
  lastPeerOut = ip;
  return ip;
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
  const peerIp = peerIpOf(peer);
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
