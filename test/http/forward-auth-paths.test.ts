/** forwardAuthPaths (src/http/forbidden.ts): the path headers found in any case, in one pass, read in order. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { forwardAuthPaths } from '../../src/http/forbidden.ts';
import type { Scope } from '../../src/http/scope.ts';

const scope = (rawHeaders: string[]) => ({ req: { rawHeaders } }) as unknown as Scope;

test('the path headers are found in any case; look-alikes are not read', () => {
  assert.deepEqual(forwardAuthPaths(scope(['x-FORWARDED-uri', '/a', 'X-Forwarded-For', '/x'])), {
    paths: ['/a'],
  });
  assert.deepEqual(forwardAuthPaths(scope(['X-ORIGINAL-URI', '/b', 'X-Original-Urx', '/x'])), {
    paths: ['/b'],
  });
  assert.deepEqual(
    forwardAuthPaths(scope(['x-original-url', 'https://h.example/c', 'X-Forwarded-Prefiy', '/y'])),
    {
      paths: ['/c'],
    },
  );
  assert.deepEqual(forwardAuthPaths(scope(['Host', 'h', 'Cookie', 'c=1'])), { paths: [] });
  // Every header's paths, once each, in the order Uri, URI, URL; the prefix joined to X-Forwarded-Uri.
  assert.deepEqual(
    forwardAuthPaths(
      scope([
        'X-Original-URL',
        'http://h/a',
        'X-Forwarded-Prefix',
        '/p/',
        'X-Original-URI',
        '/a',
        'X-Forwarded-Uri',
        '/u',
      ]),
    ),
    { paths: ['/u', '/p/u', '/a'] },
  );
});

test('a repeated header is bad whatever the case of its lines; the first bad header in order is named', () => {
  assert.deepEqual(forwardAuthPaths(scope(['X-Original-URI', '/a', 'x-original-uri', '/b'])), {
    bad: 'X-Original-URI',
  });
  assert.deepEqual(forwardAuthPaths(scope(['x-forwarded-prefix', '/a', 'X-Forwarded-Prefix', '/b'])), {
    bad: 'X-Forwarded-Prefix',
  });
  // X-Forwarded-Uri is read before X-Original-URI is looked at.
  assert.deepEqual(
    forwardAuthPaths(scope(['X-Original-URI', '/a', 'X-Original-URI', '/b', 'X-Forwarded-Uri', '/x/../y'])),
    { bad: 'X-Forwarded-Uri', why: 'dot-segment' },
  );
  assert.deepEqual(forwardAuthPaths(scope(['X-Forwarded-Prefix', 'p', 'X-Forwarded-Uri', '/x'])), {
    bad: 'X-Forwarded-Prefix',
    why: 'not-a-path',
  });
});

test('Envoy paths come first, each once', () => {
  assert.deepEqual(forwardAuthPaths(scope(['X-Forwarded-Uri', '/e']), ['/e', '/f', '/e']), {
    paths: ['/e', '/f'],
  });
});
