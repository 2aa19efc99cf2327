/**
 * Google: OpenID Connect at https://accounts.google.com. Its differences from the OpenID Connect base
 * (https://developers.google.com/identity/openid-connect/openid-connect):
 * - `hostedDomains` is checked against the `hd` claim of the ID token (kept as identity.tenant; see
 *   src/policy/criteria/tenant.ts). The `hd` request parameter is sent as a hint when there is exactly one
 *   domain, which only narrows Google's account chooser and proves nothing;
 * - refresh tokens only with `access_type=offline` (and `prompt=consent`, or Google returns one only on
 *   the first consent): `offlineAccess: true`;
 * - no groups: Google Workspace groups need the Admin SDK, which an ID token does not give.
 */
import type { ResolvedProviderOf } from '../config/providers.ts';
import type { Identity } from '../sessions/session.ts';
import { str } from './claims.ts';
import { baseSettings, OidcProvider, type ProfileContext, STANDARD_MAPPING } from './oidc.ts';
import type { ProviderOptions } from './provider.ts';

export class GoogleProvider extends OidcProvider {
  readonly #hostedDomains: readonly string[];
  readonly #offline: boolean;

  constructor(config: ResolvedProviderOf<'google'>, opts: ProviderOptions) {
    super(config, opts, {
      ...baseSettings(config),
      issuer: config.issuer,
      mapping: { ...STANDARD_MAPPING, groups: undefined },
    });
    this.#hostedDomains = config.hostedDomains ?? [];
    this.#offline = config.offlineAccess;
  }

  protected override defaultDisplayName(): string {
    return 'Google';
  }

  protected override authorizationParams(): Record<string, string> {
    const params: Record<string, string> = {};
    if (this.#hostedDomains.length === 1) params['hd'] = this.#hostedDomains[0]!;
    if (this.#offline) {
      params['access_type'] = 'offline';
      params['prompt'] = 'consent';
    }
    return params;
  }

  protected override async enrich(identity: Identity, ctx: ProfileContext): Promise<Identity> {
    const hd = str(ctx.claims['hd']);
    return hd === undefined ? identity : { ...identity, tenant: hd.toLowerCase() };
  }
}
