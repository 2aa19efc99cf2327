/** The session model: who the user is, through which provider, and the tokens needed to act for them. */

export interface Identity {
  /** The IdP's subject identifier. */
  readonly sub: string;
  readonly email?: string | undefined;
  readonly emailVerified?: boolean | undefined;
  /**
   * The address the IdP sent marked unverified, which `email` then lacks: it satisfies no rule and is never
   * sent upstream, but a denial can still say what else is wrong with it (a domain not allowed).
   */
  readonly unverifiedEmail?: string | undefined;
  readonly preferredUsername?: string | undefined;
  readonly name?: string | undefined;
  readonly groups: readonly string[];
  // What access rules read besides the above, kept only when set (the session cookie stays small):
  /** Claims named by `requirements` rules, by their (dot) path: a string, or a list of strings. */
  readonly claims?: Readonly<Record<string, string | readonly string[]>> | undefined;
  /** GitHub: the organisations (logins) the user is a member of, lower-case. */
  readonly orgs?: readonly string[] | undefined;
  /** GitHub: the teams, `org/team-slug`, lower-case. */
  readonly teams?: readonly string[] | undefined;
  /** GitLab: those of the configured projects the user has the required access to. */
  readonly projects?: readonly string[] | undefined;
  /**
   * A machine principal: the id of the issuer client (`issuer.clients`) whose client_credentials token made
   * it (src/bearer/). Absent for people. Person rules skip machines; `allow.clients` decides for them.
   */
  readonly client?: string | undefined;
  /** Entra ID: the directory (tenant) id, `tid`. Google: the Workspace domain, `hd`. */
  readonly tenant?: string | undefined;
}

export interface Session {
  readonly v: 1;
  /** Provider id from the configuration. */
  readonly provider: string;
  readonly identity: Identity;
  /** Epoch seconds. */
  readonly createdAt: number;
  /** Absolute expiry, epoch seconds: the session ends then whatever its tokens say. */
  readonly expiresAt: number;
  readonly accessToken?: string | undefined;
  /** Epoch seconds; absent when the IdP did not say. */
  readonly accessTokenExpiresAt?: number | undefined;
  readonly refreshToken?: string | undefined;
  readonly idToken?: string | undefined;
}

/** Structural check of a decrypted session; anything else is treated as no session. */
export function isSession(v: unknown): v is Session {
  if (v === null || typeof v !== 'object') return false;
  const s = v as Record<string, unknown>;
  const id = s['identity'] as Record<string, unknown> | undefined;
  return (
    s['v'] === 1 &&
    typeof s['provider'] === 'string' &&
    typeof s['expiresAt'] === 'number' &&
    typeof s['createdAt'] === 'number' &&
    id !== null &&
    typeof id === 'object' &&
    typeof id['sub'] === 'string' &&
    Array.isArray(id['groups'])
  );
}

export function needsRefresh(s: Session, now: number, skewSeconds = 30): boolean {
  return (
    s.refreshToken !== undefined &&
    s.accessTokenExpiresAt !== undefined &&
    s.accessTokenExpiresAt - skewSeconds <= now
  );
}
