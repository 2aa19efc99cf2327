/** Which gateway request an oidc-provider request belongs to: its context and scope (set by src/issuer/issuer.ts). */
import type { GatewayContext } from '../http/context.ts';
import type { Scope } from '../http/scope.ts';

export interface Binding {
  readonly ctx: GatewayContext;
  readonly s: Scope;
}
