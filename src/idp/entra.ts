/**
 * Microsoft Entra ID (v2 endpoints): OpenID Connect at <authority>/<tenant>/v2.0. Its differences from
 * the OpenID Connect base:
 * - single tenant: the issuer is https://login.microsoftonline.com/<tenant id>/v2.0. Multi-tenant
 *   (`tenant: organizations` or `common`): the discovery document announces the issuer template
 *   https://login.microsoftonline.com/{tenantid}/v2.0 and every token carries its tenant's own issuer
 *   (https://learn.microsoft.com/entra/identity-platform/access-tokens#validate-the-issuer). The code is
 *   exchanged once; the tenant is read from the answer, and the answer is then validated in full, by
 *   openid-client, as that tenant's issuer — a token can only pass as the issuer it names. `allowedTenants`
 *   is then an access rule on `tid` (src/policy/criteria/tenant.ts);
 * - groups: the `groups` claim (object ids; the app registration's groupMembershipClaims). With too many
 *   groups Entra sends the overage indicator `_claim_names: { groups: … }` instead, and the groups are read
 *   from Microsoft Graph, POST /v1.0/me/getMemberObjects (delegated User.Read suffices for /me;
 *   https://learn.microsoft.com/graph/api/directoryobject-getmemberobjects);
 * - e-mail: Entra's `email` claim is not verified by Entra. In a multi-tenant application any directory's
 *   administrator can set any address (the "nOAuth" takeover), so there it counts as verified only with
 *   the `xms_edov` optional claim (the domain owner verified it); in a single tenant it is the tenant's own.
 */
import { decodeJwt } from 'jose';
import * as oidc from 'openid-client';
import { ENTRA_MULTI_TENANT, type ResolvedProviderOf } from '../config/providers.ts';
import { PortcullisError } from '../errors/codes.ts';
import type { Identity } from '../sessions/session.ts';
import { bool, claimAt, str, strings, withEmailPolicy } from './claims.ts';
import { callApi, fetchOf, isRecord } from './http.ts';
import {
  baseSettings,
  classify,
  describe,
  OidcProvider,
  type ProfileContext,
  STANDARD_MAPPING,
} from './oidc.ts';
import type { FlowSecrets, ProviderOptions } from './provider.ts';

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Thrown by the capturing fetch once the token response is in hand (see exchange()). */
class Captured extends Error {}

interface CapturedResponse {
  readonly status: number;
  readonly headers: Headers;
  readonly body: string;
}

type TokenResponse = oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers;

export class EntraProvider extends OidcProvider {
  readonly #authority: string;
  readonly #multi: boolean;
  readonly #tenant: string;
  readonly #allowed: ReadonlySet<string>;
  readonly #graphUrl: string;
  readonly #overage: boolean;
  /** Per-tenant configurations of a multi-tenant app, for allowed tenants only (bounded). */
  readonly #tenants = new Map<string, oidc.Configuration>();

  constructor(config: ResolvedProviderOf<'entra'>, opts: ProviderOptions) {
    const authority = config.authority.replace(/\/+$/, '');
    super(config, opts, {
      ...baseSettings(config),
      issuer: config.issuer,
      discoveryUrl: `${authority}/${config.tenant}/v2.0/.well-known/openid-configuration`,
      mapping: { ...STANDARD_MAPPING, emailVerified: undefined },
    });
    this.#authority = authority;
    this.#tenant = config.tenant;
    this.#multi = ENTRA_MULTI_TENANT.has(config.tenant.toLowerCase());
    this.#allowed = new Set((config.allowedTenants ?? []).map((t) => t.toLowerCase()));
    this.#graphUrl = config.graphUrl.replace(/\/+$/, '');
    this.#overage = config.groupOverage;
  }

  protected override defaultDisplayName(): string {
    return 'Microsoft';
  }

