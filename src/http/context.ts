/** Everything the request pipeline needs, built once from the configuration at start-up. */
import type { BearerVerifier, MachineToken } from '../bearer/verify.ts';
import type { ResolvedConfig } from '../config/load.ts';
import type { RouteConfig } from '../config/schema.ts';
import type { IdentityProvider } from '../idp/provider.ts';
import type { FlowCookies } from '../login/flow.ts';
import type { RedirectPolicy } from '../login/redirect.ts';
import type { TraceStore } from '../login/trace.ts';
import type { Logger } from '../observability/log.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { Authorizer } from '../policy/authorize.ts';
import type { PrefixTable } from '../policy/routes.ts';
import type { AssertionSigner } from '../proxy/assertion.ts';
import type { Upstream } from '../proxy/forward.ts';
import type { SessionStore } from '../sessions/store.ts';
import type { Scope } from './scope.ts';
import type { TrustedProxies } from './trust.ts';

/** The process's state that outlives a reload's context: draining (src/server/start.ts) turns /ready to 503. */
export interface Lifecycle {
  readonly draining: boolean;
}

export interface GatewayContext {
  readonly config: ResolvedConfig;
  /** Draining on SIGTERM: /ready answers 503 so load balancers stop sending (absent in unit tests). */
  readonly lifecycle?: Lifecycle | undefined;
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly providers: ReadonlyMap<string, IdentityProvider>;
  /** Cookie sessions, or server-side ones (src/sessions/store.ts). */
  readonly sessions: SessionStore;
  readonly flows: FlowCookies;
  readonly redirects: RedirectPolicy;
  readonly trusted: TrustedProxies;
  readonly routes: PrefixTable<RouteConfig>;
  /** Who may reach what, once signed in: the one authorize step, the only caller of the access policy. */
  readonly authz: Authorizer;
  /** Verifies Authorization: Bearer tokens on routes with `bearer` (src/bearer/). */
  readonly bearer: BearerVerifier;
  readonly upstreams: PrefixTable<Upstream>;
  readonly upstreamList: readonly Upstream[];
  /** autoLogin with exactly one provider: unauthenticated navigations start its sign-in at once (login.ts). */
  readonly autoStart: boolean;
  /**
   * Some route has rules of its own: forward-auth must be told the original path (PCL_FORWARD_AUTH_NO_PATH
   * otherwise). `public` routes do not count: forward-auth never consults them.
   */
  readonly pathMatters: boolean;
  /** Serve /metrics on the main listener (metrics enabled, no separate metrics.listen). */
  readonly metricsOnMain: boolean;
  /** Whether sessions must keep the ID token (RP-initiated logout or an upstream that is sent it). */
  readonly keepIdToken: boolean;
  /** Epoch seconds. */
  readonly now: () => number;
  /** The OpenID provider mounted at /oidc (src/issuer/), when `issuer` is configured. */
  readonly issuer?: IssuerMount | undefined;
  /** Signs X-Portcullis-Assertion (src/proxy/assertion.ts); present when keys exist (assertions or issuer). */
  readonly assertions?: AssertionSigner | undefined;
  /** The `iss` of assertions: the public URL's origin. */
  readonly assertionIssuer: string;
  /** Sign-in traces by request id, for the operator console (kept across reloads; absent when it is off). */
  readonly traces?: TraceStore | undefined;
  /** The operator console at /oauth2/admin (src/console/), when `admin.enabled`. */
  readonly console?: ConsoleMount | undefined;
}

/** What the gateway needs of the operator console, without depending on its module. */
export interface ConsoleMount {
  /** Answers a request for /oauth2/admin or below it. */
  handle(ctx: GatewayContext, s: Scope): Promise<void>;
}

/** What the gateway and the login endpoints need of the issuer, without depending on its module. */
export interface IssuerMount {
  /** Answers a request under /oidc. */
  handle(ctx: GatewayContext, s: Scope): Promise<void>;
  /**
   * Gate sign-out passes through the issuer to end its session too: where to send the browser instead of
   * `next`. Adds to `s.setCookies` the cookie that binds that stop to this browser.
   */
  signOutVia(next: string, s: Scope): string;
  /** A client_credentials access token of this issuer (opaque), while it is valid and its client still may. */
  clientToken(token: string): Promise<MachineToken | undefined>;
  /** Sign out everywhere: revokes every grant the user's account holds at the issuer; returns how many. */
  endUser(user: { readonly provider: string; readonly sub: string }): Promise<number>;
}
