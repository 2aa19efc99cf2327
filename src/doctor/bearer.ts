/**
 * Bearer sources (docs/api-access.md): a provider with a `bearer` section, and each `bearer.issuers[]`
 * entry. A token on a bearer route is verified against the source's key set, or asked about at its
 * introspection or userinfo endpoint; if that does not answer, every API call with a token fails with 401
 * or 502 although sign-in works, so the checks ask it once, with a token that cannot be valid.
 */
import { randomBytes } from 'node:crypto';
import { createLocalJWKSet } from 'jose';
import { type Check, type DoctorIo, fail, ok, type Result, skip, warn } from './finding.ts';
import { excerpt, jsonObject, request } from './http.ts';
import { canVerify } from './jwks.ts';
import { formUrlEncode } from './probes.ts';
import { str, strings } from './providers.ts';
import type { BearerScope, ProviderScope } from './scope.ts';

/** A token no IdP issued: the probe needs an answer, never a success. */
function dummyToken(): string {
  return `portcullis-check-${randomBytes(16).toString('base64url')}`;
}

/** Which of `algorithms` a key of `keys` verifies. */
async function verifiable(keys: readonly Record<string, unknown>[], algorithms: readonly string[]) {
  const out: string[] = [];
  for (const alg of algorithms) {
    for (const k of keys) {
      if (await canVerify(k, alg)) {
        out.push(alg);
        break;
      }
    }
  }
  return out;
}

/** Bearer JWTs of a provider are verified with the key set provider.jwks fetched. */
async function providerJwt(s: ProviderScope, algorithms: readonly string[]): Promise<Result> {
  if (s.keys === undefined || s.keys.length === 0) {
    return fail('bearer JWTs cannot be verified: the provider’s JWKS is not available (see provider.jwks)');
  }
  const can = await verifiable(s.keys, algorithms);
  if (can.length === 0) {
    return fail(`no key in the JWKS verifies the bearer algorithms (${algorithms.join(', ')})`, {
      fix: `set ${s.provider.key}.bearer.algorithms to algorithms the IdP signs with`,
    });
  }
  return ok(`bearer JWTs are verified with the provider’s JWKS (${can.join(', ')})`);
}

/** RFC 7662 §2: POST token=…, authenticated as the client; an unknown token is `{"active": false}`. */
async function introspection(s: ProviderScope, io: DoctorIo): Promise<Result> {
  const url = str(s.discovery?.metadata['introspection_endpoint']);
  if (url === undefined) {
    return fail('bearer.opaque: introspection, but the IdP advertises no introspection_endpoint', {
      fix: `enable token introspection at the IdP for this client, or set ${s.provider.key}.bearer.opaque: userinfo`,
    });
  }
  const p = s.provider;
  const body = new URLSearchParams({ token: dummyToken(), token_type_hint: 'access_token' });
  const headers: Record<string, string> = {
    'content-type': 'application/x-www-form-urlencoded',
    accept: 'application/json',
  };
  if (p.authMethod === 'client_secret_post' || p.secret === undefined) {
    body.set('client_id', p.clientId);
    if (p.secret !== undefined) body.set('client_secret', p.secret);
  } else {
    headers['authorization'] =
      `Basic ${Buffer.from(`${formUrlEncode(p.clientId)}:${formUrlEncode(p.secret)}`).toString('base64')}`;
  }
  const a = await request(io, url, { method: 'POST', headers, body: body.toString() }, s.dates);
  if (!a.ok) {
    return fail(`cannot reach the introspection endpoint ${url}: ${a.error}`, {
      fix: 'opaque tokens cannot be checked: make the endpoint reachable from this host',
    });
  }
  const json = jsonObject(a.body);
  if (a.status === 200 && json?.['active'] === false) {
    return ok(`the introspection endpoint ${url} answers (a made-up token is inactive)`);
  }
  const error = str(json?.['error']);
  if (a.status === 401 || error === 'invalid_client' || error === 'unauthorized_client') {
    return fail(
      `the introspection endpoint ${url} refuses this client (HTTP ${a.status}${error ? ` ${error}` : ''})`,
      {
        fix: `allow ${p.clientId} to introspect tokens at the IdP, and check its secret`,
        detail: excerpt(a.body),
      },
    );
  }
  return fail(`the introspection endpoint ${url} answered HTTP ${a.status}, not an RFC 7662 answer`, {
    detail: excerpt(a.body),
  });
}

/** The profile endpoint with a made-up token: a 401 (RFC 6750 §3.1) shows it answers. */
async function userinfo(s: ProviderScope, io: DoctorIo): Promise<Result> {
  const url = s.endpoints?.userinfo;
  if (url === undefined) {
    return fail('bearer.opaque: userinfo, but the userinfo endpoint is unknown', {
      fix: `set ${s.provider.key}.userInfoUrl, or use bearer.opaque: introspection`,
    });
  }
  const a = await request(
    io,
    url,
    { headers: { authorization: `Bearer ${dummyToken()}`, accept: 'application/json' } },
    s.dates,
  );
  if (!a.ok) {
    return fail(`cannot reach the userinfo endpoint ${url}: ${a.error}`, {
      fix: 'opaque tokens cannot be checked: make the endpoint reachable from this host',
    });
  }
  if (a.status === 401 || a.status === 403) {
    return ok(`the userinfo endpoint ${url} answers (a made-up token: HTTP ${a.status})`);
  }
  return warn(`the userinfo endpoint ${url} answered a made-up token with HTTP ${a.status}, not 401`, {
    detail: excerpt(a.body),
  });
}

