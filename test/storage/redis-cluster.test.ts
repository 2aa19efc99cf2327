/** Storage and server-side sessions on a six-node Redis Cluster (three primaries, three replicas). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { layoutPrefix } from '../../src/storage/redis.ts';
import { closeAfter } from '../support/cleanup.ts';
import { startCluster } from '../support/redis-shapes.ts';
import { shapeSuites } from './shape-suites.ts';

const parts = closeAfter();
shapeSuites('cluster', startCluster, parts);

test('on a Cluster the prefix becomes the hash tag, unless it already holds one', () => {
  assert.equal(layoutPrefix('portcullis:', true), '{portcullis:}');
  assert.equal(layoutPrefix('{platform-a}:', true), '{platform-a}:');
  assert.equal(layoutPrefix('a{}b:', true), '{a{}b:}');
  assert.equal(layoutPrefix('portcullis:', false), 'portcullis:');
});
