import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { createLogger } from '../../src/observability/log.ts';
import { MemoryStorage } from '../../src/storage/memory.ts';
import { openStorage } from '../../src/storage/open.ts';
import { storageContract } from './contract.ts';

storageContract('memory', async () => {
  let now = Date.now();
  const storage = new MemoryStorage({ now: () => now });
  return {
    storage,
    advance: async (seconds) => {
      now += seconds * 1000;
    },
    dispose: async () => {},
  };
});

test('configuring memory storage logs a start-up warning', async () => {
  let out = '';
  const sink = new Writable({
    write(chunk, _enc, cb) {
      out += String(chunk);
      cb();
    },
  });
  const storage = await openStorage(
    {
      type: 'memory',
      path: 'unused.db',
      file: '/unused.db',
      keyPrefix: 'x:',
      cleanupInterval: 600,
      passwordValue: undefined,
      redis: undefined,
    },
    createLogger('info', sink),
  );
  assert.equal(storage.type, 'memory');
  const line = JSON.parse(out.trim().split('\n')[0]!) as { level: number; event: string; msg: string };
  assert.equal(line.level, 40, 'warn');
  assert.equal(line.event, 'storage.memory');
  assert.match(line.msg, /lost on restart/);
  await storage.close();
});
