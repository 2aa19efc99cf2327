/**
 * The e-mail criterion: `emails` (a list, and/or `emailsFile`) and `emailDomains` together — an address on
 * the list or in an allowed domain passes. Addresses are parsed strictly: exactly one `@`, no whitespace or
 * control characters, a domain without empty labels; `attacker@evil.com@example.com` is not an address.
 * An address the IdP marks unverified never reaches here unless the provider allows it
 * (insecureAllowUnverifiedEmail; the provider drops it from the identity otherwise).
 */
import { readFileSync, statSync } from 'node:fs';
import { asciiLower, parseEmail, parseEmailsFile } from '../../config/emails.ts';
import type { Logger } from '../../observability/log.ts';
import { type Criterion, type Failure, PASS, type RuleInput } from '../criterion.ts';
import { compileDomains, type DomainRules, domainAllowed } from './email-domains.ts';

export { asciiLower, type ParsedEmail, parseEmail, parseEmailsFile } from '../../config/emails.ts';

/** How often, at most, the file's modification time is looked at. */
const CHECK_EVERY_MS = 1000;

/**
 * An `emailsFile`, re-read when it changes. Its status is looked at lazily, at most once a second, from the
 * request that needs it: no watcher to leak across configuration reloads, and it follows editors that
 * replace the file and Kubernetes' symlink swaps alike. A line that is not an address is skipped with a
 * warning.
 *
 * A file that is missing or cannot be read fails closed: the list is then empty — nobody passes by it, other
 * rules (emails, emailDomains) still apply — the log says so once, at error level, and every look retries,
 * so the list is back within a second of the file. Keeping the last list instead would let a deleted file
 * (an operator revoking everyone at once) go on admitting the people on it.
 */
export class EmailsFile {
  readonly path: string;
  readonly #log: Logger | undefined;
  #emails = new Set<string>();
  /** Identifies the version of the file #emails was read from; undefined when unavailable. */
  #stamp: string | undefined;
  /** Why the file is unavailable (an errno code), or undefined while it is read. */
  #problem: string | undefined = 'not read yet';
  #nextCheck = 0;
  /** Counts changes of the list (reloads, and losing the file): decisions cached before one are stale. */
  generation = 0;

  /** Never throws: a file that cannot be read at start is reported (and checked at load by the config). */
  constructor(path: string, log?: Logger) {
    this.path = path;
    this.#log = log;
    let stamp: string | undefined;
    try {
      stamp = stampOf(path);
    } catch (err) {
      this.#unavailable(errorCode(err));
      return;
    }
    if (stamp === undefined) this.#unavailable('ENOENT');
    else this.#load(stamp);
  }

  /** False while the file is missing or unreadable (the list is then empty). */
  get available(): boolean {
    return this.#problem === undefined;
  }

  /** Re-reads the file if it changed since the last look (at most once a second). True when the list changed. */
  poll(nowMs: number): boolean {
    if (nowMs < this.#nextCheck) return false;
    this.#nextCheck = nowMs + CHECK_EVERY_MS;
    let stamp: string | undefined;
    try {
      stamp = stampOf(this.path);
    } catch (err) {
      return this.#unavailable(errorCode(err));
    }
    if (stamp === undefined) return this.#unavailable('ENOENT');
    if (this.available && stamp === this.#stamp) return false;
    const was = this.#problem;
    const changed = this.#load(stamp);
    if (changed) {
      this.#log?.info(
        {
          file: this.path,
          count: this.#emails.size,
          event: 'emails-file.reload',
          ...(was !== undefined ? { was } : {}),
        },
        'emailsFile reloaded',
      );
    }
    return changed;
  }

  /** Reads the file (whose stat was `stamp`, taken before reading: a change in between is seen next time). */
  #load(stamp: string): boolean {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (err) {
      return this.#unavailable(errorCode(err));
    }
    const { emails, bad } = parseEmailsFile(text);
    for (const b of bad) {
      this.#log?.warn({ file: this.path, line: b.line }, 'emailsFile: not an e-mail address; line skipped');
    }
    this.#emails = emails;
    this.#stamp = stamp;
    this.#problem = undefined;
    this.generation++;
    return true;
  }

  /** Fails closed; logs once per distinct problem. True when this changed the list. */
  #unavailable(code: string): boolean {
    if (this.#problem === code) return false;
    this.#emails = new Set();
    this.#stamp = undefined;
    this.#problem = code;
    this.generation++;
    this.#log?.error(
      { file: this.path, code, event: 'emails-file.unavailable' },
      'emailsFile cannot be read: nobody passes by its list until it can',
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

function errorCode(err: unknown): string {
  return (err as NodeJS.ErrnoException | undefined)?.code ?? 'EIO';
}

/** undefined when the file does not exist; throws on other errors (EACCES on a directory, ENOTDIR, …). */
function stampOf(path: string): string | undefined {
  const st = statSync(path, { throwIfNoEntry: false });
  return st === undefined ? undefined : `${st.mtimeMs}:${st.ctimeMs}:${st.size}:${st.ino}`;
}

export interface EmailRuleOptions {
  readonly emails?: readonly string[] | undefined;
  readonly file?: EmailsFile | undefined;
  readonly domains?: readonly string[] | undefined;
}

const FILE_UNAVAILABLE: Failure = Object.freeze({
  reason: 'emails-file-unavailable',
  explain: 'The list of addresses allowed here cannot be read at the moment; tell your administrator.',
});

export function emailRule(o: EmailRuleOptions): Criterion {
  const listed = new Set((o.emails ?? []).map(asciiLower));
  const file = o.file;
  const domains: DomainRules | undefined = o.domains?.length ? compileDomains(o.domains) : undefined;
  const byList = listed.size > 0 || file !== undefined;
  // With emailDomains the denial names the domain; with lists only, the address is simply not on them.
  const notListed: Failure = {
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
      const failure: Failure =
        domains === undefined
          ? notListed
          : {
              reason: 'email-domain-not-allowed',
              explain: `Accounts with an e-mail address at ${parsed.domain} are not allowed here.`,
            };
      // The audit line then says the list itself was missing, not only that the address was not on it.
      return file !== undefined && !file.available ? [failure, FILE_UNAVAILABLE] : [failure];
    },
  };
}
