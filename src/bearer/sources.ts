/**
 * Where bearer JWTs may come from: sign-in providers with a `bearer` section (their discovery, key set and
 * claim mapping — the identity is made as at sign-in) and issuers trusted for bearer use only
 * (`bearer.issuers`: a CI system's OIDC tokens), each with the audiences accepted.
 */
import type { JWTVerifyGetKey } from 'jose';
import type { CustomFetch } from 'openid-client';
import type { ResolvedConfig } from '../config/load.ts';
import type { BearerIssuerConfig } from '../config/schema.ts';
import { PortcullisError } from '../errors/codes.ts';
import { identityFromProfile } from '../idp/claims.ts';
import { isRecord } from '../idp/http.ts';
import { KeySets } from '../idp/jwks.ts';
import type { IdentityProvider, JwtKeys, OpaqueToken } from '../idp/provider.ts';
import type { Identity } from '../sessions/session.ts';

export interface BearerSource {
  /** The provider id or the bearer issuer id: the principal's provider (X-Forwarded-Provider, rules). */
  readonly id: string;
  /** The `iss` its tokens carry (known without a network call: the configured issuer). */
  readonly issuer: string;
  readonly audiences: readonly string[];
  /** Configured algorithms; undefined: the provider's. */
  readonly algorithms: readonly string[] | undefined;
  /** Absent for a source that signs no JWTs (plain OAuth2 providers: opaque tokens only). */
  readonly keys?: (() => Promise<JwtKeys>) | undefined;
  /** Providers with `bearer.opaque`: asks the IdP about an opaque token (introspection or userinfo). */
  readonly opaque?: ((token: string) => Promise<OpaqueToken | undefined>) | undefined;
  identity(claims: Readonly<Record<string, unknown>>): Promise<Identity | undefined>;
}

export interface SourceOptions {
  readonly timeoutSeconds: number;
  readonly fetch?: CustomFetch | undefined;
  /** Claim paths some `requirements` rule reads for this source's principals. */
  readonly keepClaims: (id: string) => readonly string[];
}

function providerSource(p: IdentityProvider): BearerSource | undefined {
  const b = p.config.bearer;
  if (b === undefined) return undefined;
  const opaque = b.opaque !== undefined && p.opaqueToken !== undefined ? p.opaqueToken.bind(p) : undefined;
  return {
    id: p.id,
    issuer: p.issuer,
    audiences: b.audiences ?? [p.config.clientId],
    algorithms: b.algorithms,
    // Plain OAuth2 types sign no JWTs: their tokens are opaque only (config/bearer.ts requires bearer.opaque).
    keys: p.jwtKeys?.bind(p),
    identity: p.identityFromClaims?.bind(p) ?? (async () => undefined),
    opaque,
  };
}

/** The jwks_uri of an issuer's discovery document (OpenID Connect Discovery 1.0 §4), fetched once. */
async function discoverJwksUri(issuer: string, o: SourceOptions): Promise<string> {
  const url = `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
  const f = (o.fetch ?? fetch) as typeof fetch;
  const res = await f(url, { signal: AbortSignal.timeout(o.timeoutSeconds * 1000) });
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  const doc: unknown = await res.json();
  if (!isRecord(doc) || typeof doc['jwks_uri'] !== 'string') throw new Error(`${url}: no jwks_uri`);
  // OpenID Connect Discovery 1.0 §4.3: the document's issuer must be the one asked for (mix-up).
  if (doc['issuer'] !== issuer) throw new Error(`${url}: announces issuer ${String(doc['issuer'])}`);
  return doc['jwks_uri'];
}

function issuerSource(b: BearerIssuerConfig, sets: KeySets, o: SourceOptions): BearerSource {
  let uri: Promise<string> | undefined;
  const jwksUri = (): Promise<string> => {
    if (b.jwksUrl !== undefined) return Promise.resolve(b.jwksUrl);
    uri ??= discoverJwksUri(b.issuer, o).catch((err: unknown) => {
      uri = undefined;
      throw new PortcullisError('PCL_IDP_UNREACHABLE', `discovery of ${b.issuer}: ${String(err)}`);
    });
    return uri;
  };
  const mapping = {
    sub: [b.userClaim],
    email: b.emailClaim,
    emailVerified: 'email_verified',
    username: b.usernameClaim,
    name: 'name',
    groups: b.groupsClaim,
  };
  return {
    id: b.id,
    issuer: b.issuer,
    audiences: b.audiences,
    algorithms: b.algorithms,
    async keys() {
      return {
        issuer: b.issuer,
        keys: sets.for(await jwksUri()),
        algorithms: b.algorithms ?? ['RS256', 'ES256'],
      };
    },
    async identity(claims) {
      return identityFromProfile(claims, mapping, {
        keepClaims: o.keepClaims(b.id),
        allowUnverifiedEmail: false,
      });
    },
  };
}

/** Every bearer source of a configuration, by id. */
export function bearerSources(
  config: ResolvedConfig,
  providers: ReadonlyMap<string, IdentityProvider>,
  o: SourceOptions,
): ReadonlyMap<string, BearerSource> {
  const out = new Map<string, BearerSource>();
  for (const p of providers.values()) {
    const s = providerSource(p);
    if (s !== undefined) out.set(s.id, s);
  }
  const sets = new KeySets({ timeoutSeconds: o.timeoutSeconds, fetch: o.fetch });
  for (const b of config.bearer.issuers) out.set(b.id, issuerSource(b, sets, o));
  return out;
}

export type { JWTVerifyGetKey };
