/** The soak's own arithmetic (bench/chaos/soak.ts): durations it accepts and the trend it computes. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseDuration, slope } from '../../bench/chaos/soak.ts';

test('--soak and --window take 90s, 10m, 1h, 1500ms or seconds', () => {
  assert.equal(parseDuration('90s', '--soak'), 90_000);
  assert.equal(parseDuration('10m', '--soak'), 600_000);
  assert.equal(parseDuration('1h', '--soak'), 3_600_000);
  assert.equal(parseDuration('1500ms', '--soak'), 1_500);
  assert.equal(parseDuration('45', '--window'), 45_000);
  assert.throws(
    () => parseDuration('10 minutes', '--soak'),
    /--soak "10 minutes" is not a duration: write 90s, 10m or 1h/,
  );
  assert.throws(() => parseDuration('-1m', '--soak'), /not a duration/);
});

test('slope is the least-squares trend, zero for a flat or too short series', () => {
  assert.equal(slope([0, 1, 2, 3], [10, 12, 14, 16]), 2);
  assert.equal(slope([0, 1, 2, 3], [5, 5, 5, 5]), 0);
  assert.equal(slope([1], [7]), 0);
  // a saw-tooth around a level has no trend to speak of
  assert.ok(Math.abs(slope([0, 1, 2, 3, 4, 5], [10, 20, 10, 20, 10, 20])) < 2);
});
