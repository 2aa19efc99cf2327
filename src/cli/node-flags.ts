/**
 * Node settings for `portcullis serve` (docs/scaling.md#memory). V8 sizes the young generation from the
 * machine's memory, up to 64 MB per semi-space on a large host, and a busy gateway grows it all the way:
 * 128 MB of the 250 MB measured under load. 8 MB per semi-space kept the CPU per request within the noise
 * of bench/memory.ts and the RSS under load near 130 MB. glibc's malloc arenas (up to 8 per core, one per
 * thread that allocates) are capped at 2. Both can only be set when Node starts, so `serve` starts Node again
 * in its own place with them (process.execve: same PID, same stdio) before it loads anything else.
 *
 * The operator's choice wins: a --max-semi-space-size in NODE_OPTIONS or on the node command line (0 is
 * V8's own default), or MALLOC_ARENA_MAX in the environment, is left as it is. A process with an IPC
 * channel to its parent is not restarted (the channel would be lost): it runs with what it was given.
 */
import { setFlagsFromString } from 'node:v8';

const SEMI_SPACE = '--max-semi-space-size=8';

/** The flags the operator gave Node: on its command line and in NODE_OPTIONS. */
function ownFlags(): string {
  return `${process.execArgv.join(' ')} ${process.env['NODE_OPTIONS'] ?? ''}`;
}

/** Starts Node again with the memory settings unless they are set; returns when it does not. */
export function restartWithMemorySettings(): void {
  if (typeof process.execve !== 'function' || ownFlags().includes('--max-semi-space-size')) return;
  // An IPC channel to a parent (a cluster worker, a process manager's fork) would not survive the exec.
  if (process.send !== undefined) return;
  const env = { ...process.env };
  env['MALLOC_ARENA_MAX'] ??= '2';
  const script = process.argv[1];
  if (script === undefined) return;
  try {
    process.execve(
      process.execPath,
      [process.execPath, ...process.execArgv, SEMI_SPACE, script, ...process.argv.slice(2)],
      env,
    );
  } catch {
    // Not allowed here (a sandbox without execve): run with Node's defaults.
  }
}

/**
 * Start-up (the modules, the schema, the configuration) allocates much that lives on: V8 took that as a
 * reason to grow the young generation to its limit before the first request, 10–20 MB of idle RSS that
 * varied from one start to the next. Held at its first size until `started` settles, then V8's default
 * growth (a busy gateway's young generation grows up to the limit). An operator's own
 * --semi-space-growth-factor is left alone.
 */
export async function holdYoungGeneration<T>(started: () => Promise<T>): Promise<T> {
  const hold = !ownFlags().includes('--semi-space-growth-factor');
  if (hold) setFlagsFromString('--semi-space-growth-factor=1');
  try {
    return await started();
  } finally {
    if (hold) setFlagsFromString('--semi-space-growth-factor=2');
  }
}
