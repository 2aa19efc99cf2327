/**
 * Keycloak: OpenID Connect at https://<host>/realms/<realm>. Its difference from the OpenID Connect base:
 * realm and client roles become groups, as oauth2-proxy's keycloak-oidc provider names them —
 * `role:<realm role>` and `role:<client>:<client role>` (for `roleClients`, default the own client) — next
 * to the groups claim (Keycloak's "Group Membership" mapper).
 *
 * Keycloak's "roles" client scope puts `realm_access.roles` and `resource_access.<client>.roles` into the
 * access token (a JWT) by default, and into the ID token or userinfo only when the mapper says so
 * (https://www.keycloak.org/docs/latest/server_admin/#_protocol-mappers). Roles are read from the ID token
 * and userinfo claims and from the access token when it is a JWT that verifies against the realm's keys,
 * was issued by the realm (`iss`) to this client (`azp`, or RFC 9068 `client_id`) and has not expired.
 */
import type { JWTPayload, JWTVerifyGetKey } from 'jose';
import { jwtVerify } from 'jose/jwt/verify';
import type { Configuration } from 'openid-client';
import type { ResolvedProviderOf } from '../config/providers.ts';
import type { Identity } from '../sessions/session.ts';
import { claimAt, strings } from './claims.ts';
import { isRecord } from './http.ts';
import { remoteKeys } from './jwks.ts';
import { baseSettings, OidcProvider, type ProfileContext, STANDARD_MAPPING } from './oidc.ts';
import type { ProviderOptions } from './provider.ts';

export class KeycloakProvider extends OidcProvider {
  readonly #roleClients: readonly string[];
  #jwks: JWTVerifyGetKey | undefined;

  constructor(config: ResolvedProviderOf<'keycloak'>, opts: ProviderOptions) {
    super(config, opts, { ...baseSettings(config), issuer: config.issuer, mapping: STANDARD_MAPPING });
    this.#roleClients = config.roleClients ?? [config.clientId];
  }

  protected override async enrich(identity: Identity, ctx: ProfileContext): Promise<Identity> {
    const sources: Readonly<Record<string, unknown>>[] = [ctx.profile];
    const fromAccessToken =
      ctx.accessToken === undefined ? undefined : await this.#accessTokenClaims(ctx.config, ctx.accessToken);
    if (fromAccessToken !== undefined) sources.push(fromAccessToken);
    const groups = new Set(identity.groups);
    for (const claims of sources) {
      for (const r of strings(claimAt(claims, 'realm_access.roles'))) groups.add(`role:${r}`);
      const resources = claimAt(claims, 'resource_access');
      if (!isRecord(resources)) continue;
      for (const client of this.#roleClients) {
        const entry = resources[client];
        if (isRecord(entry)) for (const r of strings(entry['roles'])) groups.add(`role:${client}:${r}`);
      }
    }
    return groups.size === identity.groups.length ? identity : { ...identity, groups: [...groups] };
  }

  /** The access token's claims when it is a valid JWT of this realm for this client; else undefined. */
  async #accessTokenClaims(config: Configuration, token: string): Promise<JWTPayload | undefined> {
    if (token.split('.').length !== 3) return undefined;
    const jwksUri = config.serverMetadata().jwks_uri;
    if (jwksUri === undefined) return undefined;
    // Refetched on an unknown kid, at most once per cooldown (src/idp/jwks.ts): a realm key rotation.
    this.#jwks ??= remoteKeys(new URL(jwksUri), {
      timeoutSeconds: this.opts.timeoutSeconds,
      fetch: this.opts.fetch,
    });
    try {
      const algorithms = this.idTokenPolicy(config).algorithms;
      const { payload } = await jwtVerify(token, this.#jwks, {
        issuer: this.settings.issuer,
        clockTolerance: 30,
        ...(algorithms !== undefined ? { algorithms: [...algorithms] } : {}),
      });
      const party = payload['azp'] ?? payload['client_id'];
      return party === this.settings.clientId ? payload : undefined;
    } catch {
      // An opaque or foreign token carries no roles we can trust: the ID token's claims are all there is.
      return undefined;
    }
  }
}
