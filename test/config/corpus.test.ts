/**
 * The corpus of broken configurations (test/config/corpus-cases.ts), each loaded as `serve` loads it, with
 * the exact text the operator sees held in test/config/corpus-expected.txt: a change of wording is a
 * reviewed change of that file. Every case fails; every problem names the key, what was found and what to
 * write; zod's own wording never shows; a YAML mistake is one finding with its line and a caret.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ConfigError } from '../../src/config/errors.ts';
import { loadConfig } from '../../src/config/load.ts';
import { CASES } from './corpus-cases.ts';

const root = mkdtempSync(join(tmpdir(), 'pcl-corpus-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** The expected output by case name, from the `### name` sections of the expected file. */
const EXPECTED = new Map(
  readFileSync(new URL('./corpus-expected.txt', import.meta.url), 'utf8')
    .split(/^### /m)
    .slice(1)
    .map((section) => {
      const nl = section.indexOf('\n');
      return [section.slice(0, nl), section.slice(nl + 1).replace(/\n+$/, '')] as const;
    }),
);

test('the corpus has at least 40 broken configurations, each with its expected output', () => {
  assert.ok(CASES.length >= 40, `${CASES.length} cases`);
  assert.equal(new Set(CASES.map((c) => c.name)).size, CASES.length, 'names are unique');
  assert.deepEqual(
    CASES.map((c) => c.name).filter((n) => !EXPECTED.has(n)),
    [],
    'every case has an expected output',
  );
  assert.equal(EXPECTED.size, CASES.length, 'no expected output without its case');
});

CASES.forEach((c, i) => {
  test(c.name, () => {
    const here = mkdtempSync(join(root, `${i}-`));
    for (const [name, text] of Object.entries(c.files ?? {})) writeFileSync(join(here, name), text);
    const file = join(here, 'portcullis.yaml');
    writeFileSync(file, c.yaml.replaceAll('<dir>', here));
    let message: string | undefined;
    let problems: readonly string[] = [];
    try {
      loadConfig({ file, env: { ...c.env } });
    } catch (err) {
      assert.ok(err instanceof ConfigError, String(err));
      message = err.message;
      problems = err.problems;
    }
    assert.ok(message !== undefined, 'the configuration is refused');
    assert.equal(message.replaceAll(here, '<dir>'), EXPECTED.get(c.name));
    // Never zod's wording, never a dangling colon.
    assert.doesNotMatch(message, /Invalid input|Invalid option|Too small|Too big|expected \w+, received/);
    for (const p of problems) assert.doesNotMatch(p.split('\n')[0]!, /:$/);
  });
});
