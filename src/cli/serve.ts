/**
 * `portcullis serve`: run the gateway. Reloads on SIGHUP and when the configuration file or a secret
 * file changes: a valid new configuration takes effect without dropping connections; an invalid one is
 * logged and the running one stays. SIGTERM drains (docs/endpoints.md#graceful-shutdown): /ready turns
 * 503, the listener closes after server.shutdownDelay, requests in flight and WebSocket tunnels get
 * server.drainTimeout, then the process exits 0. SIGINT (Ctrl-C at a terminal) drains without the delay.
 *
 * With server.workers > 1 this process is the primary (src/server/primary.ts): it validates the
 * configuration, forks the workers, watches the files and relays reloads and shutdown to them; each
 * worker runs this same command (node:cluster forks it with the same arguments) and takes the worker
 * path below: the gateway without file watching or a metrics listener, steered by the primary.
 */
import cluster from 'node:cluster';
import { unwatchFile, watchFile } from 'node:fs';
import { ConfigError } from '../config/errors.ts';
import { type LoadedConfig, type LoadOptions, loadConfig } from '../config/load.ts';
import { workerCount, workerProblems } from '../config/workers.ts';
import { type Logger, openLogger } from '../observability/log.ts';
import { Metrics } from '../observability/metrics.ts';
import { isMessage, type ToWorker } from '../server/ipc.ts';
import { startGateway } from '../server/start.ts';

export interface Serving {
  /** Graceful shutdown for a signal: SIGTERM waits server.shutdownDelay first, SIGINT does not. */
  shutdown(signal: NodeJS.Signals): Promise<void>;
  close(): Promise<void>;
}

export async function serve(load: LoadOptions): Promise<Serving> {
  if (cluster.isWorker) return serveWorker(load);
  const loaded = loadConfig(load);
  const { config } = loaded;
  const count = workerCount(config.server.workers);
  const log = await openLogger(config.logging.level, config.logging.format);
  // Unknown PORTCULLIS_ variables and the like: Portcullis runs, but the operator should know.
  for (const w of loaded.warnings) log.warn({ event: 'config.warning' }, w);
  if (count > 1) return servePrimary(load, loaded, log.child({ role: 'primary' }), count);
  const gw = await startGateway(config, log);
  log.info(
    { url: gw.url, publicUrl: config.public.href, providers: config.providers.map((p) => p.id) },
    'portcullis listening',
  );
  const watcher = watchConfig(load, loaded.files, log, (next, why) => {
    workersChanged(gw.ctx.config.server.workers, next, log);
    gw.reload(next.config);
    log.info({ event: 'config.reload', why }, 'configuration reloaded');
  });
  return {
    async shutdown(signal) {
      watcher.stop();
      await gw.drain({ delay: signal === 'SIGTERM' });
    },
    async close() {
      watcher.stop();
      await gw.close();
    },
  };
}

/** The primary: validates and watches, the workers serve (src/server/primary.ts). */
async function servePrimary(load: LoadOptions, loaded: LoadedConfig, log: Logger, count: number) {
  const { config } = loaded;
  // Loaded only here: its aggregation takes prom-client's index (with @opentelemetry/api, the Pushgateway),
  // 80 modules a single process does not need (bench/results/2026-12-05-memory.md, stop 10).
  const { startWorkers } = await import('../server/primary.ts');
  const group = await startWorkers(config, log, count, {
    check: () => {
      try {
        const next = loadConfig(load).config;
        return workerProblems({ ...next, server: { ...next.server, workers: count } });
      } catch (err) {
        return err instanceof ConfigError ? err.problems : [String(err)];
      }
    },
    onCrashLoop: (code) => process.exit(code),
  });
  log.info(
    {
      url: group.url,
      publicUrl: config.public.href,
      providers: config.providers.map((p) => p.id),
      workers: count,
      metricsUrl: group.metricsUrl,
    },
    'portcullis listening',
  );
  const watcher = watchConfig(load, loaded.files, log, async (next, why) => {
    // Checked against the workers running, whatever the new file says (a change of count needs a restart).
    const problems = workerProblems({ ...next.config, server: { ...next.config.server, workers: count } });
    if (problems.length > 0) throw new ConfigError(problems);
    workersChanged(config.server.workers, next, log);
    const { applied, of } = await group.reload(why);
    if (applied === of) log.info({ event: 'config.reload', why, workers: of }, 'configuration reloaded');
    else
      log.error(
        { event: 'config.reload-partial', why, applied, workers: of },
        'configuration reloaded in some workers only (their log lines say why); the others keep the running one',
      );
  });
  return {
    async shutdown(signal: NodeJS.Signals) {
      watcher.stop();
      await group.drain({ delay: signal === 'SIGTERM' });
    },
    async close() {
      watcher.stop();
      await group.close();
    },
  };
}

