/** The session store contract (test/sessions/store-contract.ts) for every store and storage adapter. */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { CookieSessionStore, cookieNames } from '../../src/sessions/cookie-store.ts';
import { Sealer } from '../../src/sessions/sealer.ts';
import { ServerSessionStore } from '../../src/sessions/server-store.ts';
import { MemoryStorage } from '../../src/storage/memory.ts';
import { RedisStorage } from '../../src/storage/redis.ts';
import { SqliteStorage } from '../../src/storage/sqlite.ts';
import type { Storage } from '../../src/storage/storage.ts';
import { sessionStoreContract } from './store-contract.ts';

const REDIS_URL = process.env['PORTCULLIS_TEST_REDIS'] ?? 'redis://127.0.0.1:6379/0';
const names = cookieNames('portcullis', false, undefined);

sessionStoreContract('cookie', {
  open: (secrets) => new CookieSessionStore(new Sealer(secrets), names, { secure: false }),
});

function serverFixture(
  type: 'redis' | 'storage',
  storage: () => Promise<Storage>,
  cleanup?: () => Promise<void>,
) {
  let shared: Promise<Storage> | undefined;
  return {
    serverSide: true,
    async open(secrets: readonly Buffer[], o: { lockSeconds?: number } = {}) {
      shared ??= storage();
      return new ServerSessionStore({
        storage: await shared,
        type,
        cookieKeys: secrets,
        names,
        cookieOptions: { secure: false },
        ownsStorage: false,
        ...o,
      });
    },
    async dispose() {
      await (await shared)?.close();
      await cleanup?.();
    },
  };
}

sessionStoreContract(
  'server on memory storage',
  serverFixture('storage', async () => new MemoryStorage()),
);
sessionStoreContract(
  'server on sqlite storage',
  serverFixture('storage', async () => new SqliteStorage({ file: ':memory:' })),
);
const prefix = `portcullis-test:${randomBytes(6).toString('hex')}:`;
sessionStoreContract(
  'server on redis',
  serverFixture(
    'redis',
    () => RedisStorage.connect({ url: REDIS_URL, keyPrefix: prefix }),
    async () => {
      const r = new Redis(REDIS_URL);
      const keys = await r.keys(`${prefix}*`);
      if (keys.length > 0) await r.del(...keys);
      await r.quit();
    },
  ),
);
