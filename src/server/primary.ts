/**
 * server.workers > 1: the primary process. It forks the workers (node:cluster; each runs the whole
 * gateway, src/cli/serve.ts) and serves no request itself: node:cluster's primary holds the listening
 * socket and hands each new connection to the next worker in turn (round-robin). It
 *
 * - relays a reload (SIGHUP, a changed file) that src/cli/serve.ts has validated to every worker;
 * - drains every worker on SIGTERM/SIGINT and resolves once they have all exited, rejecting when one did
 *   not exit cleanly;
 * - restarts a worker that dies, after a back-off that doubles with each death of that worker within
 *   CRASH_WINDOW_MS, and gives up (drains the others, `onCrashLoop`) after CRASH_LIMIT of them; a worker
 *   is not restarted while the configuration files do not load (it could not start from them);
 * - serves /metrics on metrics.listen: every worker's registry summed (prom-client's aggregation), and the
 *   primary's own portcullis_workers and portcullis_worker_restarts_total.
 */
import cluster, { type Worker } from 'node:cluster';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  AggregatorRegistry,
  Counter,
  Gauge,
  type MetricObjectWithValues,
  type MetricValue,
  Registry,
} from 'prom-client';
import type { ResolvedConfig } from '../config/load.ts';
import type { Logger } from '../observability/log.ts';
import { type FromWorker, isMessage, type ToWorker } from './ipc.ts';
import { baseUrl, startMetricsServer } from './start.ts';

/** Deaths of one worker within this window count towards a crash loop. */
const CRASH_WINDOW_MS = 60_000;
/** This many deaths of one worker within the window: the primary stops. */
const CRASH_LIMIT = 5;
const BACKOFF_FIRST_MS = 500;
/** While the files do not load, how often the primary tries again to restart a worker. */
const RETRY_INVALID_MS = 5_000;
/** How long the primary waits for a worker's metrics or reload answer. */
const ASK_TIMEOUT_MS = 2_000;

export interface WorkerGroup {
  /** The main listener's base URL, as the first worker reported it. */
  readonly url: string;
  /** The metrics listener's base URL; undefined when metrics are off. */
  readonly metricsUrl: string | undefined;
  readonly count: number;
  /** Every worker loads the (validated) configuration again; resolves with how many applied it. */
  reload(why: string): Promise<{ readonly applied: number; readonly of: number }>;
  /** Drains every worker (delay: server.shutdownDelay first, as on SIGTERM); resolves when all exited 0. */
  drain(o?: { readonly delay?: boolean }): Promise<void>;
  close(): Promise<void>;
}

export interface PrimaryOptions {
  /** The problems of the configuration files as they are now (none: a new worker can start from them). */
  readonly check: () => readonly string[];
  /** Called when a worker crash-loops, after the others drained: the process should exit with `code`. */
  readonly onCrashLoop: (code: number) => void;
}

interface Slot {
  worker: Worker | undefined;
  ready: boolean;
  deaths: number[];
  timer: NodeJS.Timeout | undefined;
}

