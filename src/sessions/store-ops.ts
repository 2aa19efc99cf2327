/**
 * The time limit and error shape of every session-store operation: an operation that fails, or gets no
 * answer within the limit, becomes PCL_SESSION_STORE_UNAVAILABLE (503) rather than "no session" or a
 * request held for as long as the connection takes to give up.
 *
 * Every request with a server-side session runs one of these, so the limit is kept without a timer or a
 * clock reading per operation: one interval ticks every eighth of the limit while anything is pending,
 * each operation joins the bucket of the current tick, and a bucket's operations that are still pending
 * 7 ticks after it closed fail. An operation therefore fails after between 7/8 of the limit and the limit
 * (plus the event loop's lateness), never later. A settled operation leaves its bucket at once, so a
 * finished request's objects are not kept alive until the bucket expires. Against a setTimeout and a
 * Promise.race per operation, a session read over Redis went from ~96k to ~85k instructions (callgrind).
 */
import { PortcullisError } from '../errors/codes.ts';

export type StoreOp = 'read' | 'write' | 'delete' | 'lock';

/** A store operation that takes longer fails (503) rather than holding the request. */
export const STORE_TIMEOUT_MS = 2_000;

export function isStoreUnavailable(err: unknown): err is PortcullisError {
  return err instanceof PortcullisError && err.code === 'PCL_SESSION_STORE_UNAVAILABLE';
}

interface Pending {
  readonly op: StoreOp;
  readonly reject: (err: unknown) => void;
  /** The bucket holding it and its place there; undefined once settled. */
  bucket: Pending[] | undefined;
  index: number;
}

/** Buckets of this many ticks are kept: an operation fails after 7 to 8 ticks (7/8 of the limit to the limit). */
const TICKS = 8;

export class StoreOps {
  readonly #type: string;
  readonly #ms: number;
  readonly #onError: (op: StoreOp, err: unknown) => void;
  /** The operations started since the last tick, then the older buckets, oldest first. */
  #current: Pending[] = [];
  #older: Pending[][] = [];
  /** Operations not yet settled: the timer stops when none is left. */
  #pending = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(type: string, timeoutMs: number, onError: (op: StoreOp, err: unknown) => void) {
    this.#type = type;
    this.#ms = timeoutMs;
    this.#onError = onError;
  }

  /** Runs one store operation with the time limit; any failure becomes PCL_SESSION_STORE_UNAVAILABLE. */
  run<T>(op: StoreOp, start: () => Promise<T>): Promise<T> {
    let work: Promise<T>;
    try {
      work = start();
    } catch (err) {
      return Promise.reject(this.#fail(op, err));
    }
    this.#pending++;
    this.#timer ??= setInterval(this.#tick, Math.max(1, this.#ms / TICKS));
    return new Promise<T>((resolve, reject) => {
      const bucket = this.#current;
      const p: Pending = { op, reject, bucket, index: bucket.length };
      bucket.push(p);
      // Settled by whichever comes first; a late answer of an abandoned operation is dropped here, so
      // its rejection never surfaces as an unhandled one.
      work.then(
        (v) => {
          if (this.#settle(p)) resolve(v);
        },
        (err: unknown) => {
          if (this.#settle(p)) reject(this.#fail(op, err));
        },
      );
    });
  }

  /**
   * Takes a settled operation out of its bucket at once (the last one moves into its place), so nothing
   * of a finished request stays referenced until its bucket expires: kept 2 s, busy buckets would carry
   * every answer into V8's old generation (GC doubled in a read benchmark). False when already settled.
   */
  #settle(p: Pending): boolean {
    const bucket = p.bucket;
    if (bucket === undefined) return false;
    p.bucket = undefined;
    const last = bucket.pop() as Pending;
    if (last !== p) {
      bucket[p.index] = last;
      last.index = p.index;
    }
    this.#pending--;
    return true;
  }

  #tick = (): void => {
    this.#older.push(this.#current);
    this.#current = [];
    // The bucket closed TICKS - 1 ticks ago: its operations started between 7 and 8 ticks ago.
    if (this.#older.length >= TICKS) {
      const due = this.#older.shift() ?? [];
      // Only operations still pending are left in a bucket; each is failed once.
      for (const p of due.slice()) {
        if (this.#settle(p)) p.reject(this.#fail(p.op, new Error(`no answer within ${this.#ms} ms`)));
      }
    }
    if (this.#pending === 0) {
      clearInterval(this.#timer);
      this.#timer = undefined;
      this.#older = [];
    }
  };

  #fail(op: StoreOp, err: unknown): PortcullisError {
    this.#onError(op, err);
    const why = err instanceof Error ? err.message : String(err);
    return new PortcullisError(
      'PCL_SESSION_STORE_UNAVAILABLE',
      `session store ${this.#type}: ${op} failed: ${why}`,
      { cause: err },
    );
  }
}
