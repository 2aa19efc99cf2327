/**
 * Per-flow login state. Each sign-in in flight has its own sealed cookie, named after its state value,
 * so several tabs can sign in at once; the number in flight per browser is capped (oldest dropped).
 */
import { type CookieOptions, serializeCookie } from '../sessions/cookies.ts';
import type { Sealer } from '../sessions/sealer.ts';

const PURPOSE = 'flow';
export const FLOW_TTL_SECONDS = 600;
/** The name's state part: the first 16 characters of a base64url state (see nameFor). */
const STATE_PART = /^[A-Za-z0-9_-]{16}$/;
/**
 * At most this many stale flow cookies are expired by one response. 1,800 garbage cookies made one
 * response carry 228 KB of Set-Cookie (beyond what proxies accept, and work per request for whoever sends
 * them); the rest go on the next sign-ins, and a browser keeps at most ~180 cookies per domain anyway.
 */
export const MAX_CLEARED_PER_RESPONSE = 20;

export interface FlowState {
  readonly v: 1;
  readonly state: string;
  readonly nonce: string;
  readonly codeVerifier: string;
  /** Provider id and issuer this flow was started with: the callback must come from the same (mix-up defence). */
  readonly provider: string;
  readonly issuer: string;
  readonly rd: string;
  /** Epoch seconds. */
  readonly createdAt: number;
}

export class FlowCookies {
  readonly #sealer: Sealer;
  readonly #prefix: string;
  readonly #opts: CookieOptions;
  readonly #max: number;

  constructor(sealer: Sealer, prefix: string, opts: CookieOptions, max: number) {
    this.#sealer = sealer;
    this.#prefix = prefix;
    this.#opts = opts;
    this.#max = max;
  }

  nameFor(state: string): string {
    return this.#prefix + state.slice(0, 16);
  }

  #open(value: string, now: number): FlowState | undefined {
    const plain = this.#sealer.open(PURPOSE, value);
    if (plain === undefined) return undefined;
    try {
      const f = JSON.parse(plain) as FlowState;
      return f.v === 1 && typeof f.state === 'string' && f.createdAt + FLOW_TTL_SECONDS > now ? f : undefined;
    } catch {
      return undefined;
    }
  }

  /** Set-Cookie values for a new flow, expiring the oldest ones beyond the cap and any that are unreadable. */
  start(flow: FlowState, present: ReadonlyMap<string, string>, now: number): string[] {
    const live: { name: string; createdAt: number }[] = [];
    const out: string[] = [];
    const stale: string[] = [];
    for (const [name, value] of present) {
      // Only names this class could have made; each one opened costs a decryption.
      if (!name.startsWith(this.#prefix) || !STATE_PART.test(name.slice(this.#prefix.length))) continue;
      if (stale.length + live.length >= MAX_CLEARED_PER_RESPONSE + this.#max) break;
      const f = this.#open(value, now);
      if (f === undefined) stale.push(name);
      else live.push({ name, createdAt: f.createdAt });
    }
    live.sort((a, b) => a.createdAt - b.createdAt);
    for (const old of live.slice(0, Math.max(0, live.length - (this.#max - 1)))) stale.push(old.name);
    for (const name of stale.slice(0, MAX_CLEARED_PER_RESPONSE)) {
      out.push(serializeCookie(name, '', 0, this.#opts));
    }
    const sealed = this.#sealer.seal(PURPOSE, JSON.stringify(flow));
    out.push(serializeCookie(this.nameFor(flow.state), sealed, FLOW_TTL_SECONDS, this.#opts));
    return out;
  }

  /** The flow for a callback's state, if this browser started it and it has not expired. */
  find(state: string, present: ReadonlyMap<string, string>, now: number): FlowState | undefined {
    const value = present.get(this.nameFor(state));
    if (value === undefined) return undefined;
    const f = this.#open(value, now);
    return f !== undefined && f.state === state ? f : undefined;
  }

  clear(state: string): string {
    return serializeCookie(this.nameFor(state), '', 0, this.#opts);
  }
}
