/** Pretty logs are optional: pino-pretty is loaded only when asked for, and its absence means JSON. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { openLogger } from '../../src/observability/log.ts';

function sink() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      cb();
    },
  });
  return { stream, lines };
}

const missing = () => {
  const err = Object.assign(new Error("Cannot find package 'pino-pretty'"), { code: 'ERR_MODULE_NOT_FOUND' });
  return Promise.reject(err);
};

test('pino-pretty is not a runtime dependency: optional, so production installs can leave it out', () => {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
  assert.equal(pkg.dependencies['pino-pretty'], undefined);
  assert.ok(pkg.optionalDependencies['pino-pretty'] ?? pkg.devDependencies['pino-pretty']);
});

test('pretty asked for but not installed: JSON, after one warning line', async () => {
  const { stream, lines } = sink();
  const log = await openLogger('info', 'pretty', { destination: stream, importPretty: missing });
  log.info({ event: 'x' }, 'hello');
  await new Promise((r) => setImmediate(r));
  assert.equal(lines.length, 2);
  const [warning, hello] = lines.map((l) => JSON.parse(l));
  assert.equal(warning.level, 40);
  assert.equal(warning.event, 'log.pretty-unavailable');
  assert.match(warning.msg, /pino-pretty/);
  assert.equal(hello.msg, 'hello');
});

test('json, and auto off a terminal, never load pino-pretty', async () => {
  for (const [format, isTTY] of [
    ['json', true],
    ['auto', false],
  ] as const) {
    const { stream, lines } = sink();
    let loaded = false;
    const log = await openLogger('info', format, {
      destination: stream,
      isTTY,
      importPretty: () => {
        loaded = true;
        return missing();
      },
    });
    log.info('plain');
    await new Promise((r) => setImmediate(r));
    assert.equal(loaded, false, format);
    assert.deepEqual(
      lines.map((l) => JSON.parse(l).msg),
      ['plain'],
    );
  }
});

test('pretty when installed (auto on a terminal too): not JSON', async () => {
  for (const format of ['pretty', 'auto'] as const) {
    const { stream, lines } = sink();
    const log = await openLogger('info', format, { destination: stream, isTTY: true });
    log.info('pretty line');
    await new Promise((r) => setImmediate(r));
    assert.match(lines.join('\n'), /INFO.*pretty line/, format);
    for (const line of lines) assert.throws(() => JSON.parse(line), format);
  }
});
