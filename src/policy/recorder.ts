/**
 * The decision recorder (issue 15): the `DecisionSink` the authorize step hands every decision to. Two
 * bounded rings in memory — the last `decisions` decisions (what explain and what-if replay) and the last
 * `denials` denials — written in place: a record costs one array slot, no copy, no allocation beyond the
 * record itself. Denials can also go to a shared store (Redis, when sessions are there) so every instance
 * sees every denial; that write is fire-and-forget and never delays or fails a request.
 */
import type { DecisionRecord, DecisionSink } from './record.ts';

/** A fixed-size ring: `push` overwrites the oldest; `newest` lists newest first. */
export class Ring<T> {
  readonly #slots: (T | undefined)[];
  #next = 0;
  #size = 0;

  readonly capacity: number;

  constructor(capacity: number) {
    this.capacity = capacity;
    if (!Number.isInteger(capacity) || capacity < 1) throw new TypeError('Ring capacity must be ≥ 1');
    this.#slots = new Array<T | undefined>(capacity);
  }

  get size(): number {
    return this.#size;
  }

  push(v: T): void {
    this.#slots[this.#next] = v;
    this.#next = (this.#next + 1) % this.capacity;
    if (this.#size < this.capacity) this.#size++;
  }

  /** Up to `limit` entries, newest first. */
  newest(limit = this.#size): T[] {
    const out: T[] = [];
    const n = Math.min(limit, this.#size);
    for (let i = 1; i <= n; i++) out.push(this.#slots[(this.#next - i + this.capacity) % this.capacity]!);
    return out;
  }
}

/** Where denials are shared between instances (src/console/denials.ts: a capped Redis list). */
export interface SharedDenials {
  /** Fire-and-forget: must not throw, must not be awaited by the request. */
  push(r: DecisionRecord): void;
  /** Newest first. */
  recent(limit: number): Promise<DecisionRecord[]>;
}

export interface RecorderOptions {
  /** Recent decisions kept (admin.decisions, default 1,000). */
  readonly decisions: number;
  /** Recent denials kept (admin.denials, default 500). */
  readonly denials: number;
  readonly shared?: SharedDenials | undefined;
}

export class DecisionRecorder implements DecisionSink {
  readonly #decisions: Ring<DecisionRecord>;
  readonly #denials: Ring<DecisionRecord>;
  readonly #shared: SharedDenials | undefined;

  constructor(o: RecorderOptions) {
    this.#decisions = new Ring(o.decisions);
    this.#denials = new Ring(o.denials);
    this.#shared = o.shared;
  }

  record(r: DecisionRecord): void {
    this.#decisions.push(r);
    if (r.allow) return;
    this.#denials.push(r);
    this.#shared?.push(r);
  }

  /** The recent decisions of this instance, newest first. */
  decisions(limit?: number): DecisionRecord[] {
    return this.#decisions.newest(limit);
  }

  /** Where the denials come from: this instance's memory, or the store every instance writes. */
  get denialsSource(): 'memory' | 'redis' {
    return this.#shared === undefined ? 'memory' : 'redis';
  }

  /** The recent denials, newest first: every instance's when shared (this instance's if the store fails). */
  async denials(limit = this.#denials.capacity): Promise<DecisionRecord[]> {
    if (this.#shared === undefined) return this.#denials.newest(limit);
    try {
      return await this.#shared.recent(limit);
    } catch {
      return this.#denials.newest(limit);
    }
  }
}
