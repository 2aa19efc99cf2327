/**
 * Sessions kept entirely in the browser: the session is sealed (AES-256-GCM) into one cookie, or split
 * into numbered chunks `<name>_0 … <name>_n` when it is larger than browsers reliably store (~4 KB per
 * cookie, RFC 6265 §6.1), and joined again on the way in. Anything that does not open is no session.
 */
import { type CookieNames, type CookieOptions, serializeCookie } from './cookies.ts';
import { DigestCache } from './digest-cache.ts';
import type { Sealer } from './sealer.ts';
import { isSession, type Session } from './session.ts';
import type { Cookies, Redeem, RefreshOutcome, SessionStore } from './store.ts';

const PURPOSE = 'session';
/** Room for the value in one cookie, leaving space for the name and attributes under 4096 bytes. */
export const CHUNK_SIZE = 3800;
const MAX_CHUNKS = 10;
/**
 * Decrypted sessions kept by the digest of the sealed value, so a busy session is decrypted once, not on
 * every request. The TTL keeps an idle session's decrypted tokens from lingering in memory.
 */
const CACHE_MAX = 10_000;
const CACHE_TTL_MS = 15 * 60_000;

export { type CookieNames, cookieNames } from './cookies.ts';

export class CookieSessionStore implements SessionStore {
  readonly type = 'cookie' as const;
  readonly names: CookieNames;
  readonly #sealer: Sealer;
  readonly #opts: CookieOptions;
  readonly #chunkName: RegExp;
  readonly #writtenChunk: RegExp;
  readonly #cache = new DigestCache<Session>({ max: CACHE_MAX, ttlMs: CACHE_TTL_MS });
  readonly #refreshing = new WeakMap<Session, Promise<Session>>();

  constructor(sealer: Sealer, names: CookieNames, opts: CookieOptions) {
    this.#sealer = sealer;
    this.names = names;
    this.#opts = opts;
    this.#chunkName = new RegExp(`^${names.session.replace(/[-]/g, '\\-')}_\\d+$`);
    // Only the chunk names write() can make (_0 … _9, MAX_CHUNKS): a request with thousands of
    // `<name>_<digits>` cookies must not make one response expire each of them.
    this.#writtenChunk = new RegExp(`^${names.session.replace(/[-]/g, '\\-')}_\\d$`);
  }

  /** True for every cookie name Portcullis owns (session, chunks, flow state): never forwarded upstream. */
  owns(name: string): boolean {
    return (
      name === this.names.session ||
      (name.startsWith(this.names.session) &&
        (name.startsWith(this.names.flowPrefix) || this.#chunkName.test(name)))
    );
  }

  read(cookies: ReadonlyMap<string, string>, now: number): Session | undefined {
    let sealed = cookies.get(this.names.session);
    if (sealed === undefined) {
      const first = cookies.get(`${this.names.session}_0`);
      if (first === undefined) return undefined;
      sealed = first;
      for (let i = 1; i < MAX_CHUNKS; i++) {
        const part = cookies.get(`${this.names.session}_${i}`);
        if (part === undefined) break;
        sealed += part;
      }
    }
    const cached = this.#cache.get(sealed);
    if (cached !== undefined) return cached.expiresAt > now ? cached : undefined;
    const plain = this.#sealer.open(PURPOSE, sealed);
    if (plain === undefined) return undefined;
    let session: unknown;
    try {
      session = JSON.parse(plain);
    } catch {
      return undefined;
    }
    if (!isSession(session) || session.expiresAt <= now) return undefined;
    // Only values that opened with our keys are cached: the AEAD tag is what authenticates them.
    this.#cache.set(sealed, session);
    return session;
  }

  /** Set-Cookie values that store the session and expire chunks left over from a larger one. */
  write(session: Session, present: ReadonlyMap<string, string>, now: number): string[] {
    const sealed = this.#sealer.seal(PURPOSE, JSON.stringify(session));
    const maxAge = session.expiresAt - now;
    const out: string[] = [];
    const keep = new Set<string>();
    if (sealed.length <= CHUNK_SIZE) {
      out.push(serializeCookie(this.names.session, sealed, maxAge, this.#opts));
      keep.add(this.names.session);
    } else {
      const n = Math.ceil(sealed.length / CHUNK_SIZE);
      if (n > MAX_CHUNKS)
        throw new RangeError(`session of ${sealed.length} bytes exceeds ${MAX_CHUNKS} cookies`);
      for (let i = 0; i < n; i++) {
        const name = `${this.names.session}_${i}`;
        out.push(
          serializeCookie(name, sealed.slice(i * CHUNK_SIZE, (i + 1) * CHUNK_SIZE), maxAge, this.#opts),
        );
        keep.add(name);
      }
    }
    for (const name of present.keys()) {
      if (!keep.has(name) && (name === this.names.session || this.#writtenChunk.test(name))) {
        out.push(serializeCookie(name, '', 0, this.#opts));
      }
    }
    return out;
  }

  /**
   * The refreshed session goes back to the browser in a new cookie. Concurrent requests with one cookie
   * read the same cached Session object, and share one redemption through it.
   */
  async refresh(present: Cookies, session: Session, now: number, redeem: Redeem): Promise<RefreshOutcome> {
    let pending = this.#refreshing.get(session);
    if (pending === undefined) {
      pending = redeem(session).finally(() => this.#refreshing.delete(session));
      this.#refreshing.set(session, pending);
    }
    const next = await pending;
    return { session: next, setCookies: this.write(next, present, now) };
  }

  /** Nothing to revoke: the session lives only in the cookie. */
  clear(present: Cookies): string[] {
    return this.expireCookies(present);
  }

  /** Nothing to ask: the sessions are in the browsers' cookies. */
  async ping(): Promise<void> {}

  async close(): Promise<void> {}

  /** Set-Cookie values that remove the session (every chunk the browser sent). */
  expireCookies(present: Cookies): string[] {
    const out: string[] = [];
    for (const name of present.keys()) {
      if (name === this.names.session || this.#writtenChunk.test(name))
        out.push(serializeCookie(name, '', 0, this.#opts));
    }
    return out;
  }
}
