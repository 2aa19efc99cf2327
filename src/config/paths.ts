/**
 * Reading a request target (or a forward-auth path header, or a route's path in the configuration) as
 * exactly one path — the path decided is the path served. A ground-floor module: the configuration checks
 * its route and upstream paths with it (src/config/schema.ts), the gateway every request
 * (src/http/target.ts).
 *
 * Portcullis forwards the raw path, so whatever it decides on must be what every reasonable upstream reads
 * from those same bytes. Servers disagree on a handful of things, and each is either refused here or
 * checked afterwards (`readings`):
 *
 * - a raw `#`: nginx, Node's URL, Express and Python end the path there; a path that goes on after it
 *   (`/admin/x#/../../public/`) is refused, never guessed at;
 * - dot segments, raw or encoded in any case (`..`, `%2e%2E`, `.%2e`, `..;x` as Tomcat reads it): browsers
 *   and curl resolve them before sending (WHATWG URL), so a request that still carries one was written by
 *   hand; resolving them ourselves would decide on one path while a proxy or upstream that reads them
 *   differently (`//`, `\`, `%2f` next to them) serves another — refused;
 * - bytes that are not a URL's: controls, raw spaces or non-ASCII, NUL or controls once decoded, invalid or
 *   overlong UTF-8 (`%c0%ae`), and double encoding of a dot, slash, backslash or percent (`%252e`) that an
 *   upstream decoding twice would turn into a dot segment — refused;
 * - `%2F`/`%5C` (a separator to some servers, a character to others), a raw `\` (a separator on Windows
 *   servers), `//` (merged by nginx, kept by Node), `;params` (stripped by Tomcat/Jetty) and trailing dots
 *   of a segment (stripped by IIS): allowed, but every reading is listed so the caller can check that all of
 *   them land on the same route, upstream and endpoint (the gateway refuses the request otherwise).
 */

export type TargetRefusal =
  | 'fragment'
  | 'not-a-path'
  | 'bad-bytes'
  | 'bad-encoding'
  | 'control-character'
  | 'double-encoding'
  | 'dot-segment';

export interface Target {
  /** The path as received, without the query: what the upstream is sent. */
  readonly rawPath: string;
  /** The query string including its leading `?`, or ''. */
  readonly query: string;
  /** The path every match uses: decoded once, `\` read as `/`, repeated slashes merged. */
  readonly path: string;
  /**
   * The other readings of the same bytes that servers make (see above), when they differ from `path`; every
   * one must land where `path` does. Empty for the ordinary path.
   */
  readonly readings: readonly string[];
}

/** Words for the error page and the log: what made a target unreadable. */
export const REFUSALS: Readonly<Record<TargetRefusal, string>> = {
  fragment: 'a raw "#" in the request target (a fragment is never sent to a server)',
  'not-a-path': 'the target is not an absolute path',
  'bad-bytes': 'a control character, space or non-ASCII byte in the request target',
  'bad-encoding': 'a percent-encoding that is not valid UTF-8',
  'control-character': 'a NUL or control character once decoded',
  'double-encoding': 'a double-encoded dot, slash, backslash or percent (%252e, %252f, %255c, %2525)',
  'dot-segment': 'a dot segment ("." or "..", raw or percent-encoded)',
};

// Visible ASCII except `#` (checked apart, for its own message), `"`, `<`, `>`, `` ` ``, `{`, `}`, `|`, `^`
// are what browsers percent-encode; we accept those last few raw (some clients send them) but never a
// control character, a space or a byte above 0x7e.
// biome-ignore lint/suspicious/noControlCharactersInRegex: the point is to find them
const BAD_BYTES = /[\u0000-\u0020\u007f-\uffff]/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: the point is to find them
const CONTROL = /[\u0000-\u001f\u007f]/;
const DOUBLE_ENCODED = /%(?:2e|2f|5c|25)/i;
/** A segment that is a dot segment to some server: `.`, `..`, with Tomcat's `;params`, or IIS's trailing dots. */
const DOT_SEGMENT = /^\.{1,2}(?:;.*)?$/;
/** What makes the other readings differ from `path`: nothing of it, no other reading. */
const VARIANT = /%2f|%5c|[\\;]|\/\/|[. ](?:\/|$)|\.;/i;

/** Splits a request target into its raw path and query. Absolute-form targets (RFC 9112 §3.2.2) give their path. */
export function splitTarget(url: string): { path: string; query: string } | TargetRefusal {
  if (url.includes('#')) return 'fragment';
  let target = url;
  if (!target.startsWith('/')) {
    // Absolute-form, as a forward proxy is sent: its path is read by the WHATWG parser, which resolves dot
    // segments itself — so what we forward is that resolved path, the same one we decide on.
    if (!/^https?:\/\//i.test(target) || !URL.canParse(target)) return 'not-a-path';
    const u = new URL(target);
    target = u.pathname + u.search;
  }
  const q = target.indexOf('?');
  return q === -1 ? { path: target, query: '' } : { path: target.slice(0, q), query: target.slice(q) };
}

function decodeOnce(raw: string): string | TargetRefusal {
  if (!raw.includes('%')) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    return 'bad-encoding';
  }
}

