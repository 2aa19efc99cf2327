/**
 * The IdP's signing keys (jwks_uri) and whether they can verify the ID token algorithms Portcullis will
 * accept. Keys are parsed by jose, never by hand.
 */
import { createLocalJWKSet, importJWK, type JWK } from 'jose';
import { type Check, fail, ok, skip, warn } from './finding.ts';
import { excerpt, jsonObject, request } from './http.ts';
import { str, strings } from './providers.ts';
import type { ProviderScope } from './scope.ts';

export const jwks: Check<ProviderScope> = {
  id: 'provider.jwks',
  when: 'live',
  title: 'the JWKS can be fetched and holds usable public keys',
  async run(s, io) {
    if (s.location.kind === 'unknown') return undefined;
    const url = s.endpoints?.jwks;
    if (url === undefined) {
      // Plain OAuth 2.0 providers without ID tokens have no keys to check.
      if (s.location.kind === 'endpoints') return undefined;
      return skip(`not checked: ${s.unavailable ?? 'the discovery document has no jwks_uri'}`);
    }
    const a = await request(io, url, { headers: { accept: 'application/json' } }, s.dates);
    if (!a.ok) {
      return fail(`cannot fetch the JWKS at ${url}: ${a.error}`, {
        fix: 'ID tokens cannot be verified without the keys: make jwks_uri reachable from this host',
      });
    }
    if (a.status !== 200) {
      return fail(`the JWKS at ${url} answered HTTP ${a.status}`, {
        fix: 'ID tokens cannot be verified without the keys: check the IdP (and any proxy in front of it)',
        detail: excerpt(a.body),
      });
    }
    const doc = jsonObject(a.body);
    const keys = Array.isArray(doc?.['keys']) ? (doc['keys'] as unknown[]) : undefined;
    if (doc === undefined || keys === undefined) {
      return fail(`${url} is not a JWK Set (RFC 7517 §5: a JSON object with "keys")`, {
        detail: excerpt(a.body),
      });
    }
    try {
      createLocalJWKSet(doc as unknown as Parameters<typeof createLocalJWKSet>[0]);
    } catch (err) {
      return fail(`${url} is not a valid JWK Set: ${(err as Error).message}`);
    }
    const objects = keys.filter((k): k is Record<string, unknown> => typeof k === 'object' && k !== null);
    s.keys = objects;
    if (objects.length === 0) return fail(`the JWKS at ${url} has no keys`);
    // A published private key lets anyone sign ID tokens the IdP never issued.
    const secretMembers = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'];
    const leaking = objects.filter((k) => secretMembers.some((m) => m in k));
    if (leaking.length > 0) {
      return fail(
        `the JWKS at ${url} publishes private or symmetric key material (${leaking.map(describeKey).join(', ')}); anyone can forge ID tokens`,
        { fix: 'rotate those keys at the IdP and publish only public keys' },
      );
    }
    return ok(
      `${objects.length} key${objects.length > 1 ? 's' : ''} at ${url}: ${objects.map(describeKey).join(', ')}`,
    );
  },
};

function describeKey(k: Record<string, unknown>): string {
  const parts = [str(k['kty']) ?? '?'];
  const n = str(k['n']);
  if (n) parts.push(`${Buffer.from(n, 'base64url').length * 8}-bit`);
  if (str(k['crv'])) parts.push(String(k['crv']));
  if (str(k['alg'])) parts.push(String(k['alg']));
  if (str(k['kid'])) parts.push(`kid ${String(k['kid'])}`);
  return parts.join(' ');
}

/** The key type (and curve) each JWS algorithm needs (RFC 7518 §3, RFC 8037 §3.1). */
function keyTypeFor(alg: string): { kty: string; crv?: readonly string[] } | undefined {
  if (/^(RS|PS)(256|384|512)$/.test(alg)) return { kty: 'RSA' };
  if (alg === 'ES256') return { kty: 'EC', crv: ['P-256'] };
  if (alg === 'ES384') return { kty: 'EC', crv: ['P-384'] };
  if (alg === 'ES512') return { kty: 'EC', crv: ['P-521'] };
  if (alg === 'EdDSA') return { kty: 'OKP', crv: ['Ed25519', 'Ed448'] };
  if (alg === 'Ed25519') return { kty: 'OKP', crv: ['Ed25519'] };
  return undefined;
}

