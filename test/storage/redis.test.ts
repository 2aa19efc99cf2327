import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { Redis } from 'ioredis';
import { RedisStorage } from '../../src/storage/redis.ts';
import { storageContract } from './contract.ts';

const URL_ = process.env['PORTCULLIS_TEST_REDIS'] ?? 'redis://127.0.0.1:6379/0';

async function removePrefix(prefix: string): Promise<void> {
  const r = new Redis(URL_);
  let cursor = '0';
  do {
    const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
    cursor = next;
    if (keys.length > 0) await r.del(...keys);
  } while (cursor !== '0');
  await r.quit();
}

storageContract('redis', async () => {
  const prefix = `portcullis-test:${randomBytes(6).toString('hex')}:`;
  const storage = await RedisStorage.connect({ url: URL_, keyPrefix: prefix });
  return {
    storage,
    // Redis owns expiry (PEXPIRE), so time moves for real here: the contract uses 1 s lifetimes.
    advance: (seconds) => new Promise((resolve) => setTimeout(resolve, seconds * 1000 + 50)),
    reopen: async () => {
      await storage.close();
      return RedisStorage.connect({ url: URL_, keyPrefix: prefix });
    },
    dispose: () => removePrefix(prefix),
  };
});

test('keys carry the prefix and Redis-side expiry; the grant set lives as long as its longest member', async () => {
  const prefix = `portcullis-test:${randomBytes(6).toString('hex')}:`;
  const s = await RedisStorage.connect({ url: URL_, keyPrefix: prefix });
  try {
    await s.upsert('AccessToken', 'a', { grantId: 'g' }, { expiresIn: 60, grantId: 'g' });
    await s.upsert('RefreshToken', 'r', { grantId: 'g' }, { expiresIn: 600, grantId: 'g' });
    await s.upsert('AuthorizationCode', 'c', { grantId: 'g' }, { expiresIn: 30, grantId: 'g' });
    const keys = (await s.redis.keys(`${prefix}*`)).sort();
    assert.deepEqual(keys, [
      `${prefix}e:AccessToken:a`,
      `${prefix}e:AuthorizationCode:c`,
      `${prefix}e:RefreshToken:r`,
      `${prefix}g:g`,
    ]);
    const ttl = await s.redis.pttl(`${prefix}e:AccessToken:a`);
    assert.ok(ttl > 55_000 && ttl <= 60_000, `access token ttl ${ttl}`);
    const grantTtl = await s.redis.pttl(`${prefix}g:g`);
    assert.ok(grantTtl > 595_000 && grantTtl <= 600_000, `grant set ttl ${grantTtl}`);
  } finally {
    await s.close();
    await removePrefix(prefix);
  }
});

test('an unreachable Redis fails fast with a message naming it (and no password)', async () => {
  const started = Date.now();
  await assert.rejects(RedisStorage.connect({ url: 'redis://:hunter2@127.0.0.1:1/0' }), (err: Error) => {
    assert.match(err.message, /cannot reach redis at redis:\/\/127\.0\.0\.1:1\/0/);
    assert.doesNotMatch(err.message, /hunter2/);
    return true;
  });
  assert.ok(Date.now() - started < 10_000);
});

test('create is one step: a connection lost right after its first command leaves no entry without expiry', async () => {
  const prefix = `portcullis-test:${randomBytes(6).toString('hex')}:`;
  const s = await RedisStorage.connect({ url: URL_, keyPrefix: prefix });
  const r = new Redis(URL_);
  try {
    // The process "dies" after the first command reaches Redis: every later one fails.
    const send = s.redis.sendCommand.bind(s.redis);
    let sent = 0;
    s.redis.sendCommand = ((command: Parameters<typeof send>[0], ...rest: unknown[]) => {
      if (sent++ === 0) return (send as (...a: unknown[]) => unknown)(command, ...rest);
      command.reject(new Error('connection lost'));
      return command.promise;
    }) as typeof s.redis.sendCommand;
    await s.create('GatewaySessionRefresh', 'k', { owner: 'x' }, { expiresIn: 15 }).catch(() => false);
    const key = `${prefix}e:GatewaySessionRefresh:k`;
    const ttl = await r.pttl(key);
    // -2: no entry at all; otherwise it must expire by itself (-1 would be an immortal lock).
    assert.ok(ttl === -2 || (ttl > 0 && ttl <= 15_000), `entry left with pttl ${ttl}`);
    assert.equal(ttl > 0, sent === 1, 'one command created the entry with its expiry');
  } finally {
    await r.quit();
    s.redis.disconnect();
    await removePrefix(prefix);
  }
});