export const providerBearer: Check<ProviderScope> = {
  id: 'provider.bearer',
  when: 'live',
  title:
    'with a bearer section: the JWKS verifies the bearer algorithms; the introspection or userinfo endpoint answers',
  async run(s, io) {
    const bearer = s.provider.raw['bearer'];
    if (bearer === undefined || bearer === null || typeof bearer !== 'object') return undefined;
    if (s.location.kind === 'unknown') return skip('not checked: the IdP’s location is unknown');
    const b = bearer as Record<string, unknown>;
    const out: Result[] = [];
    const jwtCapable = s.location.kind === 'discovery' || s.endpoints?.jwks !== undefined;
    if (jwtCapable) {
      const algorithms = strings(b['algorithms']) ?? s.provider.idTokenSigningAlgs ?? ['RS256'];
      out.push(await providerJwt(s, algorithms));
    }
    const opaque = str(b['opaque']);
    if (opaque !== undefined && s.discovery === undefined && opaque === 'introspection') {
      out.push(skip(`not checked: ${s.unavailable ?? 'needs the discovery document'}`));
    } else if (opaque === 'introspection') out.push(await introspection(s, io));
    else if (opaque === 'userinfo') out.push(await userinfo(s, io));
    return out;
  },
};

/** The jwks_uri of a bearer issuer: configured, or from its discovery document (whose issuer must match). */
async function issuerJwksUri(s: BearerScope, io: DoctorIo): Promise<string | Result> {
  if (s.source.jwksUrl !== undefined) return s.source.jwksUrl;
  const url = `${s.source.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
  const a = await request(io, url, { headers: { accept: 'application/json' } });
  const key = `bearer.issuers[${s.index}]`;
  if (!a.ok)
    return fail(`cannot fetch ${url}: ${a.error}`, { fix: `check ${key}.issuer, or set ${key}.jwksUrl` });
  const doc = jsonObject(a.body);
  if (a.status !== 200 || doc === undefined) {
    return fail(`${url} answered HTTP ${a.status} without a discovery document`, {
      fix: `check ${key}.issuer, or set ${key}.jwksUrl`,
      detail: excerpt(a.body),
    });
  }
  // OpenID Connect Discovery 1.0 §4.3: the document's issuer must be the one asked for; serve refuses it too.
  if (doc['issuer'] !== s.source.issuer) {
    return fail(`${url} publishes issuer ${String(doc['issuer'])}, not ${s.source.issuer}`, {
      fix: `set ${key}.issuer: ${String(doc['issuer'])} (exactly the iss its tokens carry)`,
    });
  }
  const uri = str(doc['jwks_uri']);
  return uri ?? fail(`${url} has no jwks_uri`, { fix: `set ${key}.jwksUrl` });
}

export const issuerJwks: Check<BearerScope> = {
  id: 'bearer.jwks',
  when: 'live',
  title: 'each bearer issuer’s JWKS (configured or discovered) answers with a key for its algorithms',
  async run(s, io) {
    const uri = await issuerJwksUri(s, io);
    if (typeof uri !== 'string') return uri;
    const a = await request(io, uri, { headers: { accept: 'application/json' } });
    if (!a.ok) return fail(`cannot fetch the JWKS at ${uri}: ${a.error}`);
    const doc = jsonObject(a.body);
    const keys = Array.isArray(doc?.['keys']) ? (doc['keys'] as unknown[]) : undefined;
    if (a.status !== 200 || doc === undefined || keys === undefined) {
      return fail(`the JWKS at ${uri} answered HTTP ${a.status} without a JWK Set`, {
        detail: excerpt(a.body),
      });
    }
    try {
      createLocalJWKSet(doc as unknown as Parameters<typeof createLocalJWKSet>[0]);
    } catch (err) {
      return fail(`${uri} is not a valid JWK Set: ${(err as Error).message}`);
    }
    const objects = keys.filter((k): k is Record<string, unknown> => typeof k === 'object' && k !== null);
    // The default of src/bearer/sources.ts.
    const algorithms = s.source.algorithms ?? ['RS256', 'ES256'];
    const can = await verifiable(objects, algorithms);
    if (can.length === 0) {
      return fail(`no key at ${uri} verifies ${algorithms.join(', ')}`, {
        fix: `set bearer.issuers[${s.index}].algorithms to the algorithms the issuer signs with`,
      });
    }
    return ok(`${objects.length} key${objects.length === 1 ? '' : 's'} at ${uri} (${can.join(', ')})`);
  },
};
