/**
 * The "signed out as" cookie of server-side sessions: after a sign-out, the signed-out page may offer to
 * end the user's other sessions ("sign out of every device") for SIGNED_OUT_AS_SECONDS. The cookie names
 * the user (provider, sub) and its own expiry, sealed with the cookie key under a purpose of its own, so it
 * never opens as a session reference or a cookie session. It sits next to the session cookie, with the
 * same prefix and attributes.
 */
import type { CookieNames } from './cookie-store.ts';
import { type CookieOptions, serializeCookie } from './cookies.ts';
import type { Sealer } from './sealer.ts';
import type { Session } from './session.ts';
import type { Cookies, UserRef } from './store.ts';

/** How long the signed-out page can offer "sign out of every device" after a sign-out. */
export const SIGNED_OUT_AS_SECONDS = 600;
const PURPOSE = 'signed-out-as';

export class SignedOutAs {
  readonly name: string;
  readonly #refs: Sealer;
  readonly #opts: CookieOptions;

  constructor(refs: Sealer, names: CookieNames, opts: CookieOptions) {
    this.name = `${names.session}_signed_out`;
    this.#refs = refs;
    this.#opts = opts;
  }

  cookies(session: Session | undefined): string[] {
    if (session === undefined) return [];
    const value = this.#refs.seal(
      PURPOSE,
      JSON.stringify({
        p: session.provider,
        s: session.identity.sub,
        e: Math.floor(Date.now() / 1000) + SIGNED_OUT_AS_SECONDS,
      }),
    );
    return [serializeCookie(this.name, value, SIGNED_OUT_AS_SECONDS, this.#opts)];
  }

  read(present: Cookies, now: number): UserRef | undefined {
    const raw = present.get(this.name);
    const plain = raw === undefined ? undefined : this.#refs.open(PURPOSE, raw);
    if (plain === undefined) return undefined;
    try {
      const v = JSON.parse(plain) as { p?: unknown; s?: unknown; e?: unknown };
      if (typeof v.p !== 'string' || typeof v.s !== 'string' || typeof v.e !== 'number' || v.e <= now)
        return undefined;
      return { provider: v.p, sub: v.s };
    } catch {
      return undefined;
    }
  }

  expire(present: Cookies): string[] {
    return present.has(this.name) ? [serializeCookie(this.name, '', 0, this.#opts)] : [];
  }
}
