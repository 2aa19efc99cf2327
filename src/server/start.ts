/**
 * Start-up: opens the stores and the signing keys, starts the issuer, builds the context, and runs the
 * listeners (the main one with its limits, the metrics one); reload swaps in a new context, close stops
 * everything in order. The one place that builds the house; the pipeline itself is src/http/gateway.ts.
 */
import type http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { ResolvedConfig } from '../config/load.ts';
import type { GatewayContext } from '../http/context.ts';
import { handle, handleUpgrade } from '../http/gateway.ts';
import { ConnectionGuard, limitsOf, serverOptions } from '../http/limits.ts';
import { KeyPoller } from '../keys/poller.ts';
import type { Logger } from '../observability/log.ts';
import { Metrics } from '../observability/metrics.ts';
import { AssertionSigner, assertionsWanted } from '../proxy/assertion.ts';
import type { Upstream } from '../proxy/forward.ts';
import { openSessionStorage, sessionStorageChanged } from '../sessions/open.ts';
import { openStorage } from '../storage/open.ts';
import type { Storage } from '../storage/storage.ts';
import { type AdminParts, startConsole } from './console.ts';
import { buildContext } from './context.ts';
import { readTls, reloadTls, type TlsMaterial, tlsServerOptions } from './tls.ts';

// node:http through getBuiltinModule, not an ES import: an ES import of a built-in reads all its exports,
// and node:http's WebSocket getter loads Node's bundled undici (fetch; 745 KB of source) into every idle
// process, ~2 MB of RSS (bench/results/2026-12-05-memory.md, stop 10; test/cli/serve-modules.test.ts).
const nodeHttp = process.getBuiltinModule('node:http');

export interface RunningGateway {
  readonly server: http.Server;
  readonly url: string;
  /** The metrics listener's base URL (http://127.0.0.1:9180); undefined when it is not opened. */
  readonly metricsUrl: string | undefined;
  readonly ctx: GatewayContext;
  /** Swaps in a new, already validated configuration without dropping connections. */
  reload(next: ResolvedConfig): void;
  /**
   * Graceful shutdown (SIGTERM): /ready turns 503, then after server.shutdownDelay (when `delay`) the
   * listener stops accepting; requests in flight and WebSocket tunnels get server.drainTimeout to finish,
   * the rest are cut; then everything closes as in close().
   */
  drain(o?: { readonly delay?: boolean }): Promise<void>;
  /** Stops at once (tests, start-up failures): connections still open after 2 s are cut. */
  close(): Promise<void>;
}

export interface StartOptions {
  readonly port?: number;
  readonly host?: string;
  /** The clock, epoch seconds (tests move it forward). */
  readonly now?: () => number;
  /** The metrics registry (kept across reloads). */
  readonly metrics?: Metrics;
  /** false: no metrics listener (a worker of server.workers: the primary serves /metrics for all). */
  readonly metricsListener?: boolean;
}

