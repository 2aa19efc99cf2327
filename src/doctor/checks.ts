/**
 * Every check of `portcullis check`, in the order it runs: one table per subject. A provider's checks
 * share a scope, and the earlier ones fill in what the later ones need (discovery → endpoints → keys).
 * docs/check.md describes each one; test/doctor/docs.test.ts keeps the two in step.
 */
import { issuerJwks, providerBearer } from './bearer.ts';
import { clockSkew } from './clock.ts';
import { authMethod, codeFlow, discovery, issuer, logout, pkce, scopes } from './discovery.ts';
import type { Check } from './finding.ts';
import { jwks, signingAlgs } from './jwks.ts';
import { credentials, endpoints, redirectUri } from './probes.ts';
import { sessionStore, storage, upstreamReach } from './reach.ts';
import type { BearerScope, ConfigScope, ProviderScope, StoreScope, UpstreamScope } from './scope.ts';
import {
  autoLogin,
  cookieSecurity,
  forwardAuthPath,
  insecureSettings,
  issuerSlash,
  loads,
  located,
  metricsExposed,
  plainHttp,
  redirectHost,
  upstreamLoop,
} from './static.ts';

export const CONFIG_CHECKS: readonly Check<ConfigScope>[] = [
  autoLogin,
  redirectHost,
  cookieSecurity,
  metricsExposed,
  upstreamLoop,
  forwardAuthPath,
];

export const PROVIDER_CHECKS: readonly Check<ProviderScope>[] = [
  // static
  located,
  issuerSlash,
  plainHttp,
  insecureSettings,
  // live, in dependency order
  discovery,
  issuer,
  codeFlow,
  authMethod,
  pkce,
  scopes,
  logout,
  jwks,
  signingAlgs,
  endpoints,
  credentials,
  redirectUri,
  providerBearer,
  // last: it reads the Date header of every answer above
  clockSkew,
];

export const BEARER_CHECKS: readonly Check<BearerScope>[] = [issuerJwks];

export const UPSTREAM_CHECKS: readonly Check<UpstreamScope>[] = [upstreamReach];

export const STORE_CHECKS: readonly Check<StoreScope>[] = [sessionStore, storage];

/** Every check id with when it runs and what it checks, `config.load` first (the runner's own step). */
export function checkList(): { id: string; when: string; title: string }[] {
  return [
    loads,
    ...CONFIG_CHECKS,
    ...PROVIDER_CHECKS,
    ...BEARER_CHECKS,
    ...UPSTREAM_CHECKS,
    ...STORE_CHECKS,
  ].map((c) => ({
    id: c.id,
    when: c.when,
    title: c.title,
  }));
}
