/**
 * Parsing `trustedProxies` entries (IP addresses and CIDRs), for configuration validation and for the
 * runtime matcher in src/http/trust.ts. IPv4-mapped IPv6 addresses are read as IPv4.
 */
import { isIPv4, isIPv6 } from 'node:net';

const MAPPED_DOTTED = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i;
const MAPPED_HEX = /^\[::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})\]$/;
const DECIMAL = /^\d{1,3}$/;

export interface NormalisedIp {
  readonly ip: string;
  readonly family: 'ipv4' | 'ipv6';
}

/**
 * Normalises an IP address: IPv4 as is, IPv4-mapped IPv6 to IPv4, other IPv6 to its canonical compressed
 * lower-case form without zone. Returns null when `address` is not an IP address.
 */
export function normaliseIp(address: string): NormalisedIp | null {
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

export interface ParsedEntry {
  readonly network: NormalisedIp;
  readonly prefix: number;
}

/** Parses one `trustedProxies` entry (IP or CIDR); returns a problem description instead when it is bad. */
export function parseTrustedProxy(raw: unknown): ParsedEntry | string {
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
    const parsed = parseTrustedProxy(entry);
    if (typeof parsed === 'string') problems.push(`trustedProxies[${index}] "${String(entry)}" ${parsed}`);
  });
  return problems;
}
