/**
 * Where configuration values come from, lowest precedence first: schema defaults, the YAML/JSON file
 * (with `${ENV}` interpolation), `PORTCULLIS_…` environment variables, then command-line flags. Every
 * value set keeps its origin, so `portcullis config` can say where each one came from.
 *
 * Environment mapping: the key path in UPPER_SNAKE_CASE after `PORTCULLIS_`, sections joined by `_`
 * (`cookie.secret` → `PORTCULLIS_COOKIE_SECRET`, `sessions.lifetime` → `PORTCULLIS_SESSIONS_LIFETIME`);
 * entries of lists of objects by id or index (`providers` entry `corp`'s `clientSecret` →
 * `PORTCULLIS_PROVIDERS_CORP_CLIENT_SECRET` or `PORTCULLIS_PROVIDERS_0_CLIENT_SECRET`). Lists of values
 * are comma-separated. An unknown `PORTCULLIS_…` variable is an error only when it is a near miss of a real
 * one (a misspelling); otherwise it is a warning, and the Kubernetes service-link variables are ignored.
 */
import { readFileSync } from 'node:fs';
import { isMap, isScalar, isSeq, LineCounter, type Node, parseDocument } from 'yaml';
import { ConfigError, didYouMean, distance } from './errors.ts';
import { configSchema } from './schema.ts';
import { envSegment, type Leaf, leaves, type ValueKind } from './schema-walk.ts';
import { yamlProblems } from './yaml-errors.ts';

export const ENV_PREFIX = 'PORTCULLIS_';
/** PORTCULLIS_ variables that are not configuration values. */
const RESERVED_ENV = new Set(['PORTCULLIS_CONFIG']);

/**
 * The variables Kubernetes injects for every Service of the namespace (enableServiceLinks, on by default):
 * a Service named `portcullis` gives PORTCULLIS_SERVICE_HOST, PORTCULLIS_SERVICE_PORT(_<port name>),
 * PORTCULLIS_PORT and PORTCULLIS_PORT_4180_TCP(_PROTO|_PORT|_ADDR); one named `portcullis-metrics`,
 * PORTCULLIS_METRICS_SERVICE_HOST and so on. kubernetes.io/docs/concepts/services-networking/service/#environment-variables
 */
const SERVICE_LINK = [
  /^[A-Z0-9_]+_SERVICE_HOST$/,
  /^[A-Z0-9_]+_SERVICE_PORT(?:_[A-Z0-9_]+)?$/,
  /^[A-Z0-9_]+_PORT$/,
  /^[A-Z0-9_]+_PORT_\d+_(?:TCP|UDP|SCTP)(?:_(?:PROTO|PORT|ADDR))?$/,
];

export function isServiceLink(name: string): boolean {
  return SERVICE_LINK.some((re) => re.test(name));
}

/**
 * A near miss of a real variable: at most a few edits apart after the prefix (one per four characters, one
 * to three), e.g. PORTCULLIS_COOKIE_SECRTE. Anything further off is a variable of something else.
 */
export function misspeltSetting(name: string, known: readonly string[]): string | undefined {
  const tail = name.slice(ENV_PREFIX.length);
  const allowed = Math.max(1, Math.min(3, Math.floor(tail.length / 4)));
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const k of known) {
    const d = distance(tail, k.slice(ENV_PREFIX.length));
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  return bestDistance <= allowed ? best : undefined;
}

/** Origins by key path (`providers[0].clientSecret`); a value without one is a default. */
export type Origins = Map<string, string>;

export interface Sources {
  readonly doc: Record<string, unknown>;
  readonly origins: Origins;
}

type Path = (string | number)[];