/**
 * A worker: loads the configuration the primary validated (the same files, environment and flags), runs
 * the gateway and does what the primary asks. Its log lines carry `worker` (node:cluster's id; a
 * restarted worker gets a new one); the primary's carry `role: "primary"`, and `worker` when they are
 * about one.
 */
async function serveWorker(load: LoadOptions): Promise<Serving> {
  const id = cluster.worker!.id;
  const { config } = loadConfig(load);
  const log = (await openLogger(config.logging.level, config.logging.format)).child({ worker: id });
  const metrics = new Metrics();
  const gw = await startGateway(config, log, { metrics, metricsListener: false });
  let stopping: Promise<void> | undefined;
  const shutdown = (delay: boolean) => {
    stopping ??= gw.drain({ delay });
    return stopping;
  };
  const reply = (m: unknown) => {
    if (process.connected) process.send!(m);
  };
  process.on('message', (m: unknown) => {
    if (!isMessage<ToWorker>(m)) return;
    if (m.pcl === 'reload') {
      try {
        gw.reload(loadConfig(load).config);
        log.info({ event: 'config.reload', why: m.why }, 'configuration reloaded');
        reply({ pcl: 'reloaded', id: m.id, ok: true });
      } catch (err) {
        // The primary validated the files; one changed since. Its watch sends another reload.
        const problems = err instanceof ConfigError ? err.problems : [String(err)];
        log.error(
          { event: 'config.reload-failed', why: m.why, problems },
          'new configuration rejected; keeping the running one',
        );
        reply({ pcl: 'reloaded', id: m.id, ok: false, problems });
      }
    } else if (m.pcl === 'drain') {
      shutdown(m.delay).then(
        () => process.exit(0),
        (err: unknown) => {
          log.error({ event: 'server.drain-failed', err: String(err) }, 'shutdown failed');
          process.exit(1);
        },
      );
    } else if (m.pcl === 'metrics') {
      metrics.registry.getMetricsAsJSON().then(
        (json) => reply({ pcl: 'metrics', id: m.id, metrics: json }),
        () => reply({ pcl: 'metrics', id: m.id, metrics: [] }),
      );
    }
  });
  // A hang-up at a terminal reaches every process of the group; the primary reloads the workers.
  process.on('SIGHUP', () => log.debug({ event: 'worker.sighup' }, 'SIGHUP: the primary reloads workers'));
  reply({ pcl: 'ready', url: gw.url });
  return { shutdown: (signal) => shutdown(signal === 'SIGTERM'), close: () => shutdown(false) };
}

function workersChanged(running: number | 'auto', next: LoadedConfig, log: Logger): void {
  if (next.config.server.workers !== running)
    log.warn(
      { event: 'workers.changed', from: running, to: next.config.server.workers },
      'server.workers changed: restart to apply it',
    );
}

/**
 * Reloads on SIGHUP and when a file of the configuration changes (polled every second: that follows
 * editors that replace files and Kubernetes secret symlink swaps alike). `apply` gets a configuration
 * that loaded; when it throws, the running one stays and the problems are logged.
 */
function watchConfig(
  load: LoadOptions,
  files: readonly string[],
  log: Logger,
  apply: (next: LoadedConfig, why: string) => void | Promise<void>,
): { stop(): void } {
  let watched: readonly string[] = [];
  let timer: NodeJS.Timeout | undefined;
  const watch = (list: readonly string[]) => {
    for (const f of watched) unwatchFile(f);
    watched = list;
    for (const f of list) watchFile(f, { interval: 1000 }, () => schedule(`${f} changed`));
  };
  const reload = async (why: string) => {
    try {
      const next = loadConfig(load);
      for (const w of next.warnings) log.warn({ event: 'config.warning' }, w);
      await apply(next, why);
      watch(next.files);
    } catch (err) {
      const problems = err instanceof ConfigError ? err.problems : [String(err)];
      log.error(
        { event: 'config.reload-failed', why, problems },
        'new configuration rejected; keeping the running one',
      );
    }
  };
  const schedule = (why: string) => {
    clearTimeout(timer);
    timer = setTimeout(() => void reload(why), 250);
  };
  watch(files);
  process.on('SIGHUP', () => void reload('SIGHUP'));
  return {
    stop() {
      clearTimeout(timer);
      for (const f of watched) unwatchFile(f);
    },
  };
}