  /** Discovery from the tenant's document, with the issuer it announces checked against the tenant. */
  protected override async loadConfiguration(): Promise<oidc.Configuration> {
    const config = await super.loadConfiguration();
    const announced = config.serverMetadata().issuer;
    const expected = this.#multi
      ? `${this.#authority}/{tenantid}/v2.0`
      : `${this.#authority}/${this.#tenant}/v2.0`;
    // A tenant given by domain name (contoso.onmicrosoft.com) announces its tenant id instead.
    const byDomain = !this.#multi && !GUID.test(this.#tenant);
    const ok = byDomain
      ? announced.startsWith(`${this.#authority}/`) &&
        GUID.test(announced.slice(this.#authority.length + 1, -5)) &&
        announced.endsWith('/v2.0')
      : announced === expected;
    if (!ok) {
      throw new PortcullisError(
        'PCL_IDP_UNREACHABLE',
        `discovery of ${this.settings.discoveryUrl} announces issuer ${announced}, expected ${expected}`,
      );
    }
    return config;
  }

  /** The configuration that validates tokens of tenant `tid` (a multi-tenant app's issuer template filled in). */
  async #tenantConfiguration(tid: string): Promise<oidc.Configuration> {
    const key = tid.toLowerCase();
    const cached = this.#tenants.get(key);
    if (cached !== undefined) return cached;
    const base = (await this.discover()).serverMetadata();
    const config = this.configurationFor({
      ...base,
      issuer: base.issuer.replace('{tenantid}', tid),
    } as unknown as oidc.ServerMetadata);
    if (this.#allowed.has(key)) this.#tenants.set(key, config);
    return config;
  }

  protected override async exchange(
    config: oidc.Configuration,
    callbackUrl: URL,
    flow: FlowSecrets,
  ): Promise<TokenResponse> {
    if (!this.#multi) return super.exchange(config, callbackUrl, flow);
    const metadata = config.serverMetadata();
    const tokenEndpoint = metadata.token_endpoint === undefined ? '' : new URL(metadata.token_endpoint).href;
    const isTokenEndpoint = (url: string) => URL.canParse(url) && new URL(url).href === tokenEndpoint;
    const realFetch = fetchOf(this.opts.fetch);
    const checks = {
      pkceCodeVerifier: flow.codeVerifier,
      expectedState: flow.state,
      expectedNonce: flow.nonce,
      idTokenExpected: true,
    };
    // 1. Redeem the code (openid-client validates the callback and sends the request) and keep the answer.
    let captured: CapturedResponse | undefined;
    const capturing = this.configurationFor(metadata);
    capturing[oidc.customFetch] = async (url, init) => {
      const res = await realFetch(url, init);
      if (!isTokenEndpoint(url)) return res;
      captured = { status: res.status, headers: res.headers, body: await res.text() };
      throw new Captured();
    };
    try {
      await oidc.authorizationCodeGrant(capturing, callbackUrl, checks);
    } catch (err) {
      // Anything but the capture (a bad state, iss, an unreachable endpoint) is the sign-in's failure.
      if (captured === undefined) throw classify(err);
    }
    if (captured === undefined)
      throw new PortcullisError('PCL_INTERNAL', 'Entra: the token response was not captured');
    // 2. The tenant the answer claims to come from (untrusted until step 3 validates the token as its issuer).
    let tid: string | undefined;
    if (captured.status === 200) {
      try {
        const body = JSON.parse(captured.body) as Record<string, unknown>;
        tid = typeof body['id_token'] === 'string' ? str(decodeJwt(body['id_token'])['tid']) : undefined;
      } catch {
        tid = undefined;
      }
      if (tid === undefined || !GUID.test(tid)) {
        throw new PortcullisError('PCL_ID_TOKEN_INVALID', 'Entra: the ID token has no valid tid (tenant id)');
      }
    }
    // 3. The same answer, validated by openid-client against that tenant's issuer.
    const tenantConfig =
      tid === undefined ? this.configurationFor(metadata) : await this.#tenantConfiguration(tid);
    const replay = this.configurationFor(tenantConfig.serverMetadata());
    let replayed = false;
    replay[oidc.customFetch] = async (url, init) => {
      if (isTokenEndpoint(url) && !replayed && captured !== undefined) {
        replayed = true;
        return new Response(captured.body, { status: captured.status, headers: captured.headers });
      }
      return realFetch(url, init);
    };
    try {
      return await oidc.authorizationCodeGrant(replay, callbackUrl, checks);
    } catch (err) {
      throw classify(err);
    }
  }

  protected override configurationForSession(identity: Identity): Promise<oidc.Configuration> {
    if (!this.#multi) return this.discover();
    if (identity.tenant === undefined || !GUID.test(identity.tenant)) {
      return Promise.reject(new PortcullisError('PCL_ID_TOKEN_INVALID', 'Entra: the session has no tenant'));
    }
    return this.#tenantConfiguration(identity.tenant);
  }

  protected override async enrich(identity: Identity, ctx: ProfileContext): Promise<Identity> {
    const tid = str(ctx.claims['tid']);
    let next: Identity = tid === undefined ? identity : { ...identity, tenant: tid.toLowerCase() };
    if (this.#multi && next.email !== undefined) {
      const edov = bool(ctx.claims['xms_edov']) ?? (ctx.claims['xms_edov'] === 1 ? true : undefined);
      next = withEmailPolicy({ ...next, emailVerified: edov === true }, this.settings.allowUnverifiedEmail);
    }
    const names = claimAt(ctx.claims, '_claim_names.groups');
    if (next.groups.length === 0 && names !== undefined && this.#overage) {
      next = { ...next, groups: await this.#graphGroups(ctx.accessToken) };
    }
    return next;
  }

  /** Group overage: the user's groups (transitive) from Microsoft Graph. */
  async #graphGroups(accessToken: string | undefined): Promise<string[]> {
    if (accessToken === undefined)
      throw new PortcullisError('PCL_USERINFO_FAILED', 'Entra: no access token for Graph');
    try {
      const r = await callApi(this.opts.fetch, this.opts.timeoutSeconds, {
        url: `${this.#graphUrl}/v1.0/me/getMemberObjects`,
        accessToken,
        method: 'POST',
        json: { securityEnabledOnly: false },
        label: 'Microsoft Graph /me/getMemberObjects',
      });
      if (!isRecord(r.body))
        throw new PortcullisError('PCL_USERINFO_FAILED', 'Microsoft Graph: not a JSON object');
      return strings(r.body['value']);
    } catch (err) {
      if (err instanceof PortcullisError) throw err;
      throw new PortcullisError('PCL_USERINFO_FAILED', `Microsoft Graph: ${describe(err)}`, { cause: err });
    }
  }
}
