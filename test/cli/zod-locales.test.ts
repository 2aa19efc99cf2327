/**
 * zod in English only (src/cli/zod-locales.ts): the CLI serves zod's locales index as English alone. zod's
 * own messages and the configuration's problems read exactly as without the hook (this test process has
 * none; the children do).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { ConfigError } from '../../src/config/errors.ts';
import { loadConfig } from '../../src/config/load.ts';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'portcullis-zod-locales-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const hook = pathToFileURL(join(import.meta.dirname, '../../src/cli/zod-locales.ts')).href;

test("with the hook zod has English alone, and its messages are English's", () => {
  const src = `
import { englishOnlyZod } from ${JSON.stringify(hook)};
englishOnlyZod();
const { z } = await import('zod');
const r = z.object({ a: z.string(), b: z.number().min(3) }).safeParse({ a: 1, b: 1 });
process.stdout.write(JSON.stringify({ locales: Object.keys(z.locales), messages: r.error.issues.map((i) => i.message) }));`;
  // Evaluated in the checkout, where `zod` resolves.
  const out = spawnSync(process.execPath, ['--input-type=module', '-e', src], {
    encoding: 'utf8',
    cwd: join(import.meta.dirname, '../..'),
  });
  assert.equal(out.status, 0, out.stderr);
  const child = JSON.parse(out.stdout) as { locales: string[]; messages: string[] };
  const here = z.object({ a: z.string(), b: z.number().min(3) }).safeParse({ a: 1, b: 1 });
  assert.deepEqual(child.locales, ['en']);
  assert.ok(Object.keys(z.locales).length > 40, 'this process (no hook) has them all');
  assert.deepEqual(
    child.messages,
    here.error!.issues.map((i) => i.message),
  );
});

test("a configuration's problems through the CLI (hook) read as loaded here (no hook)", () => {
  const file = join(dir, 'bad.yaml');
  writeFileSync(
    file,
    `publicUrl: not a url
listen: [1]
cookie: { secret: short, sameSite: sometimes }
providers:
  - { id: t, type: oidc, issuer: 'http://127.0.0.1:9', clientId: c, clientSecret: 5 }
  - { id: u, type: nonesuch }
upstreams: [{ path: /, url: 'ftp://x', timeout: soon }]
sessoins: {}
`,
  );
  let expected = '';
  try {
    loadConfig({ file, env: {} });
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    expected = err.message;
  }
  assert.ok(expected.split('\n').length > 4, expected);
  const out = spawnSync(process.execPath, ['src/cli/main.ts', 'config', '--config', file], {
    encoding: 'utf8',
    env: Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PORTCULLIS_'))),
  });
  assert.equal(out.status, 2, out.stderr);
  assert.equal(out.stderr, `${expected}\n`);
});
