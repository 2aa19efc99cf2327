/** Hop-by-hop headers on the way back (src/proxy/forward.ts responseHeaders) and the Connection reader. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { responseHeaders } from '../../src/proxy/forward.ts';
import { connectionNames, hopByHop } from '../../src/proxy/headers.ts';

test('the upstream answer loses its hop-by-hop lines and those its Connection lines name, in any case', () => {
  const raw = [
    'Content-Type',
    'text/html',
    'Connection',
    'keep-alive, X-Up-Secret',
    'X-Up-Secret',
    '1',
    'Keep-Alive',
    'timeout=5',
    'TRANSFER-ENCODING',
    'chunked',
    'connection',
    'X-Other',
    'x-other',
    '2',
    'Proxy-Authenticate',
    'Basic',
    'Upgrade',
    'h2c',
    'Trailer',
    'X-T',
    'Set-Cookie',
    'a=1',
    'X-Kept',
    'yes',
  ];
  assert.deepEqual(responseHeaders(raw, ['b=2']), [
    'Content-Type',
    'text/html',
    'Set-Cookie',
    'a=1',
    'X-Kept',
    'yes',
    'Set-Cookie',
    'b=2',
  ]);
  // The usual answer: Connection: keep-alive names nothing, every other line is kept as spelled.
  assert.deepEqual(
    responseHeaders(['Date', 'x', 'Connection', 'Keep-Alive', 'Content-Length', '3', 'ETag', '"e"'], []),
    ['Date', 'x', 'Content-Length', '3', 'ETag', '"e"'],
  );
});

test('hopByHop names the hop-by-hop headers only, whatever their case', () => {
  for (const n of [
    'Connection',
    'keep-alive',
    'PROXY-CONNECTION',
    'TE',
    'Trailer',
    'Transfer-Encoding',
    'Upgrade',
  ])
    assert.equal(hopByHop(n), n.toLowerCase(), n);
  for (const n of ['Content-Length', 'Cookie', 'Host', 'X-Connection', 'Connections', 'tE2', ''])
    assert.equal(hopByHop(n), undefined, n);
});

test('connectionNames: keep-alive and close are options, every other token a name', () => {
  assert.equal(connectionNames('keep-alive', undefined), undefined);
  assert.equal(connectionNames('Close', undefined), undefined);
  assert.deepEqual(connectionNames('Keep-Alive, X-A', undefined), ['x-a']);
  assert.deepEqual(connectionNames(' X-B ,, close', ['x-a']), ['x-a', 'x-b']);
  assert.deepEqual(connectionNames('upgrade', undefined), ['upgrade']);
});
