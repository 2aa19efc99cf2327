/**
 * `portcullis serve`: run the gateway. Reloads on SIGHUP and when the configuration file or a secret
 * file changes: a valid new configuration takes effect without dropping connections; an invalid one is
 * logged and the running one stays. SIGTERM drains (docs/endpoints.md#graceful-shutdown): /ready turns
 * 503, the listener closes after server.shutdownDelay, requests in flight and WebSocket tunnels get
 * server.drainTimeout, then the process exits 0. SIGINT (Ctrl-C at a terminal) drains without the delay.
 */
import { unwatchFile, watchFile } from 'node:fs';
import { ConfigError } from '../config/errors.ts';
import { type LoadOptions, loadConfig } from '../config/load.ts';
import { openLogger } from '../observability/log.ts';
import { startGateway } from '../server/start.ts';

export interface Serving {
  /** Graceful shutdown for a signal: SIGTERM waits server.shutdownDelay first, SIGINT does not. */
  shutdown(signal: NodeJS.Signals): Promise<void>;
  close(): Promise<void>;
}

export async function serve(load: LoadOptions): Promise<Serving> {
  const loaded = loadConfig(load);
  const { config } = loaded;
  const log = await openLogger(config.logging.level, config.logging.format);
  // Unknown PORTCULLIS_ variables and the like: Portcullis runs, but the operator should know.
  for (const w of loaded.warnings) log.warn({ event: 'config.warning' }, w);
  const gw = await startGateway(config, log);
  log.info(
    { url: gw.url, publicUrl: config.public.href, providers: config.providers.map((p) => p.id) },
    'portcullis listening',
  );

  let watched: readonly string[] = [];
  let timer: NodeJS.Timeout | undefined;
  const watch = (files: readonly string[]) => {
    for (const f of watched) unwatchFile(f);
    watched = files;
    // Polling (1 s) follows editors that replace files and Kubernetes secret symlink swaps alike.
    for (const f of files) watchFile(f, { interval: 1000 }, () => schedule(`${f} changed`));
  };
  const reload = (why: string) => {
    try {
      const next = loadConfig(load);
      for (const w of next.warnings) log.warn({ event: 'config.warning' }, w);
      gw.reload(next.config);
      watch(next.files);
      log.info({ event: 'config.reload', why }, 'configuration reloaded');
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
    timer = setTimeout(() => reload(why), 250);
  };
  watch(loaded.files);
  process.on('SIGHUP', () => reload('SIGHUP'));
  const stopWatching = () => {
    clearTimeout(timer);
    for (const f of watched) unwatchFile(f);
  };
  return {
    async shutdown(signal) {
      stopWatching();
      await gw.drain({ delay: signal === 'SIGTERM' });
    },
    async close() {
      stopWatching();
      await gw.close();
    },
  };
}
