/** Sign out everywhere at the issuer: an account's grants are indexed and revoked with their tokens. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { accountGrants, revokeAccountGrants } from '../../src/issuer/account-grants.ts';
import { accountIdFor } from '../../src/issuer/accounts.ts';
import { StorageAdapter } from '../../src/issuer/adapter.ts';
import { MemoryStorage } from '../../src/storage/memory.ts';
import { RedisStorage } from '../../src/storage/redis.ts';
import type { Storage } from '../../src/storage/storage.ts';

const REDIS_URL = process.env['PORTCULLIS_TEST_REDIS'] ?? 'redis://127.0.0.1:6379/0';

async function scenario(storage: Storage): Promise<void> {
  const carol = { provider: 'test', sub: 'carol' };
  const grants = new StorageAdapter('Grant', storage);
  const tokens = new StorageAdapter('AccessToken', storage);
  const refresh = new StorageAdapter('RefreshToken', storage);
  const mine = accountIdFor('test', 'carol');
  const theirs = accountIdFor('test', 'alice');
  await grants.upsert('g1', { jti: 'g1', accountId: mine, clientId: 'grafana' }, 3600);
  await grants.upsert('g2', { jti: 'g2', accountId: mine, clientId: 'argo' }, 3600);
  await grants.upsert('g3', { jti: 'g3', accountId: theirs, clientId: 'grafana' }, 3600);
  await tokens.upsert('at1', { grantId: 'g1', accountId: mine }, 600);
  await refresh.upsert('rt2', { grantId: 'g2', accountId: mine }, 3600);
  await tokens.upsert('at3', { grantId: 'g3', accountId: theirs }, 600);
  assert.deepEqual((await accountGrants(storage, carol)).map((g) => g.clientId).sort(), ['argo', 'grafana']);
  assert.equal(await revokeAccountGrants(storage, carol), 2);
  for (const [a, id] of [
    [grants, 'g1'],
    [grants, 'g2'],
    [tokens, 'at1'],
    [refresh, 'rt2'],
  ] as const)
    assert.equal(await a.find(id), undefined, `${a.name} ${id} survived`);
  assert.ok(await grants.find('g3'), 'another account keeps its grant');
  assert.ok(await tokens.find('at3'));
  assert.deepEqual(await accountGrants(storage, carol), []);
}

test('an account’s grants, their codes and tokens go together; other accounts keep theirs (memory)', async () => {
  await scenario(new MemoryStorage());
});

test('the same on Redis', async () => {
  const prefix = `portcullis-test:${randomBytes(6).toString('hex')}:`;
  const s = await RedisStorage.connect({ url: REDIS_URL, keyPrefix: prefix });
  try {
    await scenario(s);
  } finally {
    const keys = await s.redis.keys(`${prefix}*`);
    if (keys.length > 0) await s.redis.del(...keys);
    await s.close();
  }
});
