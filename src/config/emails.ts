/**
 * E-mail addresses, parsed strictly: exactly one `@`, no whitespace or control characters, a domain without
 * empty labels (`attacker@evil.com@example.com` is not an address). Used to validate `emails` and
 * `emailsFile` at start-up and by the e-mail criterion (src/policy/criteria/emails.ts) per request.
 */

export interface ParsedEmail {
  /** The whole address, lower-case. */
  readonly address: string;
  /** The domain, lower-case. */
  readonly domain: string;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused.
const FORBIDDEN = /[\s\x00-\x1f\x7f]/;

/**
 * Lower-cases A–Z only. String#toLowerCase folds some non-ASCII letters into ASCII ones — the Kelvin sign
 * U+212A becomes `k` — so `user@\u212Aeycloak.com`, an address at a different (IDN) domain, would compare
 * equal to `user@keycloak.com`. DNS compares ASCII letters without regard to case (RFC 4343 §3) and
 * nothing else.
 */
export function asciiLower(value: string): string {
  return /[A-Z]/.test(value) ? value.replace(/[A-Z]+/g, (c) => c.toLowerCase()) : value;
}

export function parseEmail(value: string): ParsedEmail | undefined {
  const at = value.indexOf('@');
  if (at <= 0 || at !== value.lastIndexOf('@') || at === value.length - 1) return undefined;
  if (FORBIDDEN.test(value)) return undefined;
  const address = asciiLower(value);
  const domain = address.slice(at + 1);
  if (domain.startsWith('.') || domain.endsWith('.') || domain.includes('..')) return undefined;
  return { address, domain };
}

/** Parses an e-mail list file: one address per line; blank lines and `#` comments are skipped. */
export function parseEmailsFile(text: string): {
  emails: Set<string>;
  bad: { line: number; text: string }[];
} {
  const emails = new Set<string>();
  const bad: { line: number; text: string }[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/#.*$/, '').trim();
    if (line === '') return;
    const parsed = parseEmail(line);
    if (parsed === undefined) bad.push({ line: i + 1, text: line.slice(0, 80) });
    else emails.add(parsed.address);
  });
  return { emails, bad };
}
