/**
 * FastHistogram (the upstream latency on the hot path) is exported exactly as prom-client's own Histogram
 * would export the same observations; the request counter counts in plain numbers and adds them to
 * prom-client's counter when scraped, once.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Histogram, Registry } from 'prom-client';
import { FastHistogram } from '../../src/observability/histogram.ts';
import { Metrics } from '../../src/observability/metrics.ts';

const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.1, 1];
// On a bound (counted in that bucket, le is "less or equal"), between bounds, above all, and 0.
const OBSERVED: [string, number][] = [
  ['app', 0.001],
  ['app', 0.0011],
  ['app', 0.004],
  ['app', 0.005],
  ['app', 2.5],
  ['app', 0],
  ['api', 0.05],
  ['api', 1],
];

test('FastHistogram exports what prom-client’s Histogram exports for the same observations', async () => {
  const theirs = new Registry();
  const h = new Histogram({
    name: 'x_seconds',
    help: 'h',
    labelNames: ['upstream'],
    buckets: BUCKETS,
    registers: [theirs],
  });
  const ours = new Registry();
  const f = new FastHistogram({
    name: 'x_seconds',
    help: 'h',
    label: 'upstream',
    buckets: BUCKETS,
    registry: ours,
  });
  for (const [u, v] of OBSERVED) {
    h.labels(u).observe(v);
    f.observe(u, v);
  }
  const expected = await theirs.metrics();
  assert.match(expected, /x_seconds_bucket\{le="0.001",upstream="app"\} 2/);
  assert.equal(await ours.metrics(), expected);
  f.reset();
  h.reset();
  assert.equal(await ours.metrics(), await theirs.metrics());
});

test('requests are counted once each, however often /metrics is read', async () => {
  const m = new Metrics({ defaultMetrics: false });
  const count = async () => {
    const text = await m.registry.metrics();
    const line = text
      .split('\n')
      .find((l) => l.startsWith('portcullis_http_requests_total{class="proxy",status="200"} '));
    return Number(line?.split(' ')[1] ?? 0);
  };
  assert.equal(await count(), 0);
  for (let i = 0; i < 5; i++) m.request('proxy', 200);
  m.request('auth', 401);
  assert.equal(await count(), 5);
  assert.equal(await count(), 5);
  m.request('proxy', 200);
  assert.equal(await count(), 6);
  assert.match(await m.registry.metrics(), /portcullis_http_requests_total\{class="auth",status="401"\} 1/);
});
