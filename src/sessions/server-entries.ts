/**
 * What server-side sessions keep in a Storage, and under which keys (src/sessions/server-store.ts):
 * the kinds, the tombstone a sign-out leaves, and the keys derived from the session id, the cookie
 * secrets and the user.
 */
import { createHash, hkdfSync } from 'node:crypto';
import type { UserRef } from './store.ts';

/** Storage kinds: the session entries and their refresh locks. */
export const SESSION_KIND = 'GatewaySession';
export const LOCK_KIND = 'GatewaySessionRefresh';
/**
 * The user index: one small entry per session (same key, same expiry), grouped under the user with the
 * storage's grant mechanism, so Storage.listGrant finds a user's sessions and no session entry changes
 * shape (session entries stay plain, as Storage.swap requires).
 */
export const USER_KIND = 'GatewaySessionUser';
/** How long a sign-out's tombstone outlives it: longer than a refresh can be in flight (lock + margin). */
export const TOMBSTONE_SECONDS = 60;
/** The tombstone's payload: no `s`, so it reads as no session, and every swap against a session fails. */
export const TOMBSTONE = { ended: 1 };

/** The at-rest encryption key of one cookie secret: HKDF under its own label, never the cookie key itself. */
export function atRestKey(secret: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, 'portcullis', 'portcullis session store encryption v1', 32));
}

/** The entry's key: SHA-256 of the id (256 bits of entropy, so a plain hash is one-way). */
export function storeKey(id: string): string {
  return createHash('sha256').update(id).digest('base64url');
}

/** The index group of a user's sessions: a digest, so neither the provider nor the user id is a redis key. */
export function userGroup(user: UserRef): string {
  return `gateway-user:${createHash('sha256').update(`${user.provider}\u0000${user.sub}`).digest('base64url')}`;
}
