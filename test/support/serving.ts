/** Waiting for a spawned `portcullis serve` to answer, for tests that start the real command. */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';

/** Resolves once `base`/ping answers 200; fails if the process exits first or after 15 s. */
export async function untilServing(child: ChildProcess, base: string): Promise<void> {
  for (let i = 0; ; i++) {
    assert.equal(child.exitCode, null, 'serve exited during start-up');
    const up = await fetch(`${base}/ping`).then(
      (r) => r.ok,
      () => false,
    );
    if (up) return;
    assert.ok(i < 300, 'serve did not answer /ping within 15 s');
    await new Promise((r) => setTimeout(r, 50));
  }
}
