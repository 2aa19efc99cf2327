/**
 * The time limit and error shape of every session-store operation: an operation that fails, or gets no
 * answer within the limit, becomes PCL_SESSION_STORE_UNAVAILABLE (503) rather than "no session" or a
 * request held for as long as the connection takes to give up.
 *
 * Every request with a server-side session runs one of these, so the limit is kept without a timer per
 * operation: the pending operations sit in one Set (insertion order is deadline order, since every
 * operation gets the same limit), and one interval, running only while something is pending, fails those
 * whose deadline falls before its next tick. An operation therefore fails after between 7/8 of the limit
 * and the limit (plus the event loop's lateness), never later. A setTimeout and a Promise.race per
 * operation cost ~9 % of a Redis-session request's instructions (bench/callgrind.sh).
 */
import { PortcullisError } from '../errors/codes.ts';

export type StoreOp = 'read' | 'write' | 'delete' | 'lock';

/** A store operation that takes longer fails (503) rather than holding the request. */
export const STORE_TIMEOUT_MS = 2_000;

export function isStoreUnavailable(err: unknown): err is PortcullisError {
  return err instanceof PortcullisError && err.code === 'PCL_SESSION_STORE_UNAVAILABLE';
}

interface Pending {
  readonly at: number;
  readonly op: StoreOp;
  readonly reject: (err: unknown) => void;
}

export class StoreOps {
  readonly #type: string;
  readonly #ms: number;
  /** How often the deadlines are checked: an eighth of the limit (250 ms for 2 s). */
  readonly #every: number;
  readonly #onError: (op: StoreOp, err: unknown) => void;
  readonly #pending = new Set<Pending>();
  #timer: NodeJS.Timeout | undefined;

  constructor(type: string, timeoutMs: number, onError: (op: StoreOp, err: unknown) => void) {
    this.#type = type;
    this.#ms = timeoutMs;
    this.#every = Math.max(1, timeoutMs / 8);
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
    return new Promise<T>((resolve, reject) => {
      const p: Pending = { at: performance.now() + this.#ms, op, reject };
      this.#pending.add(p);
      this.#timer ??= setInterval(this.#tick, this.#every);
      // Settled by whichever comes first; a late answer of an abandoned operation is dropped here, so
      // its rejection never surfaces as an unhandled one.
      work.then(
        (v) => {
          if (this.#pending.delete(p)) resolve(v);
        },
        (err: unknown) => {
          if (this.#pending.delete(p)) reject(this.#fail(op, err));
        },
      );
    });
  }

  #tick = (): void => {
    // Whatever would be past its deadline by the next tick fails now.
    const due = performance.now() + this.#every;
    for (const p of this.#pending) {
      if (p.at > due) break;
      this.#pending.delete(p);
      p.reject(this.#fail(p.op, new Error(`no answer within ${this.#ms} ms`)));
    }
    if (this.#pending.size === 0) {
      clearInterval(this.#timer);
      this.#timer = undefined;
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
