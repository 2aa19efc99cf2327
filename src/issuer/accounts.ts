/**
 * Accounts of the issuer: who a user is to the services. The subject (`sub`) is derived from the upstream
 * provider id and the upstream subject, so it is stable across sign-ins and restarts (even a wiped storage)
 * and reveals neither; the claims come from the gate session's identity and are stored at each sign-in, so
 * the token and userinfo endpoints (called by the service, without the user's browser) can answer.
 *
 * Beside the claims, the account keeps the principal the access rules decide on — the provider id and the
 * identity as the gate session had it at that sign-in (groups, claims, orgs, teams, tenant: whatever rules
 * read) — so that every later issuance, userinfo and introspection applies the rules in force *then*
 * (src/issuer/admission.ts), not the ones of the sign-in.
 */
import { createHash } from 'node:crypto';
import type { Account, UnknownObject } from 'oidc-provider';
import type { Principal } from '../policy/decision.ts';
import type { Identity, Session } from '../sessions/session.ts';
import type { Storage } from '../storage/storage.ts';

const KIND = 'PortcullisAccount';

/** The `sub` services see for (provider id, upstream sub): SHA-256, base64url, 43 characters. */
export function accountIdFor(provider: string, upstreamSub: string): string {
  return createHash('sha256')
    .update(`portcullis account v1\u0000${provider}\u0000${upstreamSub}`)
    .digest('base64url');
}

export function accountIdOf(session: Session): string {
  return accountIdFor(session.provider, session.identity.sub);
}

/** The claims a service can be given (the scopes it was granted select among them). */
export function claimsOf(identity: Identity): UnknownObject {
  const claims: UnknownObject = { groups: [...identity.groups] };
  if (identity.name !== undefined) claims['name'] = identity.name;
  if (identity.preferredUsername !== undefined) claims['preferred_username'] = identity.preferredUsername;
  if (identity.email !== undefined) {
    claims['email'] = identity.email;
    claims['email_verified'] = identity.emailVerified ?? false;
  }
  return claims;
}

interface StoredAccount {
  readonly provider: string;
  readonly claims: UnknownObject;
  /**
   * The gate session's identity at the sign-in, for the access rules. Absent in accounts stored before
   * Portcullis kept it: such an account has no principal, and the rules refuse it (src/issuer/admission.ts).
   */
  readonly identity?: Identity;
  /** Epoch seconds of the sign-in that stored these claims. */
  readonly updatedAt: number;
}

/** The structural minimum of a stored identity (as isSession checks a session's): anything else is none. */
function isIdentity(v: unknown): v is Identity {
  if (v === null || typeof v !== 'object') return false;
  const id = v as Record<string, unknown>;
  return typeof id['sub'] === 'string' && Array.isArray(id['groups']);
}

export class Accounts {
  readonly #storage: Storage;
  readonly #ttl: number;

  /** `ttlSeconds`: how long an account outlives its last sign-in (as long as its longest-lived token). */
  constructor(storage: Storage, ttlSeconds: number) {
    this.#storage = storage;
    this.#ttl = ttlSeconds;
  }

  /** Stores the account of a gate session (at each sign-in through the issuer); returns its id. */
  async remember(session: Session, now: number): Promise<string> {
    const id = accountIdOf(session);
    const value: StoredAccount = {
      provider: session.provider,
      claims: claimsOf(session.identity),
      identity: session.identity,
      updatedAt: now,
    };
    await this.#storage.upsert(KIND, id, { ...value }, { expiresIn: this.#ttl });
    return id;
  }

  /** oidc-provider's findAccount. */
  async find(accountId: string): Promise<Account | undefined> {
    return (await this.load(accountId))?.account;
  }

  /**
   * The account and the principal the access rules decide on, in one read. `principal` is undefined for an
   * account stored without one (before Portcullis kept it): the rules then have nothing to admit.
   */
  async load(accountId: string): Promise<{ account: Account; principal: Principal | undefined } | undefined> {
    const stored = (await this.#storage.find(KIND, accountId)) as StoredAccount | undefined;
    if (stored === undefined) return undefined;
    const account = { accountId, claims: () => ({ sub: accountId, ...stored.claims }) };
    const identity = stored.identity;
    // The id is derived from (provider, sub): a stored identity that does not hash to it is not this account's.
    const principal =
      isIdentity(identity) && accountIdFor(stored.provider, identity.sub) === accountId
        ? { provider: stored.provider, identity }
        : undefined;
    return { account, principal };
  }
}