export async function startWorkers(
  config: ResolvedConfig,
  log: Logger,
  count: number,
  opts: PrimaryOptions,
): Promise<WorkerGroup> {
  const registry = new Registry();
  const running = new Gauge({
    name: 'portcullis_workers',
    help: 'Worker processes serving requests (server.workers), counted by the primary process.',
    registers: [registry],
  });
  const restarts = new Counter({
    name: 'portcullis_worker_restarts_total',
    help: 'Workers the primary process restarted after one died.',
    registers: [registry],
  });
  const slots: Slot[] = Array.from({ length: count }, () => ({
    worker: undefined,
    ready: false,
    deaths: [],
    timer: undefined,
  }));
  let stopping = false;
  let url: string | undefined;
  let asked = 0;
  const pending = new Map<number, (m: FromWorker) => void>();
  const exited = new Map<Worker, number>();

  const live = () => slots.filter((s) => s.worker !== undefined && s.ready).map((s) => s.worker!);
  const send = (w: Worker, m: ToWorker) => {
    if (w.isConnected()) w.send(m);
  };
  const countRunning = () => running.set(live().length);

  /** Settles when every slot has a ready worker, or rejects when one exits first (start-up failure). */
  let started: { resolve: () => void; reject: (err: Error) => void } | undefined;

  const fork = (slot: Slot) => {
    slot.timer = undefined;
    const w = cluster.fork();
    slot.worker = w;
    slot.ready = false;
    w.on('message', (m: unknown) => {
      if (!isMessage<FromWorker>(m)) return;
      if (m.pcl === 'ready') {
        url ??= m.url;
        slot.ready = true;
        countRunning();
        log.info({ event: 'worker.ready', worker: w.id, pid: w.process.pid }, 'worker listening');
        if (started && slots.every((s) => s.ready)) started.resolve();
      } else pending.get(m.id)?.(m);
    });
    w.on('exit', (code, signal) => {
      const wasReady = slot.ready;
      slot.worker = undefined;
      slot.ready = false;
      exited.set(w, code ?? (signal ? 1 : 0));
      countRunning();
      if (stopping) return;
      if (started) {
        started.reject(
          quiet(
            `worker ${w.id} (pid ${w.process.pid}) exited during start-up (${signal ?? `code ${code}`}); its log lines above say why`,
          ),
        );
        return;
      }
      const now = Date.now();
      slot.deaths = [...slot.deaths.filter((t) => now - t < CRASH_WINDOW_MS), now];
      const fields = { event: 'worker.died', worker: w.id, pid: w.process.pid, code, signal, wasReady };
      if (slot.deaths.length >= CRASH_LIMIT) {
        log.fatal(
          { ...fields, deaths: slot.deaths.length, windowSeconds: CRASH_WINDOW_MS / 1000 },
          'a worker keeps dying: stopping every worker (see its log lines for why)',
        );
        void drainAll(false)
          .catch(() => undefined)
          .then(() => opts.onCrashLoop(1));
        return;
      }
      const delay = BACKOFF_FIRST_MS * 2 ** (slot.deaths.length - 1);
      log.error({ ...fields, restartInMs: delay }, 'worker died; restarting it');
      slot.timer = setTimeout(() => restart(slot), delay);
    });
  };

  /**
   * A worker starts from the files as they are now. While they do not load (an edit the primary refused:
   * the running workers kept their configuration), a new worker could not start: it is not forked, and
   * the primary tries again every RETRY_INVALID_MS without counting that as a death.
   */
  const restart = (slot: Slot) => {
    const problems = opts.check();
    if (problems.length > 0) {
      log.error(
        { event: 'worker.restart-waits', problems, retryInMs: RETRY_INVALID_MS },
        'a worker cannot be restarted while the configuration files are invalid; the others keep serving',
      );
      slot.timer = setTimeout(() => restart(slot), RETRY_INVALID_MS);
      return;
    }
    restarts.inc();
    fork(slot);
  };

  /** Asks each ready worker and collects the answers that come within ASK_TIMEOUT_MS. */
  const ask = async <T extends FromWorker>(make: (id: number) => ToWorker): Promise<(T | undefined)[]> =>
    Promise.all(
      live().map((w) => {
        const id = ++asked;
        return new Promise<T | undefined>((resolve) => {
          const timer = setTimeout(() => done(undefined), ASK_TIMEOUT_MS);
          const gone = () => done(undefined);
          const done = (m: FromWorker | undefined) => {
            clearTimeout(timer);
            w.off('exit', gone);
            pending.delete(id);
            resolve(m as T | undefined);
          };
          pending.set(id, done);
          w.once('exit', gone);
          send(w, make(id));
        });
      }),
    );

  const collect = async (): Promise<string> => {
    const answers = await ask<Extract<FromWorker, { pcl: 'metrics' }>>((id) => ({ pcl: 'metrics', id }));
    const perWorker = answers.flatMap((a) => (a ? [a.metrics] : []));
    const own = (await registry.getMetricsAsJSON()) as MetricObjectWithValues<MetricValue<string>>[];
    return AggregatorRegistry.aggregate([...perWorker, own] as Parameters<
      typeof AggregatorRegistry.aggregate
    >[0]).metrics();
  };

  let metricsServer: http.Server | undefined;
  const drainAll = async (delay: boolean): Promise<void> => {
    stopping = true;
    for (const s of slots) clearTimeout(s.timer);
    const workers = slots.flatMap((s) => (s.worker ? [s.worker] : []));
    const gone = Promise.all(
      workers.map((w) =>
        w.isDead() ? Promise.resolve() : new Promise<void>((resolve) => w.once('exit', () => resolve())),
      ),
    );
    // A worker still starting has no gateway to drain (and no handler yet): SIGTERM stops it as it is.
    const starting = new Set(slots.filter((s) => s.worker && !s.ready).map((s) => s.worker!));
    for (const w of workers) {
      if (starting.has(w)) w.process.kill('SIGTERM');
      else send(w, { pcl: 'drain', delay });
    }
    // A worker that cannot finish (stuck, or its channel gone) is stopped past its own deadline.
    const { shutdownDelay, drainTimeout } = config.server;
    const deadline = setTimeout(
      () => {
        for (const w of workers) if (!w.isDead()) w.process.kill('SIGKILL');
      },
      ((delay ? shutdownDelay : 0) + drainTimeout + 5) * 1000,
    );
    await gone;
    clearTimeout(deadline);
    await new Promise<void>((resolve) => (metricsServer ? metricsServer.close(() => resolve()) : resolve()));
    const failed = workers.filter((w) => !starting.has(w) && exited.get(w) !== 0);
    if (failed.length > 0)
      throw quiet(
        `${failed.length} of ${workers.length} workers did not exit cleanly (${failed.map((w) => `worker ${w.id}: code ${exited.get(w)}`).join(', ')})`,
      );
    log.info({ event: 'workers.stopped', workers: workers.length }, 'every worker drained and exited');
  };

  log.info({ event: 'workers.starting', workers: count, pid: process.pid }, `starting ${count} workers`);
  try {
    await new Promise<void>((resolve, reject) => {
      started = { resolve, reject };
      for (const s of slots) fork(s);
    });
  } catch (err) {
    // Nothing to drain yet: the others are stopped where they are.
    stopping = true;
    const rest = slots.flatMap((s) => (s.worker && !s.worker.isDead() ? [s.worker] : []));
    const gone = rest.map((w) => new Promise<void>((resolve) => w.once('exit', () => resolve())));
    for (const w of rest) w.process.kill('SIGKILL');
    await Promise.all(gone);
    throw err;
  }
  started = undefined;
  if (config.metrics.enabled) {
    try {
      metricsServer = await startMetricsServer(config.metrics.listen, {
        contentType: registry.contentType,
        metrics: collect,
      });
    } catch (err) {
      await drainAll(false).catch(() => undefined);
      throw new Error(
        `metrics.listen ${config.metrics.listen}: cannot listen (${(err as NodeJS.ErrnoException).code ?? String(err)}); set metrics.listen to a free address`,
        { cause: err },
      );
    }
  }
  const metricsUrl = metricsServer ? baseUrl(metricsServer.address() as AddressInfo) : undefined;
  return {
    url: url!,
    metricsUrl,
    count,
    async reload(why) {
      const answers = await ask<Extract<FromWorker, { pcl: 'reloaded' }>>((id) => ({
        pcl: 'reload',
        id,
        why,
      }));
      const applied = answers.filter((a) => a?.ok).length;
      return { applied, of: answers.length };
    },
    drain: ({ delay = true } = {}) => drainAll(delay),
    close: () => drainAll(false),
  };
}

/** An error whose message is the whole story (the CLI prints the stack of an unexpected one). */
function quiet(message: string): Error {
  const err = new Error(message);
  err.stack = message;
  return err;
}
