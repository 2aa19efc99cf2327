/** Resolving a Redis connection: which shape the fields name, the checks across fields, the client built. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Cluster, Redis } from 'ioredis';
import { resolveRedis } from '../../src/config/redis.ts';
import { redisClient } from '../../src/storage/redis.ts';

const files: Record<string, string> = { '/ca.pem': 'CA', '/c.pem': 'CERT', '/k.pem': 'KEY', '/sp': 'spw\n' };
function resolve(fields: Record<string, unknown>, password?: string) {
  const problems: string[] = [];
  const c = resolveRedis('storage', 'type redis', fields, password, problems, (f) => files[f]);
  return { c, problems };
}

test('each shape from its fields: url, sentinels + master name, cluster', () => {
  assert.deepEqual(resolve({ url: 'redis://r:6379/0' }).c?.shape, {
    kind: 'standalone',
    url: 'redis://r:6379/0',
  });
  const s = resolve({
    sentinels: ['s0:26379', '[::1]:26380'],
    sentinelMasterName: 'mymaster',
    sentinelPasswordFile: '/sp',
    username: 'pc',
  });
  assert.deepEqual(s.problems, []);
  assert.deepEqual(s.c?.shape, {
    kind: 'sentinel',
    sentinels: [
      { host: 's0', port: 26379 },
      { host: '::1', port: 26380 },
    ],
    masterName: 'mymaster',
    sentinelUsername: undefined,
    sentinelPassword: 'spw',
  });
  assert.equal(s.c?.username, 'pc');
  assert.deepEqual(resolve({ cluster: ['r0:6379'] }).c?.shape, {
    kind: 'cluster',
    nodes: [{ host: 'r0', port: 6379 }],
  });
});

test('every problem at once: no shape, two shapes, a master name missing, sentinel fields without sentinels, half a client certificate', () => {
  assert.match(resolve({}).problems[0]!, /^storage\.url: type redis needs a URL/);
  assert.deepEqual(resolve({ url: 'redis://r', cluster: ['r0:6379'] }).problems, [
    'storage: set one of url, sentinels or cluster, not url and cluster (each names a different redis shape)',
  ]);
  assert.match(resolve({ sentinels: ['s:1'] }).problems[0]!, /^storage\.sentinelMasterName: Sentinel needs/);
  assert.match(
    resolve({ url: 'redis://r', sentinelMasterName: 'm' }).problems[0]!,
    /^storage\.sentinelMasterName: only used with sentinels/,
  );
  assert.deepEqual(resolve({ url: 'redis://r', tls: { certFile: '/c.pem' } }).problems, [
    'storage.tls: a client certificate needs both certFile and keyFile',
  ]);
});

test('the client for each shape carries the ACL user, password and TLS (sentinels too)', () => {
  const tls = { caFile: '/ca.pem', certFile: '/c.pem', keyFile: '/k.pem', serverName: 'redis.internal' };
  const sentinel = resolve({ sentinels: ['s:26379'], sentinelMasterName: 'm', username: 'u', tls }, 'pw').c!;
  const r = redisClient(sentinel) as Redis;
  assert.ok(r instanceof Redis);
  assert.equal(r.options.username, 'u');
  assert.equal(r.options.password, 'pw');
  assert.deepEqual(r.options.tls, { ca: 'CA', cert: 'CERT', key: 'KEY', servername: 'redis.internal' });
  assert.equal(r.options.enableTLSForSentinelMode, true);
  assert.equal(r.options.name, 'm');
  r.disconnect();
  const c = redisClient(resolve({ cluster: ['r0:6379'], username: 'u', tls: {} }, 'pw').c!) as Cluster;
  assert.ok(c instanceof Cluster);
  assert.equal(c.options.redisOptions?.username, 'u');
  assert.deepEqual(c.options.redisOptions?.tls, {});
  c.disconnect();
});
