/**
 * Storage in an SQLite file through `node:sqlite` (built into Node 24; native addons break with the pinned
 * Node). The embedded default: one file under the data directory, created with mode 0600 in a 0700
 * directory because it holds grants, refresh tokens and the (sealed) signing keys. WAL journaling lets
 * readers and the writer work side by side; expired rows are removed on open and every
 * `cleanupIntervalMs`.
 */
import { chmodSync, closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
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

/** Bumped when the tables change; an older file is migrated on open. */
const SCHEMA_VERSION = 1;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS entries (
  kind TEXT NOT NULL,
  id TEXT NOT NULL,
  payload TEXT NOT NULL,
  grant_id TEXT,
  consumed INTEGER,
  expires_at INTEGER,
  PRIMARY KEY (kind, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS entries_grant ON entries (grant_id) WHERE grant_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS entries_expiry ON entries (expires_at) WHERE expires_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS lookups (
  kind TEXT NOT NULL,
  name TEXT NOT NULL,
  value TEXT NOT NULL,
  id TEXT NOT NULL,
  PRIMARY KEY (kind, name, value)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS lookups_entry ON lookups (kind, id);
`;

export interface SqliteOptions {
  /** The database file; ':memory:' for a private in-memory database. */
  readonly file: string;
  readonly now?: Clock;
  /** Remove expired rows this often; 0 or absent: only on open and when cleanup() is called. */
  readonly cleanupIntervalMs?: number;
}

interface Row {
  payload: string;
  consumed: number | null;
}

const LIVE = '(expires_at IS NULL OR expires_at > ?)';

export class SqliteStorage implements Storage {
  readonly type = 'sqlite' as const;
  readonly file: string;
  readonly #db: DatabaseSync;
  readonly #now: Clock;
  readonly #timer: NodeJS.Timeout | undefined;
  readonly #q: Record<
    | 'put'
    | 'insert'
    | 'dropDead'
    | 'dropLookups'
    | 'addLookup'
    | 'find'
    | 'current'
    | 'hasLookups'
    | 'replace'
    | 'findBy'
    | 'consume'
    | 'destroy'
    | 'revoke'
    | 'revokeLookups'
    | 'members'
    | 'expire'
    | 'orphanLookups',
    StatementSync
  >;
  #closed = false;

  constructor(o: SqliteOptions) {
    this.file = o.file;
    this.#now = o.now ?? systemClock;
    if (o.file !== ':memory:') {
      mkdirSync(dirname(o.file), { recursive: true, mode: 0o700 });
      // Create the file with 0600 before SQLite opens it: its -wal and -shm files copy the main file's
      // permissions, so nothing else on the host can read grants, tokens or keys.
      closeSync(openSync(o.file, 'a', 0o600));
      chmodSync(o.file, 0o600);
    }
    this.#db = new DatabaseSync(o.file, { timeout: 5_000 });
    this.#db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;');
    const version = (this.#db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version;
    if (version > SCHEMA_VERSION) {
      this.#db.close();
      throw new Error(
        `${o.file} was written by a newer Portcullis (storage schema ${version}, this one knows ${SCHEMA_VERSION})`,
      );
    }
    this.#db.exec(SCHEMA);
    this.#db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
    const db = this.#db;
    this.#q = {
      put: db.prepare(
        'INSERT OR REPLACE INTO entries (kind, id, payload, grant_id, consumed, expires_at) VALUES (?, ?, ?, ?, NULL, ?)',
      ),
      insert: db.prepare(
        'INSERT OR IGNORE INTO entries (kind, id, payload, grant_id, consumed, expires_at) VALUES (?, ?, ?, ?, NULL, ?)',
      ),
      dropDead: db.prepare(`DELETE FROM entries WHERE kind = ? AND id = ? AND NOT ${LIVE}`),
      dropLookups: db.prepare('DELETE FROM lookups WHERE kind = ? AND id = ?'),
      addLookup: db.prepare('INSERT OR REPLACE INTO lookups (kind, name, value, id) VALUES (?, ?, ?, ?)'),
      find: db.prepare(`SELECT payload, consumed FROM entries WHERE kind = ? AND id = ? AND ${LIVE}`),
      current: db.prepare(`SELECT payload, grant_id FROM entries WHERE kind = ? AND id = ? AND ${LIVE}`),
      hasLookups: db.prepare('SELECT 1 AS x FROM lookups WHERE kind = ? AND id = ? LIMIT 1'),
      replace: db.prepare(
        'UPDATE entries SET payload = ?, consumed = NULL, expires_at = ? WHERE kind = ? AND id = ?',
      ),
      findBy: db.prepare(
        `SELECT e.payload, e.consumed FROM lookups l JOIN entries e ON e.kind = l.kind AND e.id = l.id
         WHERE l.kind = ? AND l.name = ? AND l.value = ? AND (e.expires_at IS NULL OR e.expires_at > ?)`,
      ),
      consume: db.prepare(`UPDATE entries SET consumed = ? WHERE kind = ? AND id = ? AND ${LIVE}`),
      destroy: db.prepare('DELETE FROM entries WHERE kind = ? AND id = ?'),
      revokeLookups: db.prepare(
        'DELETE FROM lookups WHERE EXISTS (SELECT 1 FROM entries e WHERE e.grant_id = ? AND e.kind = lookups.kind AND e.id = lookups.id)',
      ),
      revoke: db.prepare('DELETE FROM entries WHERE grant_id = ?'),
      members: db.prepare(`SELECT kind, id, payload, consumed FROM entries WHERE grant_id = ? AND ${LIVE}`),
      expire: db.prepare('DELETE FROM entries WHERE expires_at IS NOT NULL AND expires_at <= ?'),
      orphanLookups: db.prepare(
        'DELETE FROM lookups WHERE NOT EXISTS (SELECT 1 FROM entries e WHERE e.kind = lookups.kind AND e.id = lookups.id)',
      ),
    };
    this.#sweep();
    const every = o.cleanupIntervalMs ?? 0;
    this.#timer = every > 0 ? setInterval(() => this.#sweep(), every).unref() : undefined;
  }

  #tx<T>(fn: () => T): T {
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      const out = fn();
      this.#db.exec('COMMIT');
      return out;
    } catch (err) {
      this.#db.exec('ROLLBACK');
      throw err;
    }
  }

  #write(kind: string, id: string, payload: Payload, o: EntryOptions, onlyIfAbsent: boolean): boolean {
    const now = this.#now();
    const expiresAt = expiryFrom(now, o.expiresIn);
    return this.#tx(() => {
      if (onlyIfAbsent) {
        // An expired row still occupies the key until the sweep: it does not count as present.
        this.#q.dropDead.run(kind, id, now);
      }
      if (expiresAt !== undefined && expiresAt <= now) {
        if (!onlyIfAbsent) {
          this.#q.destroy.run(kind, id);
          this.#q.dropLookups.run(kind, id);
        }
        return false;
      }
      const stmt = onlyIfAbsent ? this.#q.insert : this.#q.put;
      const r = stmt.run(kind, id, JSON.stringify(payload), o.grantId ?? null, expiresAt ?? null);
      if (onlyIfAbsent && Number(r.changes) === 0) return false;
      this.#q.dropLookups.run(kind, id);
      for (const [name, value] of Object.entries(o.lookups ?? {}))
        this.#q.addLookup.run(kind, name, value, id);
      return true;
    });
  }

  async upsert(kind: string, id: string, payload: Payload, o: EntryOptions = {}): Promise<void> {
    this.#write(kind, id, payload, o, false);
  }

  async create(kind: string, id: string, payload: Payload, o: EntryOptions = {}): Promise<boolean> {
    return this.#write(kind, id, payload, o, true);
  }

  async swap(
    kind: string,
    id: string,
    expected: Expected,
    payload: Payload,
    o: SwapOptions = {},
  ): Promise<boolean> {
    const now = this.#now();
    const expiresAt = expiryFrom(now, o.expiresIn);
    // BEGIN IMMEDIATE takes the write lock before the read, so the compare and the set are one step
    // for every connection to the file (other processes included).
    return this.#tx(() => {
      const row = this.#q.current.get(kind, id, now) as
        | { payload: string; grant_id: string | null }
        | undefined;
      if (row === undefined) return false;
      if (row.grant_id !== null || this.#q.hasLookups.get(kind, id) !== undefined)
        throw new TypeError(`storage: swap of ${kind} entries with a grant or lookups is not supported`);
      if ((JSON.parse(row.payload) as Payload)[expected.field] !== expected.value) return false;
      if (expiresAt !== undefined && expiresAt <= now) this.#q.destroy.run(kind, id);
      else this.#q.replace.run(JSON.stringify(payload), expiresAt ?? null, kind, id);
      return true;
    });
  }

  #read(row: unknown): Payload | undefined {
    if (row === undefined) return undefined;
    const r = row as Row;
    return withConsumed(JSON.parse(r.payload) as Payload, r.consumed ?? undefined);
  }

  async find(kind: string, id: string): Promise<Payload | undefined> {
    return this.#read(this.#q.find.get(kind, id, this.#now()));
  }

  async findBy(kind: string, name: string, value: string): Promise<Payload | undefined> {
    return this.#read(this.#q.findBy.get(kind, name, value, this.#now()));
  }

  async consume(kind: string, id: string, at: number): Promise<void> {
    this.#q.consume.run(at, kind, id, this.#now());
  }

  async destroy(kind: string, id: string): Promise<void> {
    this.#tx(() => {
      this.#q.destroy.run(kind, id);
      this.#q.dropLookups.run(kind, id);
    });
  }

  async revokeGrant(grantId: string): Promise<void> {
    this.#tx(() => {
      this.#q.revokeLookups.run(grantId);
      this.#q.revoke.run(grantId);
    });
  }

  async listGrant(grantId: string): Promise<GrantMember[]> {
    const rows = this.#q.members.all(grantId, this.#now()) as {
      kind: string;
      id: string;
      payload: string;
      consumed: number | null;
    }[];
    return rows.map((r) => ({
      kind: r.kind,
      id: r.id,
      payload: withConsumed(JSON.parse(r.payload) as Payload, r.consumed ?? undefined),
    }));
  }

  #sweep(): number {
    if (this.#closed) return 0;
    return this.#tx(() => {
      const r = this.#q.expire.run(this.#now());
      this.#q.orphanLookups.run();
      return Number(r.changes);
    });
  }

  async cleanup(): Promise<number> {
    return this.#sweep();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    this.#db.close();
  }
}