export function formatPath(path: readonly (string | number)[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? p : `.${p}`;
  return out;
}

/** Reads a YAML (or JSON) file, recording the line of every value. */
export function readConfigFile(file: string): Sources {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError([
      `--config: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
    ]);
  }
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, prettyErrors: true });
  if (document.errors.length > 0) {
    throw new ConfigError(yamlProblems(document.errors, text, file));
  }
  const origins: Origins = new Map();
  const walk = (node: Node | null | undefined, path: Path) => {
    if (!node) return;
    const line = node.range ? lineCounter.linePos(node.range[0]).line : undefined;
    if (path.length > 0) origins.set(formatPath(path), `${file}${line ? `:${line}` : ''}`);
    if (isMap(node)) {
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
        walk(pair.value as Node | null, [...path, key]);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => {
        walk(item as Node, [...path, i]);
      });
    }
  };
  walk(document.contents as Node | null, []);
  const doc = document.toJS() as unknown;
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new ConfigError([`${file}: the configuration must be a mapping of keys to values`]);
  }
  return { doc: doc as Record<string, unknown>, origins };
}

function coerce(raw: string, kind: ValueKind): { value: unknown } | { problem: string } {
  switch (kind) {
    case 'boolean':
      if (/^(true|1|yes|on)$/i.test(raw)) return { value: true };
      if (/^(false|0|no|off)$/i.test(raw)) return { value: false };
      return { problem: `"${raw}" is not a boolean (use true or false)` };
    case 'number': {
      const n = Number(raw);
      return raw.trim() !== '' && Number.isFinite(n) ? { value: n } : { problem: `"${raw}" is not a number` };
    }
    case 'list':
      return {
        value: raw
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s !== ''),
      };
    case 'string-or-list':
      return raw.includes(',') ? coerce(raw, 'list') : { value: raw };
    case 'number-or-word':
      return /^\d+$/.test(raw.trim()) ? { value: Number(raw.trim()) } : { value: raw };
    default:
      return { value: raw };
  }
}

const LEAVES = leaves(configSchema);

/** The entry lists (paths ending before a '*'), e.g. ['providers'], ['issuer', 'clients']. */
function entryLists(): string[][] {
  const lists = new Map<string, string[]>();
  for (const l of LEAVES) {
    const i = l.path.indexOf('*');
    if (i > 0) lists.set(l.path.slice(0, i).join('.'), l.path.slice(0, i));
  }
  return [...lists.values()];
}

function getIn(doc: unknown, path: readonly (string | number)[]): unknown {
  let node = doc;
  for (const p of path) node = (node as Record<string | number, unknown> | undefined)?.[p];
  return node;
}

function setIn(doc: Record<string, unknown>, path: readonly (string | number)[], value: unknown): void {
  let node: Record<string | number, unknown> = doc;
  for (let i = 0; i < path.length - 1; i++) {
    const p = path[i]!;
    let next = node[p];
    if (next === null || typeof next !== 'object') {
      next = typeof path[i + 1] === 'number' ? [] : {};
      node[p] = next;
    }
    node = next as Record<string | number, unknown>;
  }
  node[path[path.length - 1]!] = value;
}

/** Every environment name that can be set against this document, with its concrete path and leaf. */
export function envNames(
  doc: Record<string, unknown>,
): Map<string, { path: (string | number)[]; leaf: Leaf }> {
  const names = new Map<string, { path: (string | number)[]; leaf: Leaf }>();
  for (const leaf of LEAVES) {
    const star = leaf.path.indexOf('*');
    if (star === -1) {
      names.set(ENV_PREFIX + leaf.path.map(envSegment).join('_'), { path: [...leaf.path], leaf });
      continue;
    }
    const listPath = leaf.path.slice(0, star);
    const rest = leaf.path.slice(star + 1);
    const entries = getIn(doc, listPath);
    if (!Array.isArray(entries)) continue;
    entries.forEach((entry, i) => {
      const keys: string[] = [String(i)];
      const id = (entry as { id?: unknown } | null)?.id;
      if (typeof id === 'string' && id !== '') keys.push(envSegment(id));
      for (const k of keys) {
        names.set(ENV_PREFIX + [...listPath.map(envSegment), k, ...rest.map(envSegment)].join('_'), {
          path: [...listPath, i, ...rest],
          leaf,
        });
      }
    });
  }
  return names;
}

/**
 * Applies PORTCULLIS_… variables on top of the document. An unknown one is a problem when it is a
 * misspelling of a real one, a warning otherwise; the Kubernetes service-link variables are skipped.
 */
export function applyEnv(
  sources: Sources,
  env: NodeJS.ProcessEnv,
  referenced: ReadonlySet<string>,
  problems: string[],
  warnings: string[] = [],
): void {
  const names = envNames(sources.doc);
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || raw === undefined || RESERVED_ENV.has(name)) continue;
    const target = names.get(name);
    if (target === undefined) {
      // A variable used through ${…} in the file is not meant as an override: fine.
      if (referenced.has(name)) continue;
      if (isServiceLink(name)) continue;
      const known = [...names.keys()];
      const misspelt = misspeltSetting(name, known);
      if (misspelt !== undefined) {
        problems.push(
          `${name}: not a Portcullis setting — did you mean ${misspelt}? (see docs/reference/configuration.md)`,
        );
        continue;
      }
      const hint = didYouMean(name, known);
      const lists = entryLists()
        .map((p) => `${ENV_PREFIX}${p.map(envSegment).join('_')}_<ID>_…`)
        .join(', ');
      warnings.push(
        `${name}: not a Portcullis setting, ignored${hint ? ` — did you mean ${hint}?` : ''} (see docs/reference/configuration.md; entries: ${lists})`,
      );
      continue;
    }
    const v = coerce(raw, target.leaf.kind);
    if ('problem' in v) {
      problems.push(`${name}: ${v.problem}`);
      continue;
    }
    setIn(sources.doc, target.path, v.value);
    sources.origins.set(formatPath(target.path), `env ${name}`);
  }
}

/** Parses a flag path: `cookie.secret`, `providers.corp.clientSecret` or `providers[0].clientSecret`. */
function flagPath(
  doc: Record<string, unknown>,
  spec: string,
): { path: (string | number)[]; leaf: Leaf } | string {
  const parts = spec
    .replace(/\[(\d+)\]/g, '.$1')
    .split('.')
    .filter((p) => p !== '');
  const path: (string | number)[] = [];
  const pattern: string[] = [];
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    const listHere = entryLists().find((l) => l.join('.') === pattern.join('.'));
    if (listHere && pattern.length > 0) {
      const entries = getIn(doc, path);
      const idx = /^\d+$/.test(p)
        ? Number(p)
        : Array.isArray(entries)
          ? entries.findIndex((e) => (e as { id?: unknown } | null)?.id === p)
          : -1;
      if (!Array.isArray(entries) || idx < 0 || idx >= entries.length) {
        return `no entry "${p}" in ${formatPath(path)} (set entries in the file; flags change them)`;
      }
      path.push(idx);
      pattern.push('*');
      continue;
    }
    path.push(p);
    pattern.push(p);
  }
  const leaf = LEAVES.find((l) => l.path.join('.') === pattern.join('.'));
  if (!leaf) {
    const hint = didYouMean(
      pattern.join('.'),
      LEAVES.map((l) => l.path.join('.')),
    );
    // Say the hint in the caller's own words: the entry they named instead of '*'.
    const named = hint
      ?.split('.')
      .map((seg, i) => (seg === '*' ? parts[i] : seg))
      .join('.');
    return `unknown setting "${spec}"${named ? ` — did you mean ${named}?` : ''}`;
  }
  return { path, leaf };
}

/** Applies `--set key=value` flags (and named flags turned into them) on top of everything else. */
export function applyFlags(
  sources: Sources,
  sets: readonly { flag: string; spec: string }[],
  problems: string[],
): void {
  for (const { flag, spec } of sets) {
    const eq = spec.indexOf('=');
    if (eq <= 0) {
      problems.push(`${flag} ${spec}: expected key=value`);
      continue;
    }
    const target = flagPath(sources.doc, spec.slice(0, eq));
    if (typeof target === 'string') {
      problems.push(`${flag} ${spec.slice(0, eq)}: ${target}`);
      continue;
    }
    const v = coerce(spec.slice(eq + 1), target.leaf.kind);
    if ('problem' in v) {
      problems.push(`${flag} ${spec.slice(0, eq)}: ${v.problem}`);
      continue;
    }
    setIn(sources.doc, target.path, v.value);
    sources.origins.set(
      formatPath(target.path),
      `flag ${flag === '--set' ? `--set ${spec.slice(0, eq)}` : flag}`,
    );
  }
}

/** Names of the variables a document references through ${…}. */
export function referencedEnv(doc: unknown, out = new Set<string>()): Set<string> {
  if (typeof doc === 'string') {
    for (const m of doc.matchAll(/(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g)) out.add(m[1]!);
  } else if (Array.isArray(doc)) for (const v of doc) referencedEnv(v, out);
  else if (doc !== null && typeof doc === 'object') for (const v of Object.values(doc)) referencedEnv(v, out);
  return out;
}
