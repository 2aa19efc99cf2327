/**
 * An account's grants, for "sign out everywhere": oidc-provider finds a grant by its id only, so the
 * adapter (src/issuer/adapter.ts) also files every Grant under its account (`account:<accountId>`, with the
 * storage's grant mechanism). Ending a user revokes each of those grants as oidc-provider's own revocation
 * does (lib/helpers/revoke.js): the codes and tokens issued under it, then the Grant itself. Grants stored
 * before this index existed are not found here; they end when their tokens expire or admission refuses them.
 */
import type { Storage } from '../storage/storage.ts';
import { accountIdFor } from './accounts.ts';

export function accountGroup(accountId: string): string {
  return `account:${accountId}`;
}

/** Revokes every grant of the user's account; returns how many. */
export async function revokeAccountGrants(
  storage: Storage,
  user: { readonly provider: string; readonly sub: string },
): Promise<number> {
  const group = accountGroup(accountIdFor(user.provider, user.sub));
  let n = 0;
  for (const m of await storage.listGrant(group)) {
    if (m.kind !== 'Grant') continue;
    await storage.revokeGrant(m.id);
    await storage.destroy('Grant', m.id);
    n++;
  }
  await storage.revokeGrant(group);
  return n;
}

/** Lists the grant ids of the user's account (portcullis sessions list). */
export async function accountGrants(
  storage: Storage,
  user: { readonly provider: string; readonly sub: string },
): Promise<{ id: string; clientId: string | undefined }[]> {
  const group = accountGroup(accountIdFor(user.provider, user.sub));
  return (await storage.listGrant(group))
    .filter((m) => m.kind === 'Grant')
    .map((m) => ({
      id: m.id,
      clientId: typeof m.payload['clientId'] === 'string' ? m.payload['clientId'] : undefined,
    }));
}
