/**
 * The cross-field problems of bearer settings (docs/api-access.md), reported with every other problem at
 * start-up: sources named by routes that do not exist, ids shared with providers, a provider type whose
 * tokens are not JWTs, a clock skew so wide that an expired token would live on.
 */
import { allowBlocks } from './access-rules.ts';
import type { Config } from './schema.ts';

/** Provider types that sign JWTs with a published key set (OpenID Connect). */
const JWT_TYPES = new Set(['oidc', 'google', 'entra', 'gitlab', 'keycloak']);

/**
 * The source id of Portcullis's own issuer: its clients' client_credentials tokens. Never part of
 * `routes[].bearer: true`: a route names it to accept machines.
 */
export const ISSUER_SOURCE = 'issuer';

/** At most this long (seconds) an opaque token's answer is cached: the delay before a revocation counts. */
export const MAX_OPAQUE_TTL = 600;

/** At most this much clock skew (seconds): RFC 9068 tokens commonly live 5–60 minutes. */
export const MAX_BEARER_SKEW = 300;

/** Ids of every bearer source: providers with a `bearer` section, then `bearer.issuers`. */
export function bearerSourceIds(c: Pick<Config, 'providers' | 'bearer'>): string[] {
  return [
    ...c.providers.filter((p) => p.bearer !== undefined).map((p) => p.id),
    ...c.bearer.issuers.map((b) => b.id),
  ];
}

/** The issuer clients that may hold client_credentials tokens. */
function machineClients(c: Pick<Config, 'issuer'>): Set<string> {
  return new Set((c.issuer?.clients ?? []).filter((x) => x.clientCredentials).map((x) => x.id));
}

export function bearerProblems(
  c: Pick<Config, 'providers' | 'bearer' | 'routes' | 'issuer' | 'allow'>,
): string[] {
  const problems: string[] = [];
  const machines = machineClients(c);
  for (const { key, allow } of allowBlocks(c)) {
    for (const id of allow.clients ?? []) {
      if (!machines.has(id)) {
        problems.push(
          `${key}.clients: "${id}" is not an issuer client with clientCredentials: true${machines.size > 0 ? ` (those are: ${[...machines].join(', ')})` : ''}`,
        );
      }
    }
  }
  if (c.bearer.clockSkew > MAX_BEARER_SKEW) {
    problems.push(`bearer.clockSkew: at most ${MAX_BEARER_SKEW}s, else expired tokens stay valid that long`);
  }
  c.providers.forEach((p, i) => {
    if (p.bearer === undefined) return;
    if (!JWT_TYPES.has(p.type) && p.bearer.opaque === undefined) {
      problems.push(
        `providers[${i}].bearer: a ${p.type} provider issues opaque tokens, not JWTs; set bearer.opaque: userinfo`,
      );
    }
    if (!JWT_TYPES.has(p.type) && p.bearer.opaque === 'introspection') {
      problems.push(
        `providers[${i}].bearer.opaque: a ${p.type} provider has no RFC 7662 introspection endpoint; use userinfo`,
      );
    }
  });
  if (c.bearer.opaqueCache.ttl > MAX_OPAQUE_TTL) {
    problems.push(
      `bearer.opaqueCache.ttl: at most ${MAX_OPAQUE_TTL}s, else a revoked token keeps working that long`,
    );
  }
  const opaque = new Set(c.providers.filter((p) => p.bearer?.opaque !== undefined).map((p) => p.id));
  const providerIds = new Set(c.providers.map((p) => p.id));
  const seen = new Set<string>();
  c.bearer.issuers.forEach((b, i) => {
    if (b.id === ISSUER_SOURCE) {
      problems.push(
        `bearer.issuers[${i}].id: "${ISSUER_SOURCE}" names Portcullis's own issuer; choose another id`,
      );
    } else if (providerIds.has(b.id)) {
      problems.push(
        `bearer.issuers[${i}].id: "${b.id}" is a provider id; bearer issuers need ids of their own`,
      );
    } else if (seen.has(b.id)) {
      problems.push(`bearer.issuers[${i}].id: "${b.id}" is used twice`);
    }
    seen.add(b.id);
  });
  const sources = new Set(bearerSourceIds(c));
  if (c.issuer !== undefined) sources.add(ISSUER_SOURCE);
  c.routes.forEach((r, i) => {
    if (r.bearer === false) return;
    if (r.public) {
      problems.push(`routes[${i}].bearer: a public route lets everyone in; remove bearer or public`);
      return;
    }
    // An opaque token says nothing of its issuer: sent to every candidate IdP, it would leak to all but one.
    const taken = r.bearer === true ? [...opaque] : r.bearer.filter((id) => opaque.has(id));
    if (taken.length > 1) {
      problems.push(
        `routes[${i}].bearer: takes opaque tokens of ${taken.join(' and ')}; an opaque token names no issuer, so a route may take those of one provider only`,
      );
    }
    if (r.bearer === true) {
      if (bearerSourceIds(c).length === 0) {
        problems.push(
          `routes[${i}].bearer: no bearer source is configured (add a bearer section to a provider, or bearer.issuers)`,
        );
      }
      return;
    }
    for (const id of r.bearer) {
      if (!sources.has(id)) {
        problems.push(
          `routes[${i}].bearer: "${id}" is not a bearer source${sources.size > 0 ? ` (sources: ${[...sources].join(', ')})` : ''}; a provider needs a bearer section to be one`,
        );
      }
    }
  });
  return problems;
}
