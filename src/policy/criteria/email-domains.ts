/**
 * `emailDomains`: `example.com` matches that domain only; `.example.com` matches example.com and every
 * subdomain (`a.example.com`, `a.b.example.com`) — the same reading as `allowedRedirectDomains`. Domains
 * compare without regard to case (RFC 1035 §2.3.3).
 */

export interface DomainRules {
  readonly exact: ReadonlySet<string>;
  /** Domains given with a leading dot, kept with it (`.example.com`): the domain and its subdomains. */
  readonly suffixes: readonly string[];
}

export function compileDomains(list: readonly string[]): DomainRules {
  const exact = new Set<string>();
  const suffixes: string[] = [];
  for (const entry of list) {
    // The schema admits ASCII letters, digits, `-` and `.` only; IDNs are written in their xn-- form.
    const d = entry.replace(/[A-Z]+/g, (c) => c.toLowerCase());
    if (d.startsWith('.')) suffixes.push(d);
    else exact.add(d);
  }
  return { exact, suffixes };
}

/** `domain` must already be lower-case (see parseEmail). */
export function domainAllowed(rules: DomainRules, domain: string): boolean {
  if (rules.exact.has(domain)) return true;
  for (const s of rules.suffixes) if (domain.endsWith(s) || domain === s.slice(1)) return true;
  return false;
}
