/**
 * oidc-provider's Adapter API (one instance per model name: Session, Interaction, Grant, AuthorizationCode,
 * AccessToken, RefreshToken, …) on top of Portcullis's Storage. Kept with the issuer rather than in
 * src/storage/ because it is the only place that knows oidc-provider's model names and payload fields;
 * the storage itself stays generic so server-side sessions can use it too.
 */
import type { Adapter, UnknownObject } from 'oidc-provider';
import type { Storage } from '../storage/storage.ts';
import { accountGroup } from './account-grants.ts';

/**
 * The models oidc-provider revokes by grant id (lib/helpers/revoke.js). Only these are indexed by grant,
 * so revoking a grant never removes an Interaction or Session that merely mentions it.
 */
const GRANT_BOUND = new Set([
  'AccessToken',
  'AuthorizationCode',
  'RefreshToken',
  'DeviceCode',
  'BackchannelAuthenticationRequest',
  'PreAuthorizedCode',
  'ClientCredentials',
]);

export class StorageAdapter implements Adapter {
  readonly name: string;
  readonly #storage: Storage;
  readonly #now: () => number;

  constructor(name: string, storage: Storage, now: () => number = () => Date.now()) {
    this.name = name;
    this.#storage = storage;
    this.#now = now;
  }

  async upsert(id: string, payload: UnknownObject, expiresIn?: number): Promise<void> {
    const lookups: Record<string, string> = {};
    if (this.name === 'Session' && typeof payload['uid'] === 'string') lookups['uid'] = payload['uid'];
    if (typeof payload['userCode'] === 'string') lookups['userCode'] = payload['userCode'];
    // A Grant is filed under its account (src/issuer/account-grants.ts: sign out everywhere); the
    // models revoked with a grant under the grant.
    const grantId =
      GRANT_BOUND.has(this.name) && typeof payload['grantId'] === 'string'
        ? payload['grantId']
        : this.name === 'Grant' && typeof payload['accountId'] === 'string'
          ? accountGroup(payload['accountId'])
          : undefined;
    await this.#storage.upsert(this.name, id, payload, { expiresIn, grantId, lookups });
  }

  find(id: string): Promise<UnknownObject | undefined> {
    return this.#storage.find(this.name, id);
  }

  findByUid(uid: string): Promise<UnknownObject | undefined> {
    return this.#storage.findBy(this.name, 'uid', uid);
  }

  findByUserCode(userCode: string): Promise<UnknownObject | undefined> {
    return this.#storage.findBy(this.name, 'userCode', userCode);
  }

  consume(id: string): Promise<void> {
    return this.#storage.consume(this.name, id, Math.floor(this.#now() / 1000));
  }

  destroy(id: string): Promise<void> {
    return this.#storage.destroy(this.name, id);
  }

  revokeByGrantId(grantId: string): Promise<void> {
    return this.#storage.revokeGrant(grantId);
  }
}

/** The `adapter` option of oidc-provider: a factory called once per model name. */
export function adapterFor(storage: Storage): (name: string) => Adapter {
  return (name) => new StorageAdapter(name, storage);
}
