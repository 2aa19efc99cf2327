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
/** The optimizing compilers off from the first line (holdDuringStartUp turns them on once serve listens). */
const NO_COMPILERS = ['--no-maglev', '--no-turbofan'];
/** The flags that, given by the operator, leave V8's compilers to them. */
const COMPILER_FLAGS = ['opt', 'turbofan', 'maglev', 'jitless', 'max-opt'];

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
  // Held from the first line of the new process: even resolving the CLI's own modules had Maglev compile
  // node:path's helpers (1.8 MB of idle RSS). Last on the command line, where holdDuringStartUp knows them.
  const held = operatorSet(...COMPILER_FLAGS) ? [] : NO_COMPILERS;
  try {
    process.execve(
      process.execPath,
      [process.execPath, ...process.execArgv, SEMI_SPACE, ...held, script, ...process.argv.slice(2)],
      env,
    );
  } catch {
    // Not allowed here (a sandbox without execve): run with Node's defaults.
  }
}

/** Whether the restart above turned the compilers off (the command line ends with its flags). */
function compilersHeldByRestart(): boolean {
  const tail = process.execArgv.slice(-NO_COMPILERS.length - 1);
  return tail.join(' ') === [SEMI_SPACE, ...NO_COMPILERS].join(' ');
}

/** Whether the operator named one of `names` (`--x`, `--no-x`, `--x=…`; `_` and `-` alike) among Node's flags. */
function operatorSet(...names: string[]): boolean {
  const flags = ownFlags().replaceAll('_', '-');
  return names.some((n) => new RegExp(`(?:^|\\s)--(?:no-)?${n}(?:[=\\s]|$)`).test(flags));
}

/**
 * Held while `started` runs (the modules, the schema, the configuration, the listeners), then V8's own
 * behaviour again:
 *
 * - The young generation. Start-up allocates much that lives on: V8 took that as a reason to grow the
 *   young generation to its limit before the first request, 10–20 MB of idle RSS that varied from one start
 *   to the next. Held at its first size (a busy gateway's young generation then grows up to the limit).
 * - The optimizing compilers (Maglev, TurboFan). Start-up runs some functions often enough (the schema's
 *   parsers, YAML's lexer) for V8 to optimize them, code never run again; the compilers' own machine code,
 *   paged in from the node binary, and their output held 8–9 MB of the idle RSS. Held, start-up runs in
 *   the interpreter and the baseline compiler; the functions that requests run hot are optimized as usual
 *   once it is done (bench/results/2026-12-05-memory.md, stop 10).
 *
 * When restartWithMemorySettings started Node with the compilers off, they are turned on here. An
 * operator's own --semi-space-growth-factor, or any of --opt, --turbofan, --maglev, --jitless (with or
 * without `no-`), is left alone.
 */
export async function holdDuringStartUp<T>(started: () => Promise<T>): Promise<T> {
  const young = !operatorSet('semi-space-growth-factor');
  const compilers = compilersHeldByRestart() || !operatorSet(...COMPILER_FLAGS);
  if (young) setFlagsFromString('--semi-space-growth-factor=1');
  if (compilers) for (const f of ['--no-maglev', '--no-turbofan']) setFlagsFromString(f);
  try {
    return await started();
  } finally {
    if (young) setFlagsFromString('--semi-space-growth-factor=2');
    if (compilers) for (const f of ['--maglev', '--turbofan']) setFlagsFromString(f);
  }
}
