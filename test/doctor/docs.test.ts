/** docs/check.md describes every check of the table, in the table's order, with when it runs. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { checkList } from '../../src/doctor/checks.ts';

const doc = readFileSync(new URL('../../docs/check.md', import.meta.url), 'utf8');
const WHEN: Record<string, string> = { always: 'static', live: 'live', offline: 'offline only' };

test('docs/check.md has a section per check, in order, saying when it runs', () => {
  const documented = [...doc.matchAll(/^#### `([a-z0-9.-]+)` \(([a-z ]+)\)$/gm)].map(
    (m) => `${m[1]} (${m[2]})`,
  );
  const expected = checkList().map((c) => `${c.id} (${WHEN[c.when]})`);
  assert.deepEqual(documented, expected);
});

test('check ids are unique', () => {
  const ids = checkList().map((c) => c.id);
  assert.equal(new Set(ids).size, ids.length);
});

test('the README lists the command', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  assert.match(readme, /^\| `portcullis check [^|]*\|[^\n]*\(docs\/check\.md\)/m);
});
