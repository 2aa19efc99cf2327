/**
 * The e-mail criterion: `emails` (a list, and/or `emailsFile`) and `emailDomains` together — an address on
 * the list or in an allowed domain passes. Addresses are parsed strictly: exactly one `@`, no whitespace or
 * control characters, a domain without empty labels; `attacker@evil.com@example.com` is not an address.
 * An address the IdP marks unverified never reaches here unless the provider allows it
 * (insecureAllowUnverifiedEmail; the provider drops it from the identity otherwise).
 */
import { type FSWatcher, readFileSync, statSync, watch } from 'node:fs';
import { dirname } from 'node:path';
import { asciiLower, parseEmail, parseEmailsFile } from '../../config/emails.ts';
import type { Logger } from '../../observability/log.ts';
import { type Criterion, type Failure, oneOf, PASS, type RuleInput } from '../criterion.ts';
import { compileDomains, type DomainRules, domainAllowed } from './email-domains.ts';

export { asciiLower, type ParsedEmail, parseEmail, parseEmailsFile } from '../../config/emails.ts';

/** The fallback look, for file systems where fs.watch says nothing (NFS, some container mounts). */
export const FALLBACK_CHECK_MS = 10_000;
/** Events come in bursts (an editor's write, rename and chmod): one look after the burst. */
const SETTLE_MS = 50;

/**
 * An `emailsFile`, re-read when it changes — off the request path: `watch()` watches the file's directory
 * (fs.watch; the directory, not the file, so editors that replace the file and Kubernetes' symlink swaps of
 * `..data` are seen too) and looks again every FALLBACK_CHECK_MS whatever it says. Both are unref'd, and
 * `close()` (on configuration reload and gateway close) releases them. Requests only read the list. A line
 * that is not an address is skipped with a warning.
 *
 * A file that is missing or cannot be read fails closed: the list is then empty — nobody passes by it, other
 * rules (emails, emailDomains) still apply — the log says so once, at error level, and every look retries,
 * so the list is back when the file is. Keeping the last list instead would let a deleted file (an operator
 * revoking everyone at once) go on admitting the people on it.
 */
export class EmailsFile {
  readonly path: string;
  readonly #log: Logger | undefined;
  #emails = new Set<string>();
  /** Identifies the version of the file #emails was read from; undefined when unavailable. */
  #stamp: string | undefined;
  /** Why the file is unavailable (an errno code), or undefined while it is read. */
  #problem: string | undefined = 'not read yet';
  #watcher: FSWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;
  #settle: NodeJS.Timeout | undefined;
  readonly #listeners: (() => void)[] = [];
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

  /** `listener` runs after each change of the list (the policy empties its decision cache). */
  onChange(listener: () => void): void {
    this.#listeners.push(listener);
  }

  /** Starts watching (idempotent). Never throws: without a directory to watch, the fallback timer looks. */
  watch(fallbackMs = FALLBACK_CHECK_MS): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => this.check(), fallbackMs).unref();
    try {
      // Any entry of the directory may matter: the editor's temporary file renamed over it, or the
      // `..data` symlink a Kubernetes volume swaps. A look is one stat, once per burst.
      this.#watcher = watch(dirname(this.path), { persistent: false }, () => this.#soon());
      this.#watcher.on('error', () => {
        // The directory went away: the fallback timer goes on looking.
        this.#watcher?.close();
        this.#watcher = undefined;
      });
    } catch {
      this.#watcher = undefined;
    }
  }

  /** Stops watching; the list stays as it is. */
  close(): void {
    this.#watcher?.close();
    this.#watcher = undefined;
    clearInterval(this.#timer);
    this.#timer = undefined;
    clearTimeout(this.#settle);
    this.#settle = undefined;
  }

  #soon(): void {
    if (this.#settle !== undefined) return;
    this.#settle = setTimeout(() => {
      this.#settle = undefined;
      this.check();
    }, SETTLE_MS).unref();
  }

  /** Looks at the file now and re-reads it if it changed. True when the list changed (listeners have run). */
  check(): boolean {
    const changed = this.#look();
    if (changed) for (const l of this.#listeners) l();
    return changed;
  }

  #look(): boolean {
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
  const label = [
    listed.size > 0 ? `emails: ${oneOf([...listed])}` : '',
    file !== undefined ? `emailsFile: ${file.path}` : '',
    o.domains?.length ? `emailDomains: ${oneOf(o.domains)}` : '',
  ]
    .filter((x) => x !== '')
    .join('; ');
  return {
    label,
    held({ identity }: RuleInput): string {
      const parsed = identity.email === undefined ? undefined : parseEmail(identity.email);
      if (parsed === undefined) return 'the address is allowed';
      if (listed.has(parsed.address) || file?.has(parsed.address) === true) {
        return `${parsed.address} is on the list`;
      }
      return `${parsed.domain} is an allowed domain`;
    },
    check({ identity }: RuleInput): readonly Failure[] {
      const email = identity.email;
      if (email === undefined) {
        if (identity.emailVerified !== false) {
          return [
            {
              reason: 'email-missing',
              explain: 'Your account did not share an e-mail address with this site.',
            },
          ];
        }
        // Unverified: say so, and whether verifying it would be enough — a user refused for two reasons is
        // told both, not sent to verify an address that is not allowed anyway.
        const unverified =
          identity.unverifiedEmail === undefined ? [] : addressFailures(identity.unverifiedEmail);
        return [UNVERIFIED, ...unverified.filter((f) => f.reason !== 'email-invalid')];
      }
      return addressFailures(email);
    },
  };

  function addressFailures(email: string): readonly Failure[] {
    const parsed = parseEmail(email);
    if (parsed === undefined) {
      return [{ reason: 'email-invalid', explain: 'Your account’s e-mail address is not a valid address.' }];
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
  }
}

const UNVERIFIED: Failure = Object.freeze({
  reason: 'email-unverified',
  explain: 'Your e-mail address is not verified at your identity provider; verify it and sign in again.',
});
