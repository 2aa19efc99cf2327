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
 *   groups (200 in a JWT) Entra sends the overage indicator `_claim_names: { groups: … }` instead, and the
 *   groups are read from Microsoft Graph, GET /v1.0/me/transitiveMemberOf, following @odata.nextLink
 *   (delegated User.Read suffices for /me; https://learn.microsoft.com/graph/api/user-list-transitivememberof,
 *   https://learn.microsoft.com/entra/identity-platform/id-token-claims-reference#groups-overage-claim).
 *   The endpoint named in `_claim_sources` (the retired Azure AD Graph) is never called;
 * - e-mail: Entra does not verify the `email` claim: it is the user's mail attribute, which an administrator
 *   of the user's directory can set to any address. In a multi-tenant application that directory may be
 *   anyone's, so a stranger's admin could claim one of your addresses (the "nOAuth" account takeover,
 *   https://learn.microsoft.com/entra/identity-platform/migrate-off-email-claim-authorization). There the
 *   address counts only with the `xms_edov` optional claim (the domain's owner verified it); in a single
 *   tenant it is the operator's own directory's, and still dropped when `xms_edov` says false. Without
 *   `email`, the `upn` optional claim is used: a member's UPN suffix is always a domain its directory has
 *   verified (guests' `…#EXT#@…` UPNs excepted). `preferred_username` is never an e-mail address here:
 *   Microsoft documents it as mutable and not for authorization decisions.
 */
import { decodeJwt } from 'jose/jwt/decode';
import * as oidc from 'openid-client';
import { ENTRA_MULTI_TENANT, type ResolvedProviderOf } from '../config/providers.ts';
import { PortcullisError } from '../errors/codes.ts';
import type { Identity } from '../sessions/session.ts';
import { bool, claimAt, str, withEmailPolicy } from './claims.ts';
import { callApi, fetchOf, isRecord } from './http.ts';
import { baseSettings, classify, OidcProvider, type ProfileContext, STANDARD_MAPPING } from './oidc.ts';
import type { FlowSecrets, ProviderOptions } from './provider.ts';

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Graph answers up to 999 objects a page; 50 pages is far beyond any directory's group count. */
const GRAPH_MAX_PAGES = 50;

/** A boolean optional claim, as Entra may spell it: true/false, "true"/"false", 1/0, "1"/"0". */
function flag(v: unknown): boolean | undefined {
  if (v === 1 || v === '1') return true;
  if (v === 0 || v === '0') return false;
  return bool(v);
}

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
      : announced.toLowerCase() === expected.toLowerCase();
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
    // The RFC 9207 iss parameter, should Entra send one, names the user's tenant: it cannot match the
    // template yet, and is checked in step 3 against the tenant's issuer.
    const withoutIss = new URL(callbackUrl.href);
    withoutIss.searchParams.delete('iss');
    try {
      await oidc.authorizationCodeGrant(capturing, withoutIss, checks);
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
    const tid = str(ctx.claims['tid'])?.toLowerCase();
    let next: Identity = tid === undefined ? identity : { ...identity, tenant: tid };
    next = withEmailPolicy(this.#email(next, ctx.claims), this.settings.allowUnverifiedEmail);
    // A multi-tenant app's user from a directory not allowed is refused by the tenant rule: no Graph
    // calls on behalf of strangers.
    const allowedTenant = !this.#multi || (tid !== undefined && this.#allowed.has(tid));
    // The overage indicator (code flow: `_claim_names.groups`; implicit flow: `hasgroups`) replaces the
    // groups claim when the user is in more groups than fit in the token.
    const overage =
      claimAt(ctx.claims, '_claim_names.groups') !== undefined || bool(ctx.claims['hasgroups']) === true;
    if (overage && next.groups.length === 0 && this.#overage && allowedTenant) {
      next = { ...next, groups: await this.#graphGroups(ctx.accessToken) };
    }
    return next;
  }

  /**
   * The e-mail address, decided against nOAuth (see the top of this file): `email` with `xms_edov` true
   * is verified; `xms_edov` false marks it unverified (dropped unless insecureAllowUnverifiedEmail); without
   * `xms_edov`, a multi-tenant app treats it as unverified and a single tenant keeps it as its own
   * directory's. No `email`: a member's `upn`, whose domain its directory has verified.
   */
  #email(identity: Identity, claims: Readonly<Record<string, unknown>>): Identity {
    const edov = flag(claims['xms_edov']);
    if (identity.email !== undefined) {
      const verified = edov ?? (this.#multi ? false : undefined);
      return { ...identity, emailVerified: verified };
    }
    const upn = str(claims['upn']);
    if (upn !== undefined && !upn.includes('#EXT#') && upn.split('@').length === 2) {
      return { ...identity, email: upn, emailVerified: true };
    }
    return identity;
  }

  /** Group overage: the user's groups (transitive) from Microsoft Graph, page by page. */
  async #graphGroups(accessToken: string | undefined): Promise<string[]> {
    if (accessToken === undefined)
      throw new PortcullisError('PCL_USERINFO_FAILED', 'Entra: no access token for Microsoft Graph');
    const groups: string[] = [];
    const graphOrigin = new URL(this.#graphUrl).origin;
    let url: string | undefined = `${this.#graphUrl}/v1.0/me/transitiveMemberOf?$select=id&$top=999`;
    for (let page = 0; url !== undefined; page++) {
      if (page >= GRAPH_MAX_PAGES) {
        throw new PortcullisError(
          'PCL_USERINFO_FAILED',
          `Microsoft Graph /me/transitiveMemberOf: more than ${GRAPH_MAX_PAGES} pages`,
        );
      }
      const r = await callApi(this.opts.fetch, this.opts.timeoutSeconds, {
        url,
        accessToken,
        label: 'Microsoft Graph /me/transitiveMemberOf',
      });
      if (!isRecord(r.body) || !Array.isArray(r.body['value'])) {
        throw new PortcullisError(
          'PCL_USERINFO_FAILED',
          'Microsoft Graph: not a directory object collection',
        );
      }
      for (const item of r.body['value']) {
        if (!isRecord(item) || typeof item['id'] !== 'string') continue;
        // Groups only: the collection also lists directory roles and administrative units.
        const type = item['@odata.type'];
        if (type === undefined || type === '#microsoft.graph.group') groups.push(item['id']);
      }
      const next = r.body['@odata.nextLink'];
      if (next === undefined) url = undefined;
      else if (typeof next === 'string' && URL.canParse(next) && new URL(next).origin === graphOrigin) {
        url = next;
      } else {
        // The access token goes to Microsoft Graph and nowhere else.
        throw new PortcullisError(
          'PCL_USERINFO_FAILED',
          'Microsoft Graph: @odata.nextLink does not point at graphUrl; not followed',
        );
      }
    }
    return groups;
  }
}
