/**
 * What `portcullis check` reports: findings, the checks that produce them, and the I/O they are given.
 * A check is a small named function; the runner (run.ts) walks the tables in checks.ts and stamps each
 * result with the check's id and the subject it looked at.
 */

export type Status = 'ok' | 'warn' | 'fail' | 'skip';

export interface Finding {
  /** The check that produced it, e.g. `provider.issuer` (docs/check.md lists every one). */
  readonly id: string;
  readonly status: Status;
  /** What was looked at: `configuration`, `providers[0] corp`, `upstreams[1] api`, `storage`. */
  readonly subject: string;
  readonly message: string;
  /** What to change, when there is something to change. */
  readonly fix?: string;
  /** Raw evidence: the status, the IdP's error, the URL asked. Never a secret. */
  readonly detail?: string;
}

/** A finding before the runner names its check and subject. */
export interface Result {
  readonly status: Status;
  readonly message: string;
  readonly fix?: string;
  readonly detail?: string;
}

export type Extra = { readonly fix?: string | undefined; readonly detail?: string | undefined };

function result(status: Status, message: string, extra: Extra = {}): Result {
  const out: { status: Status; message: string; fix?: string; detail?: string } = { status, message };
  if (extra.fix !== undefined) out.fix = extra.fix;
  if (extra.detail !== undefined) out.detail = extra.detail;
  return out;
}

export const ok = (message: string, extra?: Extra): Result => result('ok', message, extra);
export const warn = (message: string, extra?: Extra): Result => result('warn', message, extra);
export const fail = (message: string, extra?: Extra): Result => result('fail', message, extra);
export const skip = (message: string, extra?: Extra): Result => result('skip', message, extra);

/** The I/O every live check gets as arguments, so tests can put a proxy, a fake Date or a frozen clock in. */
export interface DoctorIo {
  readonly fetch: typeof globalThis.fetch;
  /** Milliseconds since the epoch (the local clock the IdP's `Date` header is compared with). */
  readonly now: () => number;
  /** Per request. */
  readonly timeoutMs: number;
}

/**
 * `always`: static, needs no network; `live`: talks to the IdP, an upstream or a store (skipped by
 * `--offline`); `offline`: a static guess that a live check answers for sure, so it runs only offline.
 */
export type When = 'always' | 'live' | 'offline';

export type CheckOutput = Result | readonly Result[] | undefined;

export interface Check<Scope> {
  readonly id: string;
  readonly when: When;
  /** One line for docs/check.md and `--help`-style listings. */
  readonly title: string;
  run(scope: Scope, io: DoctorIo): CheckOutput | Promise<CheckOutput>;
}

export interface Summary {
  readonly ok: number;
  readonly warn: number;
  readonly fail: number;
  readonly skip: number;
  /** 0 nothing failed (warnings allowed), 1 a check failed, 2 the configuration does not load. */
  readonly exitCode: 0 | 1 | 2;
}

export interface Report {
  /** The configuration file checked, when there was one. */
  readonly config: string | undefined;
  readonly mode: 'live' | 'offline';
  readonly findings: readonly Finding[];
  readonly summary: Summary;
}
