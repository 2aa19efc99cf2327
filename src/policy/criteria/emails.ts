/**
 * The e-mail criterion: `emails` (a list, and/or `emailsFile`) and `emailDomains` together — an address on
 * the list or in an allowed domain passes. Addresses are parsed strictly: exactly one `@`, no whitespace or
 * control characters, a domain without empty labels; `attacker@evil.com@example.com` is not an address.
 * An address the IdP marks unverified never reaches here unless the provider allows it
 * (insecureAllowUnverifiedEmail; the provider drops it from the identity otherwise).
 */
import { readFileSync, statSync } from 'node:fs';
import type { Logger } from '../../observability/log.ts';
import { type Criterion, type Failure, PASS, type RuleInput } from '../criterion.ts';
import { compileDomains, type DomainRules, domainAllowed } from './email-domains.ts';

export interface ParsedEmail {
  /** The whole address, lower-case. */
  readonly address: string;
  /** The domain, lower-case. */
  readonly domain: string;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused.
const FORBIDDEN = /[\s\x00-\x1f\x7f]/;

export function parseEmail(value: string): ParsedEmail | undefined {
  const at = value.indexOf('@');
  if (at <= 0 || at !== value.lastIndexOf('@') || at === value.length - 1) return undefined;
  if (FORBIDDEN.test(value)) return undefined;
  const address = value.toLowerCase();
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

/** How often, at most, the file's modification time is looked at. */
const CHECK_EVERY_MS = 1000;

/**
 * An `emailsFile`, re-read when it changes. Its status is looked at lazily, at most once a second, from the
 * request that needs it: no watcher to leak across configuration reloads, and it follows editors that
 * replace the file and Kubernetes' symlink swaps alike. A file that disappears or turns unreadable keeps
 * the last list (and says so in the log); a line that is not an address is skipped with a warning.
 */
export class EmailsFile {
  readonly path: string;
  readonly #log: Logger | undefined;
  #emails: Set<string>;
  #stamp: string;
  #nextCheck = 0;
  #warned = false;
  /** Counts successful reloads: decisions cached before a reload are stale. */
  generation = 0;

  /** Throws when the file cannot be read: a missing file is a configuration error at start. */
  constructor(path: string, log?: Logger) {
    this.path = path;
    this.#log = log;
    this.#stamp = stampOf(path) ?? '';
    this.#emails = this.#read();
  }

  #read(): Set<string> {
    const { emails, bad } = parseEmailsFile(readFileSync(this.path, 'utf8'));
    for (const b of bad) {
      this.#log?.warn({ file: this.path, line: b.line }, 'emailsFile: not an e-mail address; line skipped');
    }
    return emails;
  }

  /** Re-reads the file if it changed since the last look (at most once a second). True when reloaded. */
  poll(nowMs: number): boolean {
    if (nowMs < this.#nextCheck) return false;
    this.#nextCheck = nowMs + CHECK_EVERY_MS;
    const stamp = stampOf(this.path);
    if (stamp === undefined) {
      if (!this.#warned) this.#log?.warn({ file: this.path }, 'emailsFile is gone; keeping the last list');
      this.#warned = true;
      return false;
    }
    if (stamp === this.#stamp) return false;
    try {
      this.#emails = this.#read();
    } catch (err) {
      this.#log?.warn({ file: this.path, err: String(err) }, 'emailsFile unreadable; keeping the last list');
      return false;
    }
    this.#stamp = stamp;
    this.#warned = false;
    this.generation++;
    this.#log?.info(
      { file: this.path, count: this.#emails.size, event: 'emails-file.reload' },
      'emailsFile reloaded',
    );
    return true;
  }

  has(address: string): boolean {
    return this.#emails.has(address);
  }

  get size(): number {
    return this.#emails.size;
  }
}

function stampOf(path: string): string | undefined {
  const st = statSync(path, { throwIfNoEntry: false });
  return st === undefined ? undefined : `${st.mtimeMs}:${st.size}:${st.ino}`;
}

export interface EmailRuleOptions {
  readonly emails?: readonly string[] | undefined;
  readonly file?: EmailsFile | undefined;
  readonly domains?: readonly string[] | undefined;
}

export function emailRule(o: EmailRuleOptions): Criterion {
  const listed = new Set((o.emails ?? []).map((e) => e.toLowerCase()));
  const file = o.file;
  const domains: DomainRules | undefined = o.domains?.length ? compileDomains(o.domains) : undefined;
  const byList = listed.size > 0 || file !== undefined;
  const notAllowed: Failure = domains
    ? { reason: 'email-domain-not-allowed', explain: '' }
    : {
        reason: 'email-not-allowed',
        explain: 'Your e-mail address is not on the list of addresses allowed here.',
      };
  return {
    check({ identity }: RuleInput): readonly Failure[] {
      const email = identity.email;
      if (email === undefined) {
        return identity.emailVerified === false
          ? [
              {
                reason: 'email-unverified',
                explain:
                  'Your e-mail address is not verified at your identity provider; verify it and sign in again.',
              },
            ]
          : [
              {
                reason: 'email-missing',
                explain: 'Your account did not share an e-mail address with this site.',
              },
            ];
      }
      const parsed = parseEmail(email);
      if (parsed === undefined) {
        return [
          { reason: 'email-invalid', explain: 'Your account’s e-mail address is not a valid address.' },
        ];
      }
      if (byList && (listed.has(parsed.address) || file?.has(parsed.address) === true)) return PASS;
      if (domains !== undefined && domainAllowed(domains, parsed.domain)) return PASS;
      if (domains === undefined) return [notAllowed];
      return [
        {
          reason: notAllowed.reason,
          explain: `Accounts with an e-mail address at ${parsed.domain} are not allowed here.`,
        },
      ];
    },
  };
}
