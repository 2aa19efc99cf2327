/** isLoopbackHost: one definition, in a leaf module, used by config, doctor, providers and issuer alike. */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { isLoopbackHost } from '../../src/config/net.ts';

test('loopback hosts', () => {
  for (const h of ['localhost', 'app.localhost', '127.0.0.1', '127.1.2.3', '::1', '[::1]'])
    assert.equal(isLoopbackHost(h), true, h);
  for (const h of [
    'example.com',
    'localhost.example.com',
    '128.0.0.1',
    '10.0.0.1',
    '::2',
    '127.0.0.1.nip.io',
    '',
  ])
    assert.equal(isLoopbackHost(h), false, h);
});

test('one definition in src/, and its module imports nothing of the project', () => {
  const root = join(import.meta.dirname, '../../src');
  const files = (readdirSync(root, { recursive: true }) as string[]).filter((f) => f.endsWith('.ts'));
  const defining = files.filter((f) =>
    /function isLoopback\w*\(|const isLoopback\w* =/.test(readFileSync(join(root, f), 'utf8')),
  );
  assert.deepEqual(defining, [join('config', 'net.ts')]);
  const source = readFileSync(join(root, 'config', 'net.ts'), 'utf8');
  const imports = [...source.matchAll(/from '([^']+)'/g)].map((m) => m[1]);
  assert.ok(
    imports.every((i) => i?.startsWith('node:')),
    `net.ts imports only node: modules, got ${imports.join(', ')}`,
  );
});
