/**
 * Builds everything one configuration needs at run time — providers, session store, flows, redirect
 * policy, trust boundary, routes, the authorize step, upstreams — into the context the pipeline
 * (src/http/gateway.ts) reads. Built once at start-up and again on each reload.
 */
import { bearerSources } from '../bearer/sources.ts';
import { BearerVerifier } from '../bearer/verify.ts';
import type { ResolvedConfig } from '../config/load.ts';
import type { GatewayContext, IssuerMount, Lifecycle } from '../http/context.ts';
import { compileTrustedProxies } from '../http/trust.ts';
import { idpFetch } from '../idp/fetch.ts';
import { createProvider } from '../idp/registry.ts';
import { FlowCookies } from '../login/flow.ts';
import { compileRedirectPolicy } from '../login/redirect.ts';
import type { Logger } from '../observability/log.ts';
import { Metrics } from '../observability/metrics.ts';
import { Authorizer } from '../policy/authorize.ts';
import {
  compileAdminPolicy,
  compilePolicy,
  needsGithubMemberships,
  requiredClaims,
} from '../policy/compile.ts';
import { PrefixTable } from '../policy/routes.ts';
import { type AssertionSigner, assertionIssuer } from '../proxy/assertion.ts';
import { Upstream } from '../proxy/forward.ts';
import { cookieNames } from '../sessions/cookie-store.ts';
import { createSessionStore } from '../sessions/open.ts';
import { Sealer } from '../sessions/sealer.ts';
import type { Storage } from '../storage/storage.ts';
import type { AdminParts } from './console.ts';

export function buildContext(
  config: ResolvedConfig,
  log: Logger,
  now: () => number = () => Math.floor(Date.now() / 1000),
  metrics: Metrics = new Metrics({ defaultMetrics: false }),
  issuer?: IssuerMount,
  assertions?: AssertionSigner,
  /** The storage of server-side sessions (openSessionStorage); absent for cookie sessions. */
  sessionStorage?: Storage,
  /** Draining state, kept across reloads by start.ts. */
  lifecycle?: Lifecycle,
  /** The operator console's parts (startConsole), kept across reloads; mounted while admin.enabled. */
  admin?: AdminParts,
): GatewayContext {
  const mounted = admin !== undefined && config.admin.enabled ? admin : undefined;
  const sealer = new Sealer(config.cookieKeys);
  const names = cookieNames(config.cookie.name, config.cookieSecure, config.cookie.domain);
  const cookieOpts = { secure: config.cookieSecure, domain: config.cookie.domain };
  const providers = new Map(
    config.providers.map((p) => [
      p.id,
      createProvider(p, {
        redirectUri: config.redirectUri,
        timeoutSeconds: 10,
        now,
        fetch: metrics.timedFetch(p.id, idpFetch),
        keepClaims: requiredClaims(config, p.id),
        githubMemberships: needsGithubMemberships(config, p.id),
      }),
    ]),
  );
  const sessions = createSessionStore(config, {
    sealer,
    names,
    cookieOptions: cookieOpts,
    log,
    metrics,
    storage: sessionStorage,
  });
  const owns = (name: string) => sessions.owns(name);
  const bearer = new BearerVerifier(
    bearerSources(config, providers, {
      timeoutSeconds: 10,
      fetch: metrics.timedFetch('bearer', idpFetch),
      keepClaims: (id) => requiredClaims(config, id),
    }),
    {
      skew: config.bearer.clockSkew,
      now,
      machineTokens: issuer && ((t) => issuer.clientToken(t)),
      opaqueTtl: config.bearer.opaqueCache.ttl,
      opaqueNegativeTtl: config.bearer.opaqueCache.negativeTtl,
    },
  );
  const upstreams = config.upstreams.map((u) => new Upstream(u, owns));
  return {
    config,
    lifecycle,
    log,
    metrics,
    providers,
    sessions,
    flows: new FlowCookies(sealer, names.flowPrefix, cookieOpts, config.pendingLoginsMax),
    redirects: compileRedirectPolicy(config.public, config.allowedRedirectDomains),
    trusted: compileTrustedProxies(config.trustedProxies),
    routes: new PrefixTable(config.routes),
    authz: new Authorizer(compilePolicy(config, { log }), log, metrics, {
      sink: mounted?.recorder,
      admin: mounted && compileAdminPolicy(config, { log }),
    }),
    bearer,
    upstreams: new PrefixTable(upstreams),
    upstreamList: upstreams,
    autoStart: config.autoLogin && providers.size === 1,
    pathMatters: config.routes.some((r) => r.allow !== undefined),
    metricsOnMain: config.metrics.enabled && config.metrics.insecureOnMainListener,
    keepIdToken:
      config.providers.some((p) => p.logoutAtIdp) ||
      config.upstreams.some((u) => u.passAuthorization === 'id_token'),
    now,
    issuer,
    assertions,
    assertionIssuer: assertionIssuer(config.public),
    traces: mounted?.traces,
    console: mounted?.console,
  };
}