export async function startGateway(
  config: ResolvedConfig,
  log: Logger,
  opts: StartOptions = {},
): Promise<RunningGateway> {
  const metrics = opts.metrics ?? new Metrics();
  // Read first: a missing or mismatched certificate stops the start before any store is opened.
  let tlsMaterial: TlsMaterial | undefined = config.server.tls ? readTls(config.server.tls) : undefined;
  // The storage holds the signing keys (and the issuer's state): opened only when the issuer or an upstream
  // that is sent assertions needs it, and shared by both. The issuer's module is not even loaded otherwise.
  // Sessions with store: storage keep theirs there too; store: redis opens a connection of its own.
  const storage =
    config.issuer !== undefined || assertionsWanted(config) || config.sessions.store === 'storage'
      ? await openStorage(config.storage, log)
      : undefined;
  let issuer: Awaited<ReturnType<typeof startIssuer>>;
  let assertions: AssertionSigner | undefined;
  let keys: KeyPoller | undefined;
  let sessionStorage: Storage | undefined;
  let admin: AdminParts | undefined;
  // Closes the session store's own connection (store redis); a shared storage is closed as `storage`.
  const closeSessionStorage = async () => {
    if (sessionStorage !== storage) await sessionStorage?.close();
  };
  try {
    sessionStorage = await openSessionStorage(config, log, storage);
    // Signing keys only where something signs: the issuer, or an upstream that is sent assertions. One key
    // poller for both (src/keys/poller.ts): the issuer subscribes first, so /oidc/jwks changes before assertions.
    keys =
      storage && (config.issuer !== undefined || assertionsWanted(config))
        ? await KeyPoller.start(storage, config.cookieKeys, log)
        : undefined;
    issuer = await startIssuer(config, log, storage, keys);
    assertions = keys ? await AssertionSigner.follow(keys, log) : undefined;
    admin = await startConsole(config, log, sessionStorage);
  } catch (err) {
    keys?.close();
    await issuer?.close();
    await closeSessionStorage();
    await storage?.close();
    throw err;
  }
  // Kept across reloads: a context built while draining must still answer /ready 503.
  const lifecycle = { draining: false };
  let ctx = buildContext(
    config,
    log,
    opts.now,
    metrics,
    issuer,
    assertions,
    sessionStorage,
    lifecycle,
    admin,
  );
  const limits = new ConnectionGuard(limitsOf(config.server), log, metrics);
  // Sessions may span up to 10 cookie chunks of 3.8 KB: headers must fit them (Node's default is 16 KiB).
  const options = { ...serverOptions(limitsOf(config.server)), maxHeaderSize: 64 * 1024 };
  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
    // A connection past the cap was answered 503 when it opened: whatever it sends is not served.
    if (limits.refused(req.socket)) return;
    limits.request(req, res);
    // Draining: answer with Connection: close, so keep-alive clients reconnect elsewhere.
    if (lifecycle.draining) res.shouldKeepAlive = false;
    void handle(ctx, req, res);
  };
  // https.Server is http's request handling on TLS sockets: the same options, events and pipeline.
  const server: http.Server = tlsMaterial
    ? https.createServer(
        { ...options, ...tlsServerOptions(tlsMaterial, limitsOf(config.server).headersTimeoutMs) },
        onRequest,
      )
    : nodeHttp.createServer(options, onRequest);
  limits.attach(server, tlsMaterial !== undefined);
  server.on('upgrade', (req, socket, head) => {
    if (limits.refused(req.socket)) return;
    handleUpgrade(ctx, req, socket, head).catch((err: unknown) => {
      log.error({ err: String(err) }, 'upgrade failed');
      socket.destroy();
    });
  });
  let metricsServer: http.Server | undefined;
  /**
   * Upstream pools of contexts a reload replaced. A request that started on the old context may still be
   * on its way to the forward step (reading its session, re-signing its assertion): closing the old pools
   * at once made it fail with 502 (seen in `npm run chaos` at a SIGHUP). They close after RETIRE_MS, when
   * every such request has dispatched (close() then waits for the ones in flight), or with the gateway.
   */
  const retired = new Set<Upstream>();
  const retireTimers = new Set<NodeJS.Timeout>();
  const retire = (pools: readonly Upstream[]) => {
    for (const u of pools) retired.add(u);
    const batch = [...pools];
    const timer = setTimeout(() => {
      retireTimers.delete(timer);
      for (const u of batch) retired.delete(u);
      void Promise.allSettled(batch.map((u) => u.close()));
    }, RETIRE_MS);
    timer.unref();
    retireTimers.add(timer);
  };
  /** Everything behind the listener, once it is closed; once only. */
  let finished: Promise<void> | undefined;
  function finish(): Promise<void> {
    finished ??= finishOnce();
    return finished;
  }
  async function finishOnce(): Promise<void> {
    limits.close();
    for (const t of retireTimers) clearTimeout(t);
    await Promise.allSettled([
      ...ctx.upstreamList.map((u) => u.close()),
      ...[...retired].map((u) => u.close()),
      new Promise<void>((resolve) => (metricsServer ? metricsServer.close(() => resolve()) : resolve())),
    ]);
    ctx.authz.close();
    assertions?.close();
    keys?.close();
    await issuer?.close();
    await closeSessionStorage();
    await storage?.close();
  }
  const host = opts.host ?? config.host;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? config.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch(async (err: unknown) => {
    await finish();
    throw err;
  });
  const addr = server.address() as AddressInfo;
  const url = baseUrl(addr, tlsMaterial ? 'https' : 'http');
  if (config.metrics.enabled && !config.metrics.insecureOnMainListener && opts.metricsListener !== false) {
    try {
      metricsServer = await startMetricsServer(config.metrics.listen, metrics.registry);
    } catch (err) {
      // Nothing stays half-started: a second instance on the same host must not keep the main port.
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await finish();
      throw new Error(
        `metrics.listen ${config.metrics.listen}: cannot listen (${(err as NodeJS.ErrnoException).code ?? String(err)}); set metrics.listen to a free address`,
        { cause: err },
      );
    }
  }
  const metricsUrl = metricsServer ? baseUrl(metricsServer.address() as AddressInfo) : undefined;
  // Only now can the issuer be reached: announced after the listeners, never before a failed listen.
  issuer?.announce();
  return {
    server,
    url,
    metricsUrl,
    get ctx() {
      return ctx;
    },
    reload(next: ResolvedConfig) {
      // Requests in flight finish on the context they started with; new ones use the new one.
      const old = ctx;
      if (sessionStorageChanged(old.config, next)) {
        log.warn({ event: 'sessions.changed' }, 'where sessions live changed: restart to apply it');
        next = { ...next, sessions: old.config.sessions };
      }
      const m = (c: ResolvedConfig) =>
        `${c.metrics.enabled} ${c.metrics.insecureOnMainListener} ${c.metrics.listen}`;
      if (m(next) !== m(old.config)) {
        // Which listener serves /metrics is fixed at start; the main listener's routing stays with it.
        log.warn({ event: 'metrics.changed' }, 'metrics settings changed: restart to apply them');
        next = { ...next, metrics: old.config.metrics };
      }
      if (next.admin.enabled && admin === undefined)
        log.warn({ event: 'admin.changed' }, 'admin console enabled: restart to apply it');
      ctx = buildContext(next, log, opts.now, metrics, issuer, assertions, sessionStorage, lifecycle, admin);
      limits.update(server, limitsOf(next.server));
      old.authz.close();
      reloadAssertions(next, log, assertions);
      if (issuer !== undefined && next.issuer !== undefined) {
        issuer.reload(next).catch((err: unknown) => {
          log.error(
            { event: 'issuer.reload-failed', err: String(err) },
            'issuer kept its previous configuration',
          );
        });
      } else if ((issuer === undefined) !== (next.issuer === undefined)) {
        log.warn({ event: 'issuer.changed' }, 'issuer added or removed: restart to apply it');
      }
      tlsMaterial = reloadTlsFiles(server, tlsMaterial, next, log);
      if (next.listen !== old.config.listen) {
        log.warn({ from: old.config.listen, to: next.listen }, 'listen changed: restart to apply it');
      }
      // The old pools stay open a while for requests that started on the old context (retire above).
      retire(old.upstreamList);
    },
    async drain({ delay = true } = {}) {
      if (lifecycle.draining) return;
      lifecycle.draining = true;
      const { shutdownDelay, drainTimeout } = ctx.config.server;
      log.info(
        { event: 'server.draining', shutdownDelay: delay ? shutdownDelay : 0, drainTimeout },
        '/ready answers 503; the listener closes after shutdownDelay, requests in flight get drainTimeout',
      );
      if (delay && shutdownDelay > 0) await sleep(shutdownDelay * 1000);
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Keep-alive connections that fall idle between requests are closed as they do (Node closes idle
      // ones only once, when close() is called).
      server.closeIdleConnections();
      const idle = setInterval(() => server.closeIdleConnections(), 100);
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<'deadline'>((resolve) => {
        timer = setTimeout(() => resolve('deadline'), drainTimeout * 1000);
      });
      const outcome = await Promise.race([closed.then(() => 'drained' as const), deadline]);
      clearTimeout(timer);
      clearInterval(idle);
      if (outcome === 'deadline') {
        log.warn(
          { event: 'server.drain-deadline', cut: limits.open },
          'drainTimeout reached: the connections still open (slow requests, WebSocket tunnels) are cut',
        );
        server.closeAllConnections();
        // Upgraded sockets (WebSocket tunnels) are no longer the HTTP server's to close.
        limits.destroyAll();
        await closed;
      } else log.info({ event: 'server.drained' }, 'every request in flight finished');
      await finish();
    },
    async close() {
      lifecycle.draining = true;
      if (server.listening) {
        server.closeIdleConnections();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          setTimeout(() => {
            server.closeAllConnections();
            limits.destroyAll();
          }, 2_000).unref();
        });
      }
      await finish();
    },
  };
}

