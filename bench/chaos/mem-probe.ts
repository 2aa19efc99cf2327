/**
 * Loaded into each instance by the soak (`node --import ./bench/chaos/mem-probe.ts src/cli/main.ts serve`),
 * never by Portcullis itself: every PROBE_EVERY_MS it appends one JSON line to $SOAK_PROBE_FILE with
 * what /proc's RSS is made of (process.memoryUsage(), V8's young and old spaces) and what the garbage
 * collector did since the last line. `liveMb` is the heap in use right after the last full (mark-compact)
 * collection (at `liveAt`): the memory the program actually holds. A leak makes it climb; V8 sizing its heap to the load
 * grows heapTotal and RSS while it stays level.
 *
 * Builtins only, a few hundred bytes a line, one line every 5 s: it does not move the figures it reports.
 */
import { appendFileSync } from 'node:fs';
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics } from 'node:v8';

const file = process.env['SOAK_PROBE_FILE'];
const PROBE_EVERY_MS = 5_000;
const mb = (n: number) => Math.round((n / 1048576) * 10) / 10;

if (file !== undefined) {
  let liveMb = Number.NaN;
  let liveAt = 0;
  let gc = { minor: 0, major: 0, pauseMs: 0 };
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = (e as { detail?: { kind?: number } }).detail?.kind;
      gc.pauseMs += e.duration;
      if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) {
        gc.major++;
        // The observer runs just after the collection: nothing much has been allocated since.
        liveMb = mb(process.memoryUsage().heapUsed);
        liveAt = Date.now();
      } else gc.minor++;
    }
  }).observe({ entryTypes: ['gc'] });
  setInterval(() => {
    const m = process.memoryUsage();
    const spaces = Object.fromEntries(getHeapSpaceStatistics().map((s) => [s.space_name, s]));
    const line = {
      t: Date.now(),
      rssMb: mb(m.rss),
      heapTotalMb: mb(m.heapTotal),
      heapUsedMb: mb(m.heapUsed),
      liveMb,
      liveAt,
      externalMb: mb(m.external),
      arrayBuffersMb: mb(m.arrayBuffers),
      newSpaceMb: mb(spaces['new_space']?.space_size ?? 0),
      oldSpaceMb: mb(spaces['old_space']?.space_size ?? 0),
      codeSpaceMb: mb(spaces['code_space']?.space_size ?? 0),
      largeObjectMb: mb(spaces['large_object_space']?.space_size ?? 0),
      gc: { ...gc, pauseMs: Math.round(gc.pauseMs) },
    };
    gc = { minor: 0, major: 0, pauseMs: 0 };
    appendFileSync(file, `${JSON.stringify(line)}\n`);
  }, PROBE_EVERY_MS).unref();
}
