/**
 * docs/architecture.md's table of rooms is the rule: every import in src/ points from a room to one on a
 * lower floor (a room's own files excepted), and the table names every room there is.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SRC = join(ROOT, 'src');
const doc = readFileSync(join(ROOT, 'docs/architecture.md'), 'utf8');

/** `| 3 | `sessions/` | …` rows: room → floor. */
const floors = new Map<string, number>();
for (const m of doc.matchAll(/^\| (\d+) \| `([a-z]+)\/` \|/gm)) floors.set(m[2]!, Number(m[1]));

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

const roomOf = (file: string) => relative(SRC, file).split('/')[0]!;

/** Every cross-room import: [from file, to room]. `import type` counts: it is an arrow in the reader's head. */
function arrows(): [string, string][] {
  const out: [string, string][] = [];
  for (const file of files(SRC)) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:from|import\()\s*'(\.{1,2}\/[^']+)'/g)) {
      const target = resolve(dirname(file), m[1]!);
      if (!target.startsWith(SRC)) continue;
      const to = roomOf(target);
      if (to !== roomOf(file)) out.push([relative(ROOT, file), to]);
    }
  }
  return out;
}

test('the table names every room of src/ (types/ holds declarations only)', () => {
  const rooms = readdirSync(SRC).filter((n) => statSync(join(SRC, n)).isDirectory() && n !== 'types');
  assert.deepEqual([...floors.keys()].sort(), rooms.sort());
});

test('every import points to a lower floor: no cycle, no folders importing each other', () => {
  const wrong = arrows()
    .filter(([from, to]) => floors.get(to)! >= floors.get(roomOf(join(ROOT, from)))!)
    .map(
      ([from, to]) =>
        `${from} → ${to}/ (floor ${floors.get(to)} from ${floors.get(roomOf(join(ROOT, from)))})`,
    );
  assert.deepEqual(wrong, []);
});

test('the checker sees a wrong arrow (control)', () => {
  // config/ is the ground floor: an import of http/ from there would be one.
  assert.ok(floors.get('http')! > floors.get('config')!);
  assert.ok(arrows().some(([from, to]) => from.startsWith('src/http/') && to === 'config'));
});
