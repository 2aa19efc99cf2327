/**
 * Path-prefix tables for routes and upstreams. Matching is on the normalised path only (no query, no
 * fragment, decoded once) and segment-aware: `/api` matches `/api` and `/api/x`, not `/apix`; the longest
 * prefix wins.
 */

export interface Prefixed {
  readonly path: string;
}

export class PrefixTable<T extends Prefixed> {
  readonly #entries: readonly { prefix: string; exact: string; value: T }[];

  constructor(values: readonly T[]) {
    this.#entries = [...values]
      .sort((a, b) => b.path.length - a.path.length)
      .map((value) => {
        const exact =
          value.path.endsWith('/') && value.path.length > 1 ? value.path.slice(0, -1) : value.path;
        const prefix = value.path.endsWith('/') ? value.path : `${value.path}/`;
        return { prefix, exact, value };
      });
  }

  match(path: string): T | undefined {
    // An indexed loop: called several times per request, and an iterator is not always optimised away.
    const entries = this.#entries;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      if (path.startsWith(e.prefix) || path === e.exact) return e.value;
    }
    return undefined;
  }
}
