/**
 * A hard limit per test file, preloaded into every file's process by `npm run test:unit`
 * (`node --test --import ./test/support/watchdog.ts`).
 *
 * Why: node's runner ends a file when its process exits, and the process exits only when its event loop is
 * empty. One server left listening (a `before` that failed half-way, a close at the end of a test body that
 * a failed assertion skipped) keeps it alive forever; `--test-timeout` bounds each test, not the file, so
 * the whole run waits at 0% CPU (seen: test/login/multi-provider.test.ts, 13 minutes, 13 tests cancelled).
 * `--test-force-exit` would end such a file silently and hide the leak; this fails it instead and says
 * what was left open:
 *
 * - the file's process still alive EXIT_GRACE after its tests ended (its root `after` hooks started):
 *   something it started was not released;
 * - the file still running after FILE_LIMIT: a hang.
 *
 * Both timers are unref'd, so they never keep a healthy process alive themselves.
 */
import { after } from 'node:test';

const FILE_LIMIT_MS = Number(process.env['PORTCULLIS_TEST_FILE_TIMEOUT_MS'] ?? 10 * 60_000);
const EXIT_GRACE_MS = Number(process.env['PORTCULLIS_TEST_EXIT_GRACE_MS'] ?? 20_000);

/** The handles keeping the loop alive, with their addresses (a listening port names its server). */
function openHandles(): string[] {
  const report = process.report.getReport() as unknown as {
    libuv: {
      type: string;
      is_active: boolean;
      is_referenced?: boolean;
      localEndpoint?: unknown;
      remoteEndpoint?: unknown;
    }[];
  };
  return report.libuv
    .filter((h) => h.is_active && h.is_referenced !== false && h.type !== 'loop')
    .map((h) => {
      const at = (e: unknown) =>
        e && typeof e === 'object' && 'host' in e && 'port' in e ? `${String(e.host)}:${String(e.port)}` : '';
      const local = at(h.localEndpoint);
      const remote = at(h.remoteEndpoint);
      return `${h.type}${local ? ` ${local}` : ''}${remote ? ` -> ${remote}` : ''}`;
    });
}

function fail(why: string): never {
  const file = process.argv[1] ?? 'this test file';
  const handles = openHandles();
  process.stderr.write(
    `\n✖ ${file}: ${why}\n  still open: ${handles.length > 0 ? handles.join(', ') : 'nothing listed (a pending promise?)'}\n` +
      '  Close what the file starts in after()/t.after() hooks registered right after it starts ' +
      '(test/support/cleanup.ts).\n',
  );
  process.exit(1);
}

// Only inside the runner's per-file process (the parent runs every file; it must not be cut off).
if (process.env['NODE_TEST_CONTEXT'] !== undefined) {
  setTimeout(
    () => fail(`still running after ${FILE_LIMIT_MS / 1000} s (PORTCULLIS_TEST_FILE_TIMEOUT_MS): a hang`),
    FILE_LIMIT_MS,
  ).unref();
  // Registered first, so it runs first of the file's root `after` hooks: the grace covers their closes.
  after(() => {
    setTimeout(
      () =>
        fail(
          `tests ended ${EXIT_GRACE_MS / 1000} s ago but the process did not exit (PORTCULLIS_TEST_EXIT_GRACE_MS): something was left open`,
        ),
      EXIT_GRACE_MS,
    ).unref();
  });
}
