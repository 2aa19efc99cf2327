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
    for (const e of this.#entries) {
      if (path.startsWith(e.prefix) || path === e.exact) return e.value;
    }
    return undefined;
  }
}

/** Percent-encoded dot, slash or backslash, or a raw backslash: what servers disagree on decoding. */
const AMBIGUOUS = /%2e|%2f|%5c|\\/i;
const DOT_SEGMENT = /(?:^|[/\\])\.{1,2}(?:[/\\]|$)/;

/**
 * Normalises a request path for matching: decoded once, dot segments resolved, repeated slashes collapsed.
 * Returns undefined — the caller answers 400 — for paths that cannot be decoded, contain NUL, or whose
 * dot segments only appear through encoded dots/slashes or backslashes: Portcullis forwards the raw path,
 * and upstreams differ on decoding those (`/admin/..%2Fpublic` is under /public/ to one server and under
 * /admin/ to another), so no single reading would be safe to authorise.
 */
export function normalisePath(raw: string): string | undefined {
  let p = raw;
  if (p.includes('%')) {
    try {
      p = decodeURIComponent(p);
    } catch {
      return undefined;
    }
  }
  if (p.includes('\0')) return undefined;
  if (!p.includes('//') && !p.includes('/.') && !p.includes('\\')) return p;
  if (DOT_SEGMENT.test(p) && AMBIGUOUS.test(raw)) return undefined;
  if (p.includes('\\')) p = p.replaceAll('\\', '/');
  const out: string[] = [];
  const segments = p.split('/');
  for (let i = 1; i < segments.length; i++) {
    const s = segments[i]!;
    if (s === '..') out.pop();
    else if (s !== '.' && s !== '') out.push(s);
  }
  const last = segments[segments.length - 1];
  const trailing = last === '' || last === '.' || last === '..';
  return `/${out.join('/')}${trailing && out.length > 0 ? '/' : ''}`;
}
