/**
 * What the checks of one subject share. A provider's checks run in table order and the earlier ones
 * fill in what the later ones need (discovery → endpoints → keys), like a request scope in a pipeline.
 */
import type { ResolvedConfig, ResolvedUpstream } from '../config/load.ts';
import type { BearerIssuerConfig } from '../config/schema.ts';
import type { DateSample } from './http.ts';
import type { Endpoints, Location, ProviderKind, ProviderView } from './providers.ts';

export interface ConfigScope {
  readonly config: ResolvedConfig;
  readonly providers: readonly ProviderView[];
}

export interface Discovery {
  readonly url: string;
  readonly metadata: Readonly<Record<string, unknown>>;
}

export interface ProviderScope {
  readonly config: ResolvedConfig;
  readonly provider: ProviderView;
  readonly kind: ProviderKind;
  readonly location: Location;
  /** Exactly what Portcullis sends as redirect_uri. */
  readonly redirectUri: string;
  /** The `Date` header of every answer from this IdP (clock-skew check). */
  readonly dates: DateSample[];
  /** Set by provider.discovery. */
  discovery: Discovery | undefined;
  /** The endpoints the probes use: from discovery, or from the provider type. */
  endpoints: Endpoints | undefined;
  /** Why `endpoints` is unknown, for the checks that then cannot run. */
  unavailable: string | undefined;
  /** Set by provider.jwks: the keys as published. */
  keys: readonly Record<string, unknown>[] | undefined;
}

export interface UpstreamScope {
  readonly config: ResolvedConfig;
  readonly upstream: ResolvedUpstream;
  readonly index: number;
}

/** One `bearer.issuers` entry: an issuer trusted for bearer tokens only. */
export interface BearerScope {
  readonly config: ResolvedConfig;
  readonly source: BearerIssuerConfig;
  readonly index: number;
}

export interface StoreScope {
  readonly config: ResolvedConfig;
}

/** What the later checks say when discovery (or locating the IdP) did not work. */
export function needsEndpoints(s: ProviderScope): string {
  return s.unavailable ?? 'the IdP’s endpoints are unknown';
}
