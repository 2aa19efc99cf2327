/** Starting and stopping a spawned `portcullis serve`, for tests that run the real command. */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';

/** What the child wrote on stderr so far (spawn it with stdio[2] 'pipe'), for failure messages. */
export function stderrOf(child: ChildProcess): () => string {
  let text = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (c: string) => {
    if (text.length < 20_000) text += c;
  });
  return () => text;
}

/**
 * Resolves once `base`/ping answers 200; fails (with the child's stderr, when piped) if the process exits
 * first or after 15 s. Each probe has its own time limit, so a server that accepts but never answers
 * cannot hold the test until its own timeout.
 */
export async function untilServing(child: ChildProcess, base: string, output = () => ''): Promise<void> {
  for (let i = 0; ; i++) {
    assert.ok(
      child.exitCode === null && child.signalCode === null,
      `serve exited during start-up (${child.exitCode ?? child.signalCode}): ${output()}`,
    );
    const up = await fetch(`${base}/ping`, { signal: AbortSignal.timeout(2_000) }).then(
      (r) => r.ok,
      () => false,
    );
    if (up) return;
    assert.ok(i < 300, `serve did not answer /ping within 15 s: ${output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Stops the child with SIGINT and waits for it; at once if it has already exited. */
export async function stopServe(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGINT');
  await exited;
}
