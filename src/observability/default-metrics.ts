/**
 * prom-client's default metrics (collectDefaultMetrics: process CPU, memory, descriptors, event-loop lag,
 * handles, heap spaces, Node version, GC), registered from its modules one by one rather than through its
 * index, which loads @opentelemetry/api (for the CPU metric's exemplars), the Pushgateway and the cluster
 * aggregator too: about 5 MB of resident memory for nothing Portcullis uses (docs/scaling.md#memory). The
 * series, names and help texts are prom-client's own; the process CPU counters are written here, as
 * prom-client writes them without exemplars.
 */
import type { Registry } from 'prom-client';
import Counter from 'prom-client/lib/counter.js';
import eventLoopLag from 'prom-client/lib/metrics/eventLoopLag.js';
import gc from 'prom-client/lib/metrics/gc.js';
import heapSizeAndUsed from 'prom-client/lib/metrics/heapSizeAndUsed.js';
import heapSpacesSizeAndUsed from 'prom-client/lib/metrics/heapSpacesSizeAndUsed.js';
import osMemoryHeap from 'prom-client/lib/metrics/osMemoryHeap.js';
import processHandles from 'prom-client/lib/metrics/processHandles.js';
import processMaxFileDescriptors from 'prom-client/lib/metrics/processMaxFileDescriptors.js';
import processOpenFileDescriptors from 'prom-client/lib/metrics/processOpenFileDescriptors.js';
import processRequests from 'prom-client/lib/metrics/processRequests.js';
import processResources from 'prom-client/lib/metrics/processResources.js';
import processStartTime from 'prom-client/lib/metrics/processStartTime.js';
import version from 'prom-client/lib/metrics/version.js';

/** collectDefaultMetrics({ register, prefix }) of prom-client 15, in its order. */
export function registerDefaultMetrics(registry: Registry, prefix: string): void {
  processCpuTotal(registry, prefix);
  // eventLoopMonitoringPrecision: collectDefaultMetrics's default (10 ms).
  const config = { prefix, eventLoopMonitoringPrecision: 10 };
  for (const metric of [
    processStartTime,
    osMemoryHeap,
    processOpenFileDescriptors,
    processMaxFileDescriptors,
    eventLoopLag,
    processResources,
    processHandles,
    processRequests,
    heapSizeAndUsed,
    heapSpacesSizeAndUsed,
    version,
    gc,
  ]) {
    metric(registry, config);
  }
}

/** prom-client's lib/metrics/processCpuTotal.js without exemplars (the part that needs OpenTelemetry). */
function processCpuTotal(registry: Registry, prefix: string): void {
  let last = process.cpuUsage();
  const registers = [registry];
  const user = new Counter({
    name: `${prefix}process_cpu_user_seconds_total`,
    help: 'Total user CPU time spent in seconds.',
    registers,
    // This one metric's collect sets all three, as in prom-client.
    collect() {
      const now = process.cpuUsage();
      const userMicros = now.user - last.user;
      const systemMicros = now.system - last.system;
      last = now;
      user.inc(userMicros / 1e6);
      system.inc(systemMicros / 1e6);
      total.inc((userMicros + systemMicros) / 1e6);
    },
  });
  const system = new Counter({
    name: `${prefix}process_cpu_system_seconds_total`,
    help: 'Total system CPU time spent in seconds.',
    registers,
  });
  const total = new Counter({
    name: `${prefix}process_cpu_seconds_total`,
    help: 'Total user and system CPU time spent in seconds.',
    registers,
  });
}
