/** The identity as header values, encoded so any IdP-provided text is a valid header value. */
import type { Identity } from '../sessions/session.ts';

/** Control characters (CR, LF, NUL, …) can never be part of a header value: they are dropped. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
const CONTROL = /[\x00-\x08\x0a-\x1f\x7f]/g;
const NON_ASCII = /[\u0080-\uffff]/;

/**
 * A header value for IdP-provided text. Non-ASCII text is sent as its UTF-8 bytes (what oauth2-proxy
 * and most servers do; Node writes a string's code points ≤ 0xFF as single bytes, so the UTF-8 bytes are
 * passed as a Latin-1 string), and upstreams decode it as UTF-8.
 */
export function headerValue(v: string): string {
  const clean = v.replace(CONTROL, '');
  return NON_ASCII.test(clean) ? Buffer.from(clean, 'utf8').toString('latin1') : clean;
}

export interface IdentityValues {
  readonly user: string;
  readonly email: string | undefined;
  readonly preferredUsername: string | undefined;
  readonly groups: string | undefined;
}

export function identityHeaderValues(identity: Identity): IdentityValues {
  return {
    user: headerValue(identity.sub),
    email: identity.email === undefined ? undefined : headerValue(identity.email),
    preferredUsername:
      identity.preferredUsername === undefined ? undefined : headerValue(identity.preferredUsername),
    groups: identity.groups.length > 0 ? headerValue(identity.groups.join(',')) : undefined,
  };
}

/**
 * The identity headers sent to upstreams, as a flat [name, value, …] list; computed once per session.
 * `X-Forwarded-Provider` names the provider entry (its `id`): user ids are only unique per provider (a
 * GitHub and a GitLab user can both be 583231), so an app serving users of several keys on both.
 */
export function identityHeaders(identity: Identity, provider: string): string[] {
  const v = identityHeaderValues(identity);
  const out = ['x-forwarded-user', v.user, 'x-forwarded-provider', headerValue(provider)];
  if (v.email !== undefined) out.push('x-forwarded-email', v.email);
  if (v.preferredUsername !== undefined) out.push('x-forwarded-preferred-username', v.preferredUsername);
  if (v.groups !== undefined) out.push('x-forwarded-groups', v.groups);
  // A machine (an issuer client with client_credentials) is said to be one, so an app never takes its
  // `client:<id>` user for a person's account.
  if (identity.client !== undefined) out.push('x-forwarded-client-id', headerValue(identity.client));
  return out;
}
