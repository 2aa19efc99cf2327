/**
 * Prometheus metrics (prom-client, on a registry of our own). The two recorded on every request cost a map
 * lookup and a few additions: requests are counted in plain numbers added to prom-client's counter when
 * scraped, and upstream latency goes to a FastHistogram (./histogram.ts).
 */
import type { Counter as CounterType } from 'prom-client';
// prom-client's modules one by one, not its index (src/observability/default-metrics.ts says why).
import Counter from 'prom-client/lib/counter.js';
import Gauge from 'prom-client/lib/gauge.js';
import Histogram from 'prom-client/lib/histogram.js';
import Registry from 'prom-client/lib/registry.js';
import { registerDefaultMetrics } from './default-metrics.ts';
import { FastHistogram } from './histogram.ts';

/** What kind of request it was: the proxied app, forward-auth, the login endpoints, health, issuer, metrics. */
export type RouteClass = 'proxy' | 'auth' | 'login' | 'health' | 'issuer' | 'metrics';

export type SignInOutcome = 'success' | 'failure' | 'denied';

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** What `sessions.localCache` counts (src/sessions/local-cache.ts): plain numbers, read when scraped. */
export interface SessionCacheCounts {
  readonly hits: number;
  readonly invalidations: number;
  readonly size: number;
  readonly subscribed: boolean;
}

