// prom-client's modules one by one (issue 14, memory): its index also loads the Pushgateway (node:https),
// the cluster aggregator, Summary (tdigest) and, through the default process CPU metric, @opentelemetry/api
// (51 modules) for exemplars Portcullis does not use. These are the modules the index itself re-exports
// (prom-client has no `exports` map, so the paths are reachable); their types are prom-client's own.
declare module 'prom-client/lib/registry.js' {
  import type { Registry } from 'prom-client';

  const RegistryClass: typeof Registry;
  export default RegistryClass;
}

declare module 'prom-client/lib/counter.js' {
  import type { Counter } from 'prom-client';

  const CounterClass: typeof Counter;
  export default CounterClass;
}

declare module 'prom-client/lib/gauge.js' {
  import type { Gauge } from 'prom-client';

  const GaugeClass: typeof Gauge;
  export default GaugeClass;
}

declare module 'prom-client/lib/histogram.js' {
  import type { Histogram } from 'prom-client';

  const HistogramClass: typeof Histogram;
  export default HistogramClass;
}

/** One of prom-client's default metrics (lib/metrics/*.js): registers its series on the registry. */
declare module 'prom-client/lib/metrics/*' {
  import type { Registry } from 'prom-client';

  const register: (
    registry: Registry,
    config: { prefix?: string; eventLoopMonitoringPrecision?: number },
  ) => void;
  export default register;
}