/** How long the upstream pools of a replaced context stay open for the requests that started on it. */
const RETIRE_MS = 30_000;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function startIssuer(
  config: ResolvedConfig,
  log: Logger,
  storage: Storage | undefined,
  keys: KeyPoller | undefined,
) {
  if (config.issuer === undefined) return undefined;
  const { Issuer } = await import('../issuer/issuer.ts');
  return Issuer.start(config, log, { ...(storage ? { storage } : {}), ...(keys ? { keys } : {}) });
}

/** A reload has the key poller look at once (SIGHUP publishes a rotated key without waiting for the poll). */
function reloadAssertions(next: ResolvedConfig, log: Logger, assertions: AssertionSigner | undefined): void {
  if (assertions === undefined) {
    if (assertionsWanted(next))
      log.warn({ event: 'assertion.changed' }, 'assertions enabled on an upstream: restart to apply it');
    return;
  }
  assertions.refresh().catch((err: unknown) => {
    log.error(
      { event: 'assertion.keys-reload-failed', err: String(err) },
      'assertion signing keys could not be reloaded; the previous ones stay in use',
    );
  });
}

/**
 * The certificate and key read again on a reload (a renewal, or SIGHUP): swapped in for new connections
 * when they changed; a pair that cannot be used is logged and the one served stays (src/server/tls.ts).
 */
