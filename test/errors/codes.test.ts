/**
 * The error registry (src/errors/codes.ts) and its documentation (docs/reference/errors.md) stay in step:
 * one `## PCL_…` section per registered code, each stating the code's status and the title users see, and
 * no code used anywhere in src/ that the registry lacks.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ERRORS } from '../../src/errors/codes.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DOC = readFileSync(join(ROOT, 'docs/reference/errors.md'), 'utf8');

/** `## PCL_…` heading → the text up to the next `## ` heading. */
function sections(markdown: string): Map<string, string> {
  const out = new Map<string, string>();
  const parts = markdown.split(/^## /m).slice(1);
  for (const part of parts) {
    const newline = part.indexOf('\n');
    const heading = (newline === -1 ? part : part.slice(0, newline)).trim();
    if (!heading.startsWith('PCL_')) continue;
    assert.ok(!out.has(heading), `${heading} is documented twice`);
    out.set(heading, newline === -1 ? '' : part.slice(newline + 1));
  }
  return out;
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sourceFiles(path));
    else if (entry.name.endsWith('.ts')) out.push(path);
  }
  return out;
}

const documented = sections(DOC);
const registered = Object.keys(ERRORS).sort();

test('every registered code has exactly one section, and every section is a registered code', () => {
  assert.deepEqual([...documented.keys()].sort(), registered);
});

test('every section states the code’s HTTP status and the title users see', async (t) => {
  for (const [code, spec] of Object.entries(ERRORS)) {
    await t.test(code, () => {
      const body = documented.get(code);
      assert.ok(body !== undefined, `${code} is not documented`);
      assert.ok(
        body.includes(`**HTTP status:** ${spec.status}`),
        `${code}: the section must say "**HTTP status:** ${spec.status}"`,
      );
      assert.ok(body.includes(spec.title), `${code}: the section must quote the title "${spec.title}"`);
    });
  }
});

test('every PCL_ code used in src/ is registered', () => {
  const unregistered: string[] = [];
  for (const file of sourceFiles(join(ROOT, 'src'))) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/\bPCL_[A-Z][A-Z0-9_]*\b/g)) {
      if (!(m[0] in ERRORS)) unregistered.push(`${file.slice(ROOT.length)}: ${m[0]}`);
    }
  }
  assert.deepEqual(unregistered, []);
});

test('the source scan finds the codes it should (guards the scan itself)', () => {
  const text = readFileSync(join(ROOT, 'src/http/login.ts'), 'utf8');
  assert.match(text, /'PCL_STATE_UNKNOWN'/);
});
