/**
 * Parsing `allowedRedirectDomains` entries (oauth2-proxy's `--whitelist-domain` forms: `example.com`,
 * `.example.com`, `example.com:8443`), for configuration validation and for the redirect policy in
 * src/login/redirect.ts.
 */

export interface DomainRule {
  /** Lower-case, punycode host name (IPv6 in brackets). */
  readonly host: string;
  /** `.example.com` form: the host itself and any subdomain. */
  readonly subdomains: boolean;
  /** Explicit port as a decimal string, or '' for "default port only". */
  readonly port: string;
}

// C0/C1 controls, format characters (zero-width, bidi, soft hyphen, BOM), every Unicode space/separator.
const FORBIDDEN_CHARS = /[\p{Cc}\p{Cf}\p{Z}\s]/u;
// Characters that have no place in an allowed-domain entry.
const ENTRY_FORBIDDEN = /[/\\?#@*\s]/;

/** Parses one allowed-domain entry; returns a problem description instead when it is not usable. */
export function parseRedirectDomain(raw: string): DomainRule | string {
  const entry = raw.trim();
  if (entry === '') return 'is empty';
  if (/:\*$/.test(entry)) {
    return 'has a port wildcard, which is not supported; list each port, e.g. "example.com:8443"';
  }
  if (entry.includes('*')) {
    const suggestion = entry.replace(/^\*\.?/, '');
    return `wildcards are not supported; use ".${suggestion}" to allow ${suggestion} and all of its subdomains`;
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(entry)) {
    return 'has a scheme; list the host name only, e.g. "example.com" or ".example.com"';
  }
  if (ENTRY_FORBIDDEN.test(entry) || FORBIDDEN_CHARS.test(entry)) {
    return 'must be a host name with an optional port, without scheme, path, query, user info or spaces';
  }
  const subdomains = entry.startsWith('.');
  const hostPort = subdomains ? entry.slice(1) : entry;
  if (hostPort === '' || hostPort.startsWith('.')) return 'has no host name after the leading "."';
  let asHttp: URL;
  let asHttps: URL;
  try {
    asHttp = new URL(`http://${hostPort}`);
    asHttps = new URL(`https://${hostPort}`);
  } catch {
    return 'is not a valid host name or host:port';
  }
  if (asHttp.hostname === '') return 'is not a valid host name';
  if (hostPort.endsWith(':')) return 'has an empty port; remove the ":" or give a port number';
  // The default port of one scheme is dropped by the parser, so ask both: example.com:80 keeps "80" as https.
  const port = asHttp.port || asHttps.port;
  return { host: asHttp.hostname, subdomains, port };
}

export function ruleToString(rule: DomainRule): string {
  return `${rule.subdomains ? '.' : ''}${rule.host}${rule.port === '' ? '' : `:${rule.port}`}`;
}

/**
 * Human-readable problems with `allowedRedirectDomains` entries, for configuration validation.
 * An empty array means every entry is usable.
 */
export function redirectDomainProblems(entries: readonly string[]): string[] {
  const problems: string[] = [];
  entries.forEach((entry, index) => {
    if (typeof entry !== 'string') {
      problems.push(`allowedRedirectDomains[${index}] must be a string`);
      return;
    }
    const parsed = parseRedirectDomain(entry);
    if (typeof parsed === 'string') problems.push(`allowedRedirectDomains[${index}] "${entry}" ${parsed}`);
  });
  return problems;
}
