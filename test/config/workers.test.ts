/**
 * server.workers (src/config/workers.ts): the settings that keep state in one process's memory are refused
 * with more than one worker, each naming its key and the fix; what workers can share is accepted.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ConfigError } from '../../src/config/errors.ts';
import { loadConfig, resolveConfig } from '../../src/config/load.ts';
import { workerCount } from '../../src/config/workers.ts';

type Doc = Record<string, unknown>;
const SECRET = randomBytes(32).toString('base64url');
const issuer = {
  clients: [{ id: 'svc', secret: 'x'.repeat(32), redirectUris: ['https://svc.example.com/cb'] }],
};

function doc(over: Doc): Doc {
  return {
    publicUrl: 'https://platform.example.com',
    cookie: { secret: SECRET },
    providers: [{ id: 'corp', type: 'oidc', issuer: 'https://login.example.com', clientId: 'abc' }],
    upstreams: [{ path: '/', url: 'http://127.0.0.1:8080' }],
    ...over,
  };
}

function problems(raw: Doc): readonly string[] {
  try {
    resolveConfig(raw, {});
    return [];
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems;
  }
}

describe('server.workers', () => {
  test('default 1; auto is the cores this process may use', () => {
    assert.equal(resolveConfig(doc({}), {}).server.workers, 1);
    assert.equal(resolveConfig(doc({ server: { workers: 'auto' } }), {}).server.workers, 'auto');
    assert.ok(workerCount('auto') >= 1);
    assert.equal(workerCount(3), 3);
    assert.match(problems(doc({ server: { workers: 0 } })).join('\n'), /^server\.workers: /);
  });

  test('from the environment: digits are the number, auto the word', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'pcl-workers-')), 'p.json');
    writeFileSync(file, JSON.stringify(doc({})));
    const env = (v: string) => ({ PORTCULLIS_SERVER_WORKERS: v });
    const load = (v: string) => loadConfig({ file, env: env(v) });
    assert.equal(load('3').config.server.workers, 3);
    assert.equal(load('auto').config.server.workers, 'auto');
    assert.throws(() => load('many'), /server\.workers: found "many"/);
    rmSync(join(file, '..'), { recursive: true, force: true });
  });

  test('cookie sessions, sqlite and redis are shared safely: accepted', () => {
    for (const over of [
      {},
      { issuer, storage: { type: 'sqlite' } },
      { issuer, storage: { type: 'redis', url: 'redis://127.0.0.1:6379/0' }, sessions: { store: 'storage' } },
      { sessions: { store: 'redis', url: 'redis://127.0.0.1:6379/0' } },
    ]) {
      assert.deepEqual(problems(doc({ ...over, server: { workers: 4 } })), [], JSON.stringify(over));
    }
  });

  test('storage.type memory is refused for each user of it, naming the key and the fix', () => {
    const got = problems(
      doc({
        issuer,
        sessions: { store: 'storage' },
        storage: { type: 'memory' },
        server: { workers: 2 },
        metrics: { insecureOnMainListener: true },
      }),
    );
    assert.equal(got.length, 3, got.join('\n'));
    assert.match(
      got[0]!,
      /^storage\.type: memory keeps the issuer's grants.*server\.workers is 2.*set storage\.type: sqlite \(one host\) or redis, or server\.workers: 1$/,
    );
    assert.match(
      got[1]!,
      /^sessions\.store: storage with storage\.type: memory .*sessions\.store: cookie or redis$/,
    );
    assert.match(
      got[2]!,
      /^metrics\.insecureOnMainListener: true would show the counts of whichever worker answers/,
    );
    const assertion = problems(
      doc({
        upstreams: [{ path: '/', url: 'http://127.0.0.1:8080', assertion: {} }],
        storage: { type: 'memory' },
        server: { workers: 'auto' },
      }),
    );
    assert.deepEqual(assertion.length, 1);
    assert.match(assertion[0]!, /^upstreams\[0\]\.assertion: its signing keys would be generated per worker/);
  });

  test('the same settings with one worker are accepted (control)', () => {
    const one = doc({ issuer, sessions: { store: 'storage' }, storage: { type: 'memory' } });
    assert.deepEqual(problems(one), []);
  });
});
