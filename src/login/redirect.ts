/**
 * Validation of the post-login redirect target `rd` (open-redirect defence).
 *
 * A target is accepted only when it is same-origin with the gateway's public URL or its host is on the
 * `allowedRedirectDomains` list. The raw value is screened before parsing (control characters, whitespace,
 * backslashes, protocol-relative forms), then parsed with the WHATWG URL parser, and the verdict carries
 * the absolute, normalised URL to send in `Location`.
 *
 * Allowed-domain entries follow oauth2-proxy's `--whitelist-domain`:
 * - `example.com`       exactly that host, default port only
 * - `.example.com`      example.com and any subdomain, default port only
 * - `example.com:8443`  that host on that port (default ports are normalised: `example.com:443` matches
 *                       `https://example.com/`)
 * Entries are compared case-insensitively and after IDNA (punycode) normalisation.
 */
import {
  type DomainRule,
  parseRedirectDomain,
  redirectDomainProblems,
  ruleToString,
} from '../config/redirect-domains.ts';

export { redirectDomainProblems } from '../config/redirect-domains.ts';

export interface RedirectPolicy {
  /** The gateway's public origin, e.g. `https://platform.example.com`. */
  readonly origin: string;
  /** Normalised `allowedRedirectDomains` (lower-case, punycode, explicit port only when given). */
  readonly allowed: readonly string[];
}

export type RedirectRejection =
  | 'rd-empty'
  | 'rd-control-characters'
  | 'rd-backslash'
  | 'rd-protocol-relative'
  | 'rd-relative-path'
  | 'rd-malformed-absolute'
  | 'rd-not-http'
  | 'rd-http-downgrade'
  | 'rd-userinfo'
  | 'rd-host-not-allowed'
  | 'rd-unparseable';

export type RedirectVerdict =
  | { ok: true; target: string }
  | { ok: false; reason: RedirectRejection; fallback: '/' };

// C0/C1 controls, format characters (zero-width, bidi, soft hyphen, BOM), every Unicode space/separator.
const FORBIDDEN_CHARS = /[\p{Cc}\p{Cf}\p{Z}\s]/u;
// A backslash, raw or percent-encoded (also double-encoded: %255c).
const BACKSLASH = /\\|%(?:25)*5c/i;
// Two leading slashes, raw or percent-encoded in any mix: //, /%2f, %2f%2f, %2f/, /%252f …
const LEADING_DOUBLE_SLASH = /^(?:\/|%(?:25)*2f){2}/i;
// A URL scheme per WHATWG (ASCII alpha, then alphanumerics, +, -, .) followed by ':'.
const SCHEME = /^([a-z][a-z0-9+.-]*):/i;

function reject(reason: RedirectRejection): RedirectVerdict {
  return { ok: false, reason, fallback: '/' };
}

/**
 * Builds the redirect policy from the gateway's public URL and the configured allowed domains.
 * Throws a TypeError naming every unusable entry (run {@link redirectDomainProblems} first to report them
 * alongside other configuration problems).
 */
export function compileRedirectPolicy(
  publicUrl: URL,
  allowedRedirectDomains: readonly string[],
): RedirectPolicy {
  const problems = redirectDomainProblems(allowedRedirectDomains);
  if (problems.length > 0) throw new TypeError(problems.join('; '));
  if (publicUrl.protocol !== 'http:' && publicUrl.protocol !== 'https:') {
    throw new TypeError(`publicUrl "${publicUrl.href}" must be an http or https URL`);
  }
  const allowed: string[] = [];
  for (const entry of allowedRedirectDomains) {
    const rule = parseRedirectDomain(entry);
    if (typeof rule === 'string') continue; // unreachable: reported above
    const normalised = ruleToString(rule);
    if (!allowed.includes(normalised)) allowed.push(normalised);
  }
  return Object.freeze({ origin: publicUrl.origin, allowed: Object.freeze(allowed) });
}

// Policies are usually compiled once; cache the parsed rules per `allowed` array.
const rulesCache = new WeakMap<readonly string[], readonly DomainRule[]>();

function rulesOf(policy: RedirectPolicy): readonly DomainRule[] {
  let rules = rulesCache.get(policy.allowed);
  if (rules === undefined) {
    const parsed: DomainRule[] = [];
    for (const entry of policy.allowed) {
      const rule = parseRedirectDomain(entry);
      if (typeof rule !== 'string') parsed.push(rule);
    }
    rules = parsed;
    rulesCache.set(policy.allowed, rules);
  }
  return rules;
}

function hostAllowed(url: URL, rules: readonly DomainRule[]): boolean {
  const hostname = url.hostname;
  const effectivePort = url.port || (url.protocol === 'https:' ? '443' : '80');
  for (const rule of rules) {
    const hostMatches =
      hostname === rule.host ||
      (rule.subdomains && hostname.endsWith(`.${rule.host}`) && !rule.host.startsWith('['));
    if (!hostMatches) continue;
    if (rule.port === '' ? url.port === '' : rule.port === effectivePort) return true;
  }
  return false;
}

/**
 * Decides whether `rd` may be used as the post-login redirect target. On success `target` is the absolute,
 * normalised URL; on failure the caller redirects to `fallback` ('/').
 */
export function validateRedirect(rd: string | null | undefined, policy: RedirectPolicy): RedirectVerdict {
  if (rd === null || rd === undefined || rd === '') return reject('rd-empty');
  if (typeof rd !== 'string') return reject('rd-unparseable');
  if (FORBIDDEN_CHARS.test(rd)) return reject('rd-control-characters');
  if (BACKSLASH.test(rd)) return reject('rd-backslash');

  const scheme = SCHEME.exec(rd);
  if (scheme === null) {
    // Relative: must be an absolute path, with exactly one leading slash.
    if (LEADING_DOUBLE_SLASH.test(rd)) return reject('rd-protocol-relative');
    if (!rd.startsWith('/')) return reject('rd-relative-path');
  } else {
    const name = (scheme[1] ?? '').toLowerCase();
    if (name !== 'http' && name !== 'https') return reject('rd-not-http');
    // Only the plain `scheme://host` form: no `https:evil.com`, `https:/evil.com` or `https:///evil.com`,
    // which parsers disagree on.
    const rest = rd.slice(scheme[0].length);
    if (!rest.startsWith('//') || LEADING_DOUBLE_SLASH.test(rest.slice(1)))
      return reject('rd-malformed-absolute');
  }

  let url: URL;
  try {
    url = new URL(rd, policy.origin);
  } catch {
    return reject('rd-unparseable');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return reject('rd-not-http');
  if (url.username !== '' || url.password !== '') return reject('rd-userinfo');
  // A path such as `/.//evil.com` normalises to `//evil.com`; harmless in an absolute Location, but refused
  // so that nobody ever turns it into a protocol-relative reference by sending only the path.
  if (url.pathname.startsWith('//')) return reject('rd-protocol-relative');

  if (url.origin === policy.origin) return { ok: true, target: url.href };
  if (url.protocol === 'http:' && !policy.origin.startsWith('http:')) return reject('rd-http-downgrade');
  if (!hostAllowed(url, rulesOf(policy))) return reject('rd-host-not-allowed');
  return { ok: true, target: url.href };
}
