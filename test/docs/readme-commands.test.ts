/**
 * The README's command table lists every command `portcullis --help` lists, and no other.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

test('README command table = the commands of portcullis --help', () => {
  const help = spawnSync(process.execPath, ['src/cli/main.ts', '--help'], { encoding: 'utf8' });
  assert.equal(help.status, 0, help.stderr);
  const section = help.stdout.split('\ncommands:\n')[1]!.split('\n\n')[0]!;
  const fromHelp = new Set([...section.matchAll(/^ {2}([a-z]+)\b/gm)].map((m) => m[1]));
  const readme = readFileSync('README.md', 'utf8').split('## Commands')[1]!.split('\n## ')[0]!;
  const fromReadme = new Set([...readme.matchAll(/^\| `portcullis ([a-z]+)/gm)].map((m) => m[1]));
  assert.deepEqual([...fromReadme].sort(), [...fromHelp].sort());
});