function mergeSlashes(p: string): string {
  return p.includes('//') ? p.replace(/\/{2,}/g, '/') : p;
}

/** A letter, a digit, `-`, `_` or `~`: RFC 3986's unreserved characters but the dot. */
function plainChar(c: number): boolean {
  return (
    (c >= 0x61 && c <= 0x7a) || // a-z
    (c >= 0x41 && c <= 0x5a) || // A-Z
    (c >= 0x30 && c <= 0x39) || // 0-9
    c === 0x2d || // -
    c === 0x5f || // _
    c === 0x7e // ~
  );
}

/**
 * Whether a raw path has nothing any of the checks below looks for, and one reading only: `/` and plain
 * characters, no `//`, and every `.` followed by a plain character (so no segment is or ends in a dot).
 * No `%`, `\`, `;`, `#`, space or control byte can be in it: the usual path (`/`, `/app/page`,
 * `/static/app.js`) is read with one pass over its characters instead of six regular expressions.
 * test/http/target.test.ts checks that it reads every path as readTargetInFull does.
 */
function plainPath(p: string): boolean {
  let prev = 0;
  for (let i = 0; i < p.length; i++) {
    const c = p.charCodeAt(i);
    if (c === 0x2f) {
      if (prev === 0x2f) return false;
    } else if (c === 0x2e) {
      if (!plainChar(p.charCodeAt(i + 1))) return false;
    } else if (!plainChar(c)) return false;
    prev = c;
  }
  return true;
}

/** Reads a request target, or says why it cannot be read as one path. */
export function readTarget(url: string): Target | TargetRefusal {
  const split = splitTarget(url);
  if (typeof split === 'string') return split;
  if (plainPath(split.path))
    return { rawPath: split.path, query: split.query, path: split.path, readings: [] };
  return readSplit(split);
}

/** readTarget without the plain-path shortcut: the reference its shortcut is tested against. */
export function readTargetInFull(url: string): Target | TargetRefusal {
  const split = splitTarget(url);
  return typeof split === 'string' ? split : readSplit(split);
}

function readSplit(split: { path: string; query: string }): Target | TargetRefusal {
  const rawPath = split.path;
  if (BAD_BYTES.test(rawPath)) return 'bad-bytes';
  const decoded = decodeOnce(rawPath);
  if (decoded !== rawPath) {
    if (typeof decoded !== 'string' || decoded === 'bad-encoding') return 'bad-encoding';
    if (CONTROL.test(decoded)) return 'control-character';
    if (DOUBLE_ENCODED.test(decoded)) return 'double-encoding';
  }
  // Dot segments in any reading: split on `/` and `\` of the decoded path (so `%2e%2e`, `..%2f`, `..\`
  // and `..;x` are all seen).
  const slashed = decoded.includes('\\') ? decoded.replaceAll('\\', '/') : decoded;
  if (slashed.includes('.')) {
    for (const seg of slashed.split('/')) if (DOT_SEGMENT.test(seg)) return 'dot-segment';
  }
  const path = mergeSlashes(slashed);
  if (!VARIANT.test(rawPath) && !VARIANT.test(decoded))
    return { rawPath, query: split.query, path, readings: [] };
  const readings = new Set<string>();
  // A strict server (Node, Express, Go): decoded once, but %2F and %5C stay characters of their segment,
  // `\` is a character, `//` is kept.
  readings.add(decodeStrict(rawPath));
  // A lenient one (Tomcat, IIS, nginx with merge_slashes): `;params` dropped, trailing dots and spaces of a
  // segment dropped, `\` a separator, slashes merged.
  const lenient = mergeSlashes(
    slashed
      .split('/')
      .map((seg) => seg.replace(/;.*$/, '').replace(/[. ]+$/, ''))
      .join('/'),
  );
  readings.add(lenient.length > 0 ? lenient : '/');
  readings.delete(path);
  return { rawPath, query: split.query, path, readings: [...readings] };
}

/** Decodes everything but an encoded slash or backslash, which stay (upper-case) in their segment. */
function decodeStrict(rawPath: string): string {
  return rawPath
    .split(/(%2f|%5c)/i)
    .map((part, i) => (i % 2 === 1 ? part.toUpperCase() : decodeURIComponent(part)))
    .join('');
}
