/**
 * Storage in this process's memory: for tests only. Everything is lost on restart and nothing is shared
 * with other instances, so Portcullis warns at start-up when it is configured. Payloads are copied in and
 * out, so a caller changing an object it stored or read never changes the stored entry.
 */
import {
  type Clock,
  type EntryOptions,
  type Expected,
  expiryFrom,
  type GrantMember,
  type Payload,
  type Storage,
  type SwapOptions,
  systemClock,
  withConsumed,
} from './storage.ts';

interface Entry {
  readonly payload: Payload;
  readonly expiresAt: number | undefined;
  readonly grantId: string | undefined;
  readonly lookups: Readonly<Record<string, string>>;
  consumed: number | undefined;
}

const key = (kind: string, id: string) => `${kind}\u0000${id}`;
const lookupKey = (kind: string, name: string, value: string) => `${kind}\u0000${name}\u0000${value}`;

export class MemoryStorage implements Storage {
  readonly type = 'memory' as const;
  readonly #entries = new Map<string, Entry>();
  readonly #lookups = new Map<string, string>();
  readonly #grants = new Map<string, Set<string>>();
  readonly #now: Clock;
  readonly #timer: NodeJS.Timeout | undefined;

  /** `cleanupIntervalMs`: sweep expired entries that nobody reads again (absent: only on cleanup()). */
  constructor(o: { now?: Clock; cleanupIntervalMs?: number } = {}) {
    this.#now = o.now ?? systemClock;
    const every = o.cleanupIntervalMs ?? 0;
    this.#timer = every > 0 ? setInterval(() => void this.cleanup(), every).unref() : undefined;
  }

  #live(k: string): Entry | undefined {
    const e = this.#entries.get(k);
    if (e === undefined) return undefined;
    if (e.expiresAt !== undefined && e.expiresAt <= this.#now()) {
      this.#remove(k);
      return undefined;
    }
    return e;
  }

  #remove(k: string): void {
    const e = this.#entries.get(k);
    if (e === undefined) return;
    this.#entries.delete(k);
    const [kind] = k.split('\u0000', 1);
    for (const [name, value] of Object.entries(e.lookups)) {
      const lk = lookupKey(kind!, name, value);
      if (this.#lookups.get(lk) === k) this.#lookups.delete(lk);
    }
    if (e.grantId !== undefined) {
      const members = this.#grants.get(e.grantId);
      members?.delete(k);
      if (members?.size === 0) this.#grants.delete(e.grantId);
    }
  }

  #put(kind: string, id: string, payload: Payload, o: EntryOptions): void {
    const k = key(kind, id);
    this.#remove(k);
    const expiresAt = expiryFrom(this.#now(), o.expiresIn);
    if (expiresAt !== undefined && expiresAt <= this.#now()) return;
    const lookups = { ...o.lookups };
    this.#entries.set(k, {
      payload: structuredClone(payload),
      expiresAt,
      grantId: o.grantId,
      lookups,
      consumed: undefined,
    });
    for (const [name, value] of Object.entries(lookups)) this.#lookups.set(lookupKey(kind, name, value), k);
    if (o.grantId !== undefined) {
      const members = this.#grants.get(o.grantId) ?? new Set<string>();
      members.add(k);
      this.#grants.set(o.grantId, members);
    }
  }

  async upsert(kind: string, id: string, payload: Payload, o: EntryOptions = {}): Promise<void> {
    this.#put(kind, id, payload, o);
  }

  async create(kind: string, id: string, payload: Payload, o: EntryOptions = {}): Promise<boolean> {
    if (this.#live(key(kind, id)) !== undefined) return false;
    this.#put(kind, id, payload, o);
    return this.#entries.has(key(kind, id));
  }

  async swap(
    kind: string,
    id: string,
    expected: Expected,
    payload: Payload,
    o: SwapOptions = {},
  ): Promise<boolean> {
    const e = this.#live(key(kind, id));
    if (e === undefined) return false;
    if (e.grantId !== undefined || Object.keys(e.lookups).length > 0)
      throw new TypeError(`storage: swap of ${kind} entries with a grant or lookups is not supported`);
    if (e.payload[expected.field] !== expected.value) return false;
    // #put drops the old entry first; an expiry now or in the past leaves none.
    this.#put(kind, id, payload, { expiresIn: o.expiresIn });
    return true;
  }

  #read(e: Entry | undefined): Payload | undefined {
    return e === undefined ? undefined : withConsumed(structuredClone(e.payload), e.consumed);
  }

  async find(kind: string, id: string): Promise<Payload | undefined> {
    return this.#read(this.#live(key(kind, id)));
  }

  async findBy(kind: string, name: string, value: string): Promise<Payload | undefined> {
    const k = this.#lookups.get(lookupKey(kind, name, value));
    return k === undefined ? undefined : this.#read(this.#live(k));
  }

  async consume(kind: string, id: string, at: number): Promise<void> {
    const e = this.#live(key(kind, id));
    if (e !== undefined) e.consumed = at;
  }

  async destroy(kind: string, id: string): Promise<void> {
    this.#remove(key(kind, id));
  }

  async revokeGrant(grantId: string): Promise<void> {
    for (const k of [...(this.#grants.get(grantId) ?? [])]) this.#remove(k);
    this.#grants.delete(grantId);
  }

  async listGrant(grantId: string): Promise<GrantMember[]> {
    const out: GrantMember[] = [];
    for (const k of [...(this.#grants.get(grantId) ?? [])]) {
      const payload = this.#read(this.#live(k));
      if (payload === undefined) continue;
      const [kind, id] = k.split('\u0000') as [string, string];
      out.push({ kind, id, payload });
    }
    return out;
  }

  async cleanup(): Promise<number> {
    const now = this.#now();
    let n = 0;
    for (const [k, e] of [...this.#entries]) {
      if (e.expiresAt !== undefined && e.expiresAt <= now) {
        this.#remove(k);
        n++;
      }
    }
    return n;
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
  }
}