function reloadTlsFiles(
  server: http.Server,
  current: TlsMaterial | undefined,
  next: ResolvedConfig,
  log: Logger,
): TlsMaterial | undefined {
  const files = next.server.tls;
  if (current === undefined || files === undefined) {
    if ((current === undefined) !== (files === undefined))
      log.warn({ event: 'tls.changed' }, 'server.tls added or removed: restart to apply it');
    return current;
  }
  try {
    const { material, changed } = reloadTls(server as https.Server, current, files);
    if (changed) log.info({ event: 'tls.reloaded', certFile: files.certFile }, 'TLS certificate reloaded');
    return material;
  } catch (err) {
    log.error(
      { event: 'tls.reload-failed', err: (err as Error).message },
      'TLS certificate not reloaded; the previous one is still served',
    );
    return current;
  }
}

export function baseUrl(addr: AddressInfo, scheme: 'http' | 'https' = 'http'): string {
  return `${scheme}://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;
}

/**
 * /metrics on its own address (loopback by default), as oauth2-proxy's --metrics-address: the counts of
 * sign-ins and denials are not for whoever can reach the gateway, and the main listener's /metrics
 * belongs to the upstream.
 */
export async function startMetricsServer(
  listen: string,
  registry: { readonly contentType: string; metrics(): Promise<string> },
): Promise<http.Server> {
  const m = /^\[?(.*?)\]?:(\d+)$/.exec(listen)!;
  const server = nodeHttp.createServer((req, res) => {
    if ((req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found: metrics are at /metrics\n');
      return;
    }
    registry.metrics().then(
      (body) => res.writeHead(200, { 'Content-Type': registry.contentType }).end(body),
      () => res.writeHead(500).end(),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(m[2]), m[1], () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}
