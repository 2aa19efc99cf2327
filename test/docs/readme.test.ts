/**
 * The README says what the code does: its command table lists every command `portcullis --help` lists,
 * and no other; it names every demo user.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { DEMO_USERS } from '../../src/demo/idp.ts';

const README = readFileSync('README.md', 'utf8');

test('README command table = the commands of portcullis --help', () => {
  const help = spawnSync(process.execPath, ['src/cli/main.ts', '--help'], { encoding: 'utf8' });
  assert.equal(help.status, 0, help.stderr);
  const section = help.stdout.split('\ncommands:\n')[1]!.split('\n\n')[0]!;
  const fromHelp = new Set([...section.matchAll(/^ {2}([a-z]+)\b/gm)].map((m) => m[1]));
  const table = README.split('## Commands')[1]!.split('\n## ')[0]!;
  const fromReadme = new Set([...table.matchAll(/^\| `portcullis ([a-z]+)/gm)].map((m) => m[1]));
  assert.deepEqual([...fromReadme].sort(), [...fromHelp].sort());
});

test('README names every demo user with the password', () => {
  const tryIt = README.split('## Try it')[1]!.split('\n## ')[0]!;
  const named = [...tryIt.matchAll(/`([a-z]+)`\/`([a-z]+)`/g)].map((m) => `${m[1]}/${m[2]}`);
  assert.deepEqual(
    named,
    DEMO_USERS.map((u) => `${u.username}/${u.password}`),
  );
});
