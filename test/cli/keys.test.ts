/**
 * `portcullis keys list|rotate`: each key's state with its times, a staged rotation that says when the new
 * keys start signing, and `--now` for an emergency, which says it opens the window across instances.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, test } from 'node:test';
import { keysCommand } from '../../src/cli/keys.ts';
import { ACTIVATION_DELAY_SECONDS } from '../../src/keys/timing.ts';

const dir = mkdtempSync(join(tmpdir(), 'portcullis-keys-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function configFile(): string {
  const file = join(dir, `${randomBytes(4).toString('hex')}.json`);
  writeFileSync(
    file,
    JSON.stringify({
      publicUrl: 'https://gw.example.com',
      cookie: { secret: randomBytes(32).toString('base64url') },
      providers: [
        {
          id: 'corp',
          type: 'oidc',
          issuer: 'https://idp.example.com',
          clientId: 'gw',
          clientSecret: 'x'.repeat(32),
        },
      ],
      upstreams: [{ id: 'app', path: '/', url: 'http://127.0.0.1:9', assertion: { lifetime: 300 } }],
      storage: { type: 'sqlite', path: join(dir, `${randomBytes(4).toString('hex')}.db`) },
    }),
  );
  return file;
}

async function run(...args: string[]): Promise<string> {
  const out = new PassThrough();
  let text = '';
  out.on('data', (c) => {
    text += String(c);
  });
  await keysCommand(args, out);
  return text;
}

const stamp = /(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)/;

test('rotate stages the new keys and says when they sign; list shows pending, active and retired', async () => {
  const config = configFile();
  const first = await run('list', '--config', config);
  assert.equal((first.match(/^ {2}active {3}/gm) ?? []).length, 2, first);
  const before = Math.floor(Date.now() / 1000);
  const rotated = await run('rotate', '--config', config);
  const at = new RegExp(
    `the new keys start signing at ${stamp.source} \\(in ${ACTIVATION_DELAY_SECONDS} s\\)`,
  ).exec(rotated);
  assert.ok(at, rotated);
  const activates = Date.parse(at[1]!) / 1000;
  assert.ok(
    activates >= before + ACTIVATION_DELAY_SECONDS && activates <= before + ACTIVATION_DELAY_SECONDS + 5,
  );
  assert.match(rotated, new RegExp(`added\\s+ES256\\s+\\S+\\s+published now, signs from ${at[1]}`));
  assert.match(
    rotated,
    new RegExp(`retired\\s+ES256\\s+\\S+\\s+verifies until \\S+ \\(signs until ${at[1]}\\)`),
  );

  const listed = await run('list', '--config', config);
  assert.equal((listed.match(/^ {2}pending {2}/gm) ?? []).length, 2, listed);
  assert.equal((listed.match(/^ {2}active {3}/gm) ?? []).length, 2, listed);
  assert.match(listed, new RegExp(`pending  ES256  \\S+  \\(created \\S+, signs from ${at[1]}\\)`));
  assert.match(
    listed,
    new RegExp(`active   ES256  \\S+  \\(created \\S+, signs until ${at[1]}, verifies until \\S+\\)`),
  );
});

test('rotate --now signs at once and says it opens the window', async () => {
  const config = configFile();
  await run('list', '--config', config);
  const rotated = await run('rotate', '--now', '--config', config);
  assert.match(rotated, /added\s+ES256\s+\S+\s+signs from now on/);
  assert.match(rotated, /--now: the new keys sign at once/);
  assert.match(rotated, /send SIGHUP to every instance/);
  const listed = await run('list', '--config', config);
  assert.equal((listed.match(/^ {2}active {3}/gm) ?? []).length, 2, listed);
  assert.equal((listed.match(/^ {2}retired {2}/gm) ?? []).length, 2, listed);
  assert.doesNotMatch(listed, /pending/);
});
