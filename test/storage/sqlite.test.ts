import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, test } from 'node:test';
import { SqliteStorage } from '../../src/storage/sqlite.ts';
import { storageContract } from './contract.ts';

const dir = mkdtempSync(join(tmpdir(), 'portcullis-sqlite-'));
after(() => rmSync(dir, { recursive: true, force: true }));

storageContract('sqlite', async () => {
  let now = Date.now();
  const clock = () => now;
  const file = join(dir, 'contract', 'portcullis.db');
  return {
    storage: new SqliteStorage({ file, now: clock }),
    advance: async (seconds) => {
      now += seconds * 1000;
    },
    reopen: async () => new SqliteStorage({ file, now: clock }),
    dispose: async () => {},
  };
});

test('the database file and its directory are private to the Portcullis user (0600, 0700)', async () => {
  const file = join(dir, 'private', 'nested', 'p.db');
  const s = new SqliteStorage({ file });
  await s.upsert('Thing', 'x', { a: 1 });
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.equal(statSync(join(dir, 'private', 'nested')).mode & 0o777, 0o700);
  if (existsSync(`${file}-wal`)) assert.equal(statSync(`${file}-wal`).mode & 0o777, 0o600);
  await s.close();
});

test('an existing file with loose permissions is tightened to 0600 on open', async () => {
  const file = join(dir, 'loose.db');
  writeFileSync(file, '', { mode: 0o644 });
  const s = new SqliteStorage({ file });
  assert.equal(statSync(file).mode & 0o777, 0o600);
  await s.close();
});

test('expired rows are swept on open, by cleanup(), and by the interval timer', async () => {
  const file = join(dir, 'sweep.db');
  let now = Date.now();
  const s = new SqliteStorage({ file, now: () => now });
  await s.upsert('Code', 'a', { v: 1 }, { expiresIn: 1, lookups: { uid: 'ua' } });
  await s.upsert('Code', 'b', { v: 2 }, { expiresIn: 1 });
  await s.upsert('Code', 'keep', { v: 3 });
  now += 2_000;
  assert.equal(await s.cleanup(), 2);
  assert.equal(await s.cleanup(), 0);
  const db = new DatabaseSync(file);
  assert.deepEqual(
    db
      .prepare('SELECT id FROM entries ORDER BY id')
      .all()
      .map((r) => (r as { id: string }).id),
    ['keep'],
  );
  assert.equal(
    (db.prepare('SELECT count(*) AS n FROM lookups').get() as { n: number }).n,
    0,
    'no orphan lookups',
  );
  db.close();
  await s.upsert('Code', 'c', { v: 4 }, { expiresIn: 1 });
  await s.close();
  now += 2_000;
  const reopened = new SqliteStorage({ file, now: () => now });
  const check = new DatabaseSync(file);
  assert.equal(
    (check.prepare("SELECT count(*) AS n FROM entries WHERE id = 'c'").get() as { n: number }).n,
    0,
  );
  check.close();
  await reopened.close();

  // The timer: a real (short) interval against the real clock.
  const timed = new SqliteStorage({ file: join(dir, 'timer.db'), cleanupIntervalMs: 50 });
  await timed.upsert('Code', 'soon', { v: 1 }, { expiresIn: 0.001 });
  await new Promise((r) => setTimeout(r, 200));
  const raw = new DatabaseSync(join(dir, 'timer.db'));
  assert.equal((raw.prepare('SELECT count(*) AS n FROM entries').get() as { n: number }).n, 0);
  raw.close();
  await timed.close();
});

test('a file written by a newer schema is refused with a clear message', () => {
  const file = join(dir, 'newer.db');
  const db = new DatabaseSync(file);
  db.exec('PRAGMA user_version = 99');
  db.close();
  assert.throws(() => new SqliteStorage({ file }), /newer Portcullis \(storage schema 99/);
});