/** Whether this JWK can verify signatures made with `alg`: type, curve, use, key_ops and jose's import. */
export async function canVerify(key: Record<string, unknown>, alg: string): Promise<boolean> {
  const need = keyTypeFor(alg);
  if (need === undefined || key['kty'] !== need.kty) return false;
  if (need.crv && !need.crv.includes(String(key['crv']))) return false;
  if (key['use'] !== undefined && key['use'] !== 'sig') return false;
  if (key['alg'] !== undefined && key['alg'] !== alg) return false;
  const ops = strings(key['key_ops']);
  if (ops !== undefined && !ops.includes('verify')) return false;
  try {
    const imported = await importJWK(key as JWK, alg);
    // openid-client (oauth4webapi) and jose refuse RSA keys under 2048 bits when verifying.
    if (need.kty === 'RSA') {
      const bits = (imported as { algorithm?: { modulusLength?: number } }).algorithm ?? {};
      if ((bits.modulusLength ?? 0) < 2048) return false;
    }
    return true;
  } catch {
    return false;
  }
}

export const signingAlgs: Check<ProviderScope> = {
  id: 'provider.signing-algs',
  when: 'live',
  title: 'for every ID token algorithm Portcullis accepts, the JWKS has a key that verifies it',
  async run(s) {
    if (s.location.kind === 'unknown') return undefined;
    if (s.location.kind === 'endpoints' && s.endpoints?.jwks === undefined) return undefined;
    if (s.keys === undefined || s.keys.length === 0) return skip('not checked: needs the JWKS');
    const advertised = s.discovery
      ? strings(s.discovery.metadata['id_token_signing_alg_values_supported'])
      : [];
    const notes: string[] = [];
    const fixes: string[] = [];
    if (advertised?.some((a) => a.toLowerCase() === 'none')) {
      notes.push('the IdP advertises alg "none" (unsigned ID tokens); Portcullis never accepts it');
    }
    if (s.discovery && advertised === undefined) {
      notes.push(
        'the discovery document has no id_token_signing_alg_values_supported (required by OIDC Discovery §3); assuming RS256',
      );
    }
    const configured = s.provider.idTokenSigningAlgs;
    const notAdvertised =
      configured?.filter((a) => advertised !== undefined && !advertised.includes(a)) ?? [];
    if (notAdvertised.length > 0 && s.discovery) {
      notes.push(`idTokenSigningAlgs lists ${notAdvertised.join(', ')}, which the IdP does not advertise`);
    }
    const allowed = (configured ?? (advertised?.length ? advertised : ['RS256'])).filter(
      (a) => a.toLowerCase() !== 'none',
    );
    const verifiable: string[] = [];
    const missing: string[] = [];
    for (const alg of allowed) {
      if (/^HS(256|384|512)$/.test(alg)) {
        // HMAC ID tokens are keyed with the client secret (OIDC Core §10.1), not with the JWKS.
        if (s.provider.secret !== undefined) verifiable.push(`${alg} (client secret)`);
        else missing.push(`${alg} (needs a client secret)`);
        continue;
      }
      let found = false;
      for (const k of s.keys) {
        if (await canVerify(k, alg)) {
          found = true;
          break;
        }
      }
      (found ? verifiable : missing).push(alg);
    }
    const keyList = s.keys.map(describeKey).join(', ');
    if (verifiable.length === 0) {
      return fail(
        `no key in the JWKS can verify any allowed ID token algorithm (${allowed.join(', ') || 'none'}); every sign-in would fail`,
        {
          fix: configured
            ? `set ${s.provider.key}.idTokenSigningAlgs to algorithms the IdP signs with, or remove it`
            : 'check the IdP’s signing keys (a key of the right type for the advertised algorithms)',
          detail: `keys: ${keyList}`,
        },
      );
    }
    if (missing.length > 0) {
      notes.push(
        `no key verifies ${missing.join(', ')}: ID tokens signed that way would be rejected (keys: ${keyList})`,
      );
      fixes.push(
        `if the IdP signs with ${missing.join(' or ')}, publish a matching key; otherwise set ${s.provider.key}.idTokenSigningAlgs: [${verifiable.map((v) => v.split(' ')[0]).join(', ')}]`,
      );
    }
    if (notes.length > 0) {
      return warn(notes.join('; '), {
        fix: fixes.join('; ') || undefined,
        detail: `verifiable: ${verifiable.join(', ')}`,
      });
    }
    return ok(`keys verify ${verifiable.join(', ')}`);
  },
};
