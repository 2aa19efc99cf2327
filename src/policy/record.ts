/**
 * What the operator console (issue 15) keeps of a decision, and the sink `authorize` hands it to. The record
 * holds enough to decide again — the principal as the rules read it (identity claims, never tokens or cookie
 * values), the surface, the paths and the issuer client — so that "explain" and "what-if" can replay it
 * against the current or a changed configuration.
 */
import type { Principal } from './decision.ts';

export interface DecisionRecord {
  /** Milliseconds since the epoch. */
  readonly time: number;
  /** The surface (see `SURFACES` in authorize.ts). */
  readonly surface: string;
  /** The request id of the request that asked, when there was one. */
  readonly requestId?: string | undefined;
  /** The principal the rules read: provider id and identity (no tokens, no cookie values). */
  readonly principal: Principal;
  /** The normalised paths whose route rules applied (empty: top-level and provider rules only). */
  readonly paths: readonly string[];
  /** The issuer client, for the issuer's surfaces. */
  readonly client?: string | undefined;
  readonly allow: boolean;
  /** The decision's reason codes (empty for most allows). */
  readonly reasons: readonly string[];
}

/**
 * Receives every decision `authorize` makes; must be cheap and never throw (it runs on every request).
 * `r` is valid only during the call — authorize fills one record again for every decision, so the allowed
 * path allocates nothing — and a sink keeps what it needs by copying the fields.
 */
export interface DecisionSink {
  record(r: DecisionRecord): void;
}
