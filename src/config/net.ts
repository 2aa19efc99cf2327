/**
 * Facts about hosts that several rooms need (config validation, the doctor, the providers, the issuer).
 * A leaf module: it imports nothing of the project, so any layer may use it without a cycle.
 */
import { isIP } from 'node:net';

/**
 * True for a hostname that names this machine: `localhost` and `*.localhost` (RFC 6761 §6.3), `::1`, and
 * 127.0.0.0/8. Plain http is acceptable there (OAuth 2.0 for native apps, RFC 8252 §7.3; RFC 9700 §2.1).
 * Accepts a URL's hostname, IPv6 literals with or without brackets.
 */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '');
  return (
    h === 'localhost' || h.endsWith('.localhost') || h === '::1' || (isIP(h) === 4 && h.startsWith('127.'))
  );
}