export class Metrics {
  readonly registry = new Registry();
  /**
   * Counted on the hot path as a plain number per series (#pendingRequests) and added to this counter when
   * it is read (its `collect`): prom-client's inc() hashes the labels on every call.
   */
  readonly #requests: CounterType<'class' | 'status'> = new Counter({
    name: 'portcullis_http_requests_total',
    help: 'HTTP requests answered, by route class and status code.',
    labelNames: ['class', 'status'] as const,
    registers: [this.registry],
    collect: () => this.#flushRequests(),
  });
  readonly #upstream = new FastHistogram({
    name: 'portcullis_upstream_request_duration_seconds',
    help: 'Time from forwarding a request to the end of the upstream’s response, by upstream.',
    label: 'upstream',
    buckets: LATENCY_BUCKETS,
    registry: this.registry,
  });
  readonly #upstreamErrors = new Counter({
    name: 'portcullis_upstream_errors_total',
    help: 'Requests the upstream could not answer (502/504), by upstream and error code.',
    labelNames: ['upstream', 'code'] as const,
    registers: [this.registry],
  });
  readonly #signIns = new Counter({
    name: 'portcullis_sign_ins_total',
    help: 'Completed sign-ins, by provider and outcome (success, failure, denied).',
    labelNames: ['provider', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly #denials = new Counter({
    name: 'portcullis_denials_total',
    help: 'Access denials, by reason code.',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly #idp = new Histogram({
    name: 'portcullis_idp_request_duration_seconds',
    help: 'Requests to identity providers, by provider and endpoint (discovery, jwks, token, userinfo, other).',
    labelNames: ['provider', 'endpoint'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly #refreshes = new Counter({
    name: 'portcullis_session_refreshes_total',
    help: 'Session refreshes with the refresh token, by provider and outcome.',
    labelNames: ['provider', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly #connectionsCut = new Counter({
    name: 'portcullis_connections_cut_total',
    help: 'Client connections refused or cut by the server limits, by reason (max-connections, request-timeout, body-timeout, send-timeout).',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly #storeErrors = new Counter({
    name: 'portcullis_session_store_errors_total',
    help: 'Errors talking to a session or state store, by store.',
    labelNames: ['store'] as const,
    registers: [this.registry],
  });
  /** Per route class, by status code: no key string to build per request. */
  readonly #pendingRequests = new Map<
    RouteClass,
    ({ readonly series: CounterType.Internal; n: number } | undefined)[]
  >();

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    if (opts.defaultMetrics !== false) registerDefaultMetrics(this.registry, 'portcullis_');
  }

  request(cls: RouteClass, status: number): void {
    let byStatus = this.#pendingRequests.get(cls);
    if (byStatus === undefined) {
      byStatus = [];
      this.#pendingRequests.set(cls, byStatus);
    }
    // Node's statuses are integers of 100-999; anything else (never seen) is counted at once, by its string.
    if (!(Number.isInteger(status) && status >= 100 && status < 1000)) {
      this.#requests.labels(cls, String(status)).inc();
      return;
    }
    let pending = byStatus[status];
    if (pending === undefined) {
      pending = { series: this.#requests.labels(cls, String(status)), n: 0 };
      byStatus[status] = pending;
    }
    pending.n++;
  }

  #flushRequests(): void {
    for (const byStatus of this.#pendingRequests.values()) {
      for (const p of byStatus) {
        if (p === undefined || p.n === 0) continue;
        p.series.inc(p.n);
        p.n = 0;
      }
    }
  }

  upstream(name: string, seconds: number): void {
    this.#upstream.observe(name, seconds);
  }

  upstreamError(name: string, code: string): void {
    this.#upstreamErrors.labels(name, code).inc();
  }

  signIn(provider: string, outcome: SignInOutcome): void {
    this.#signIns.labels(provider, outcome).inc();
  }

  denial(reasons: readonly string[]): void {
    for (const r of reasons) this.#denials.labels(r).inc();
  }

  idpRequest(provider: string, endpoint: string, seconds: number): void {
    this.#idp.labels(provider, endpoint).observe(seconds);
  }

  refresh(provider: string, outcome: 'success' | 'failure'): void {
    this.#refreshes.labels(provider, outcome).inc();
  }

  connectionCut(reason: 'max-connections' | 'request-timeout' | 'body-timeout' | 'send-timeout'): void {
    this.#connectionsCut.labels(reason).inc();
  }

  storeError(store: string): void {
    this.#storeErrors.labels(store).inc();
  }

  #sessionCache: SessionCacheCounts | undefined;
  /** Hits and invalidations of the caches replaced before (a new storage on reload makes a new cache). */
  #sessionCacheBase = { hits: 0, invalidations: 0 };

  /**
   * `sessions.localCache`: its series, registered with the first cache and read from the current one when
   * scraped (the cache counts in plain numbers; nothing is added to a request's work).
   */
  sessionCache(cache: SessionCacheCounts): void {
    const before = this.#sessionCache;
    this.#sessionCache = cache;
    if (before === cache) return;
    if (before !== undefined) {
      this.#sessionCacheBase.hits += before.hits;
      this.#sessionCacheBase.invalidations += before.invalidations;
      return;
    }
    const read = () => this.#sessionCache as SessionCacheCounts;
    const base = this.#sessionCacheBase;
    new Counter({
      name: 'portcullis_session_cache_hits_total',
      help: 'Requests whose server-side session was served from this process’s cache (sessions.localCache).',
      registers: [this.registry],
      collect() {
        this.reset();
        this.inc(base.hits + read().hits);
      },
    });
    new Counter({
      name: 'portcullis_session_cache_invalidations_total',
      help: 'Session changes heard on the invalidation channel (sessions.localCache).',
      registers: [this.registry],
      collect() {
        this.reset();
        this.inc(base.invalidations + read().invalidations);
      },
    });
    new Gauge({
      name: 'portcullis_session_cache_entries',
      help: 'Sessions held in this process’s cache (sessions.localCache).',
      registers: [this.registry],
      collect() {
        this.set(read().size);
      },
    });
    new Gauge({
      name: 'portcullis_session_cache_subscribed',
      help: '1 while the cache is subscribed to invalidations and in use, 0 while every request reads the store.',
      registers: [this.registry],
      collect() {
        this.set(read().subscribed ? 1 : 0);
      },
    });
  }

  /** A fetch for openid-client that times every request to the IdP (made with `base`, default fetch). */
  timedFetch<I extends { method?: string }>(
    provider: string,
    base: (url: string, init: I) => Promise<Response> = (url, init) => fetch(url, init as RequestInit),
  ): (url: string, init: I) => Promise<Response> {
    return async (url, init) => {
      const t0 = performance.now();
      try {
        return await base(url, init);
      } finally {
        this.idpRequest(provider, endpointOf(url, init.method), (performance.now() - t0) / 1000);
      }
    };
  }
}

function endpointOf(url: string, method: string | undefined): string {
  const path = new URL(url).pathname;
  if (path.includes('/.well-known/')) return 'discovery';
  if (/jwks|certs|keys/.test(path)) return 'jwks';
  if ((method ?? 'GET').toUpperCase() === 'POST' && /token/.test(path)) return 'token';
  if (/userinfo|\/me$|\/user$/.test(path)) return 'userinfo';
  return 'other';
}

/** The route class of a normalised path, for the request counter. */
export function routeClass(path: string): RouteClass {
  if (path.startsWith('/oauth2/')) return path === '/oauth2/auth' ? 'auth' : 'login';
  if (path === '/ping' || path === '/ready') return 'health';
  if (path === '/metrics') return 'metrics';
  if (path === '/oidc' || path.startsWith('/oidc/')) return 'issuer';
  return 'proxy';
}
