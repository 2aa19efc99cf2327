/**
 * docs/reference/configuration.md's option tables are generated from src/config/schema.ts by
 * scripts/gen-config-docs.ts; this fails when they are out of date (run `npm run docs`).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { collectSections, DEFAULT_FILE, END, problems, START } from '../../scripts/gen-config-docs.ts';

const SCRIPT = fileURLToPath(new URL('../../scripts/gen-config-docs.ts', import.meta.url));

function runCheck(file: string) {
  return spawnSync(process.execPath, [SCRIPT, '--check', '--file', file], { encoding: 'utf8' });
}

test('docs/reference/configuration.md is up to date with the schema (npm run docs)', () => {
  const r = runCheck(DEFAULT_FILE);
  assert.equal(r.status, 0, r.stderr);
});

test('the check notices a stale page', () => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-docs-'));
  try {
    const page = readFileSync(DEFAULT_FILE, 'utf8');
    const stale = join(dir, 'configuration.md');
    // Change one row inside the generated part (the prose may mention the same key).
    const start = page.indexOf(START);
    const edited =
      page.slice(0, start) + page.slice(start).replace('| `publicUrl` |', '| `publicUrl` (old) |');
    assert.notEqual(edited, page);
    writeFileSync(stale, edited);
    const r = runCheck(stale);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /out of date; run `npm run docs`/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('every option has a description and a valid example, and the page has its markers', () => {
  assert.deepEqual(problems(collectSections()), []);
  const page = readFileSync(DEFAULT_FILE, 'utf8');
  assert.ok(page.indexOf(START) !== -1 && page.indexOf(START) < page.indexOf(END));
});

test('every schema key appears in the generated tables', () => {
  const page = readFileSync(DEFAULT_FILE, 'utf8');
  const generated = page.slice(page.indexOf(START), page.indexOf(END));
  for (const section of collectSections()) {
    for (const field of section.fields) assert.ok(generated.includes(`| \`${field.path}\` |`), field.path);
  }
});

test('examples can also come from the schema (.meta({ examples }))', () => {
  const schema = z.object({
    answer: z
      .number()
      .describe('the answer')
      .meta({ examples: [42] }),
  });
  const [top] = collectSections(schema as unknown as Parameters<typeof collectSections>[0]);
  assert.deepEqual(top?.fields[0]?.example, { value: 42 });
});
