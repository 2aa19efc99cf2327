/**
 * From a profile (ID token claims, userinfo, or an OAuth2 user-info document) to an Identity: values read
 * by (dot) path, groups accepted as a list or a single string, the claims that `requirements` rules read
 * kept, and an e-mail the IdP marks unverified dropped unless the provider allows it.
 */
import type { Identity } from '../sessions/session.ts';

/** The value at a dot path (`realm_access.roles`); a key that itself contains dots is tried whole first. */
export function claimAt(profile: Readonly<Record<string, unknown>>, path: string): unknown {
  if (Object.hasOwn(profile, path)) return profile[path];
  let node: unknown = profile;
  for (const part of path.split('.')) {
    if (node === null || typeof node !== 'object' || Array.isArray(node) || !Object.hasOwn(node, part)) {
      return undefined;
    }
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

/** A list of strings from a claim: one string, or a list; numeric entries (group ids) become strings. */
export function strings(v: unknown): string[] {
  if (typeof v === 'string') return v === '' ? [] : [v];
  if (typeof v === 'number') return Number.isFinite(v) ? [String(v)] : [];
  if (!Array.isArray(v)) return [];
  const out: string[] = [];
  for (const x of v) {
    const s = str(x);
    if (s !== undefined) out.push(s);
  }
  return out;
}

export function str(v: unknown): string | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** `email_verified` as IdPs send it: a boolean, or (some) the string "true"/"false". */
export function bool(v: unknown): boolean | undefined {
  if (typeof v === 'boolean') return v;
  if (v === 'true') return true;
  if (v === 'false') return false;
  return undefined;
}

/** Values kept for a requirement: scalars as strings, lists as lists of strings; objects are not kept. */
function ruleValue(v: unknown): string | string[] | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) {
    const out = v
      .filter((x) => typeof x === 'string' || typeof x === 'number' || typeof x === 'boolean')
      .map(String);
    return out;
  }
  return undefined;
}

/** The claims `requirements` rules read, and nothing else (the session cookie stays small). */
export function pickClaims(
  profile: Readonly<Record<string, unknown>>,
  keys: readonly string[],
): Record<string, string | string[]> | undefined {
  const out: Record<string, string | string[]> = {};
  let any = false;
  for (const k of keys) {
    const v = ruleValue(claimAt(profile, k));
    if (v === undefined) continue;
    // defineProperty, not assignment: a key named __proto__ stays a plain key (no prototype change).
    Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
    any = true;
  }
  return any ? out : undefined;
}

export interface ProfileMapping {
  /** Paths of each field in the profile; `sub` tried in order until one has a value. */
  readonly sub: readonly string[];
  readonly email: string;
  readonly emailVerified?: string | undefined;
  readonly username?: string | undefined;
  readonly name?: string | undefined;
  readonly firstName?: string | undefined;
  readonly lastName?: string | undefined;
  readonly groups?: string | undefined;
}

export interface IdentityOptions {
  /** Claim paths kept for `requirements` rules. */
  readonly keepClaims: readonly string[];
  /** insecureAllowUnverifiedEmail: keep an e-mail address marked `email_verified: false`. */
  readonly allowUnverifiedEmail: boolean;
}

/** An identity from a profile; undefined when the profile has no user id. */
export function identityFromProfile(
  profile: Readonly<Record<string, unknown>>,
  map: ProfileMapping,
  o: IdentityOptions,
): Identity | undefined {
  let sub: string | undefined;
  for (const p of map.sub) {
    sub = str(claimAt(profile, p));
    if (sub !== undefined) break;
  }
  if (sub === undefined) return undefined;
  const emailVerified =
    map.emailVerified === undefined ? undefined : bool(claimAt(profile, map.emailVerified));
  const email = str(claimAt(profile, map.email));
  let name = map.name === undefined ? undefined : str(claimAt(profile, map.name));
  if (name === undefined && (map.firstName !== undefined || map.lastName !== undefined)) {
    const parts = [map.firstName, map.lastName].map((p) =>
      p === undefined ? undefined : str(claimAt(profile, p)),
    );
    name = parts.filter((x) => x !== undefined).join(' ') || undefined;
  }
  const claims = pickClaims(profile, o.keepClaims);
  return withEmailPolicy(
    {
      sub,
      email,
      emailVerified,
      preferredUsername: map.username === undefined ? undefined : str(claimAt(profile, map.username)),
      name,
      groups: map.groups === undefined ? [] : strings(claimAt(profile, map.groups)),
      ...(claims !== undefined ? { claims } : {}),
    },
    o.allowUnverifiedEmail,
  );
}

/**
 * An address the IdP says it has not verified is moved out of `email` (so it satisfies no e-mail rule and
 * is not sent as X-Forwarded-Email), unless insecureAllowUnverifiedEmail. `emailVerified` stays false,
 * which tells the 403 page why; `unverifiedEmail` lets it also say whether the address would be allowed.
 */
export function withEmailPolicy(identity: Identity, allowUnverified: boolean): Identity {
  if (identity.emailVerified !== false || allowUnverified || identity.email === undefined) return identity;
  const { email, ...rest } = identity;
  return { ...rest, unverifiedEmail: email };
}
