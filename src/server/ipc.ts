/**
 * The messages between the primary process and its workers (server.workers > 1, src/server/primary.ts).
 * Plain JSON over node:cluster's IPC channel; every message carries `pcl` so prom-client's or anyone
 * else's messages on the same channel are never mistaken for ours.
 */
import type { MetricObjectWithValues, MetricValue } from 'prom-client';

/** Primary → worker. */
export type ToWorker =
  /** Load the configuration again (the primary has validated it) and swap it in. */
  | { readonly pcl: 'reload'; readonly id: number; readonly why: string }
  /** Graceful shutdown: the worker drains as a single process does on SIGTERM (delay) or SIGINT, then exits 0. */
  | { readonly pcl: 'drain'; readonly delay: boolean }
  /** Send your metrics, as prom-client's JSON, for the primary's /metrics. */
  | { readonly pcl: 'metrics'; readonly id: number };

/** Worker → primary. */
export type FromWorker =
  /** Listening: the gateway started, at `url`. */
  | { readonly pcl: 'ready'; readonly url: string }
  | {
      readonly pcl: 'reloaded';
      readonly id: number;
      readonly ok: boolean;
      readonly problems?: readonly string[];
    }
  | {
      readonly pcl: 'metrics';
      readonly id: number;
      readonly metrics: readonly MetricObjectWithValues<MetricValue<string>>[];
    };

export function isMessage<T extends { pcl: string }>(m: unknown): m is T {
  return typeof m === 'object' && m !== null && typeof (m as { pcl?: unknown }).pcl === 'string';
}
