/**
 * A schema problem in the operator's words: the key, what was found there, and what to write instead —
 * an example that the schema itself accepts, so following the advice never leads to a second round.
 * zod's own wording ("Invalid input: expected array, received string") never reaches the operator.
 */
import type { z } from 'zod';
import { didYouMean } from './errors.ts';
import { isSecretKey } from './schema-walk.ts';

type Issue = z.core.$ZodIssue;
type Path = readonly PropertyKey[];

interface Def {
  type?: string;
  innerType?: unknown;
  in?: unknown;
  shape?: Record<string, unknown>;
  element?: unknown;
  options?: unknown[];
  discriminator?: string;
  defaultValue?: unknown;
  entries?: Record<string, unknown>;
  values?: unknown[];
}

function defOf(s: unknown): Def {
  return ((s as { def?: Def } | undefined)?.def ?? {}) as Def;
}

/** The wrappers (default, optional, a transform's input) down to the type itself. */
function core(s: unknown): unknown {
  let cur = s;
  for (;;) {
    const d = defOf(cur);
    if (['default', 'optional', 'nullable', 'prefault'].includes(d.type ?? '')) cur = d.innerType;
    else if (d.type === 'pipe') cur = d.in;
    else return cur;
  }
}

/** For a discriminated union (`providers` entries by `type`), the option the document's value selects. */
function variant(s: unknown, node: unknown): unknown {
  const d = defOf(s);
  if (d.type !== 'union' || d.discriminator === undefined) return s;
  const tag = (node as Record<string, unknown> | null | undefined)?.[d.discriminator];
  return (
    d.options?.find((o) => {
      const lit = defOf(core(defOf(o).shape?.[d.discriminator!]));
      return lit.values?.includes(tag) === true;
    }) ?? s
  );
}

/** The schema node at `path` (with its wrappers, which carry the description and examples). */
export function schemaAt(schema: unknown, path: Path, doc: unknown): unknown {
  let s: unknown = schema;
  let node = doc;
  for (const p of path) {
    const c = variant(core(s), node);
    const d = defOf(c);
    if (d.type === 'object' && typeof p === 'string') s = d.shape?.[p];
    else if (d.type === 'array' && typeof p === 'number') s = d.element;
    else return undefined;
    if (s === undefined) return undefined;
    node = (node as Record<PropertyKey, unknown> | null | undefined)?.[p];
  }
  return s;
}

function metaOf(s: unknown): { description?: string; examples?: unknown[] } {
  let cur = s;
  const out: { description?: string; examples?: unknown[] } = {};
  for (let i = 0; i < 8 && cur !== undefined; i++) {
    const m = (cur as { meta?: () => Record<string, unknown> | undefined }).meta?.();
    if (out.description === undefined && typeof m?.['description'] === 'string')
      out.description = m['description'];
    if (out.examples === undefined && Array.isArray(m?.['examples']))
      out.examples = m['examples'] as unknown[];
    const d = defOf(cur);
    cur = d.innerType ?? (d.type === 'pipe' ? d.in : undefined);
  }
  return out;
}

function defaultOf(s: unknown): unknown {
  let cur = s;
  for (let i = 0; i < 8 && cur !== undefined; i++) {
    const d = defOf(cur);
    if (d.type === 'default') return typeof d.defaultValue === 'function' ? undefined : d.defaultValue;
    cur = d.innerType ?? (d.type === 'pipe' ? d.in : undefined);
  }
  return undefined;
}

/** A value as YAML would spell it in a flow, quoted only where needed. */
export function yamlValue(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(yamlValue).join(', ')}]`;
  if (typeof v === 'string') {
    const plain = /^[A-Za-z0-9_./@+~-][^:#,[\]{}"'\s]*(?::[^\s#,[\]{}]+)*$/.test(v) && !/^\d+$/.test(v);
    const reserved = /^(true|false|yes|no|on|off|null|~)$/i.test(v);
    // host:port is quoted as operators usually do (YAML 1.1 read some such as sexagesimal numbers).
    return plain && !reserved && (!/:\d+$/.test(v) || v.includes('://')) ? v : JSON.stringify(v);
  }
  if (v !== null && typeof v === 'object') {
    return `{ ${Object.entries(v)
      .map(([k, x]) => `${k}: ${yamlValue(x)}`)
      .join(', ')} }`;
  }
  return String(v);
}

/** What was found, without ever printing a secret. */
function found(v: unknown, key: string): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'an empty value';
  if (Array.isArray(v)) return v.length === 0 ? 'an empty list' : 'a list';
  if (typeof v === 'object') return 'a mapping (key: value pairs)';
  if (isSecretKey(key)) return `a ${typeof v}`;
  if (typeof v === 'string') {
    if (v === '') return 'an empty string';
    return `"${v.length > 60 ? `${v.slice(0, 57)}…` : v}"`;
  }
  if (typeof v === 'number') return `the number ${v}`;
  return String(v);
}

/** What the schema wants, in words. */
function wanted(s: unknown): string {
  const d = defOf(core(s));
  switch (d.type) {
    case 'string':
      return 'a string';
    case 'number':
      return 'a number';
    case 'boolean':
      return 'true or false';
    case 'array':
      return `a list${defOf(core(d.element)).type === 'string' ? ' of strings' : ''}`;
    case 'object':
      return 'a mapping (key: value pairs)';
    case 'enum':
      return `one of ${Object.values(d.entries ?? {}).join(', ')}`;
    case 'literal':
      return (d.values ?? []).map(String).join(' or ');
    case 'union':
      return [...new Set((d.options ?? []).map(wanted))].join(' or ');
    default:
      return 'another value';
  }
}

function accepts(s: unknown, v: unknown): boolean {
  return (s as { safeParse?: (v: unknown) => { success: boolean } }).safeParse?.(v).success === true;
}

/** Values to suggest, best first; the first the schema accepts is shown. */
function candidates(s: unknown, v: unknown): unknown[] {
  const out: unknown[] = [];
  if (typeof v === 'number' || typeof v === 'boolean') out.push(String(v));
  if (typeof v === 'string') {
    out.push(v.split(/[\s,]+/).filter((x) => x !== ''));
    if (/^\d+$/.test(v)) out.push(Number(v));
    if (/^(true|yes|on|1)$/i.test(v)) out.push(true);
    if (/^(false|no|off|0)$/i.test(v)) out.push(false);
  }
  const examples = [...(metaOf(s).examples ?? []), defaultOf(s)].filter((x) => x !== undefined);
  // A port given alone where host:port is wanted: the example's host with that port.
  if (typeof v === 'number' || (typeof v === 'string' && /^\d+$/.test(v))) {
    for (const e of examples)
      if (typeof e === 'string' && /:\d+$/.test(e)) out.push(e.replace(/\d+$/, String(v)));
  }
  out.push(...examples);
  const d = defOf(core(s));
  if (d.type === 'enum') out.push(Object.values(d.entries ?? {})[0]);
  if (d.type === 'boolean') out.push(true);
  return out;
}

function suggestion(s: unknown, v: unknown, key: string): string | undefined {
  if (isSecretKey(key)) {
    // Never an example secret; a number or boolean is most often a secret YAML did not read as text.
    return typeof v === 'number' || typeof v === 'boolean' ? 'write it in quotes' : undefined;
  }
  if (s === undefined) return undefined;
  const pick = candidates(s, v).find((c) => c !== undefined && accepts(s, c));
  return pick === undefined ? undefined : `write e.g. ${key}: ${yamlValue(pick)}`;
}

/** zod's default wording, which must be replaced; a message the schema's authors wrote is kept. */
const ZOD_WORDING =
  /^(Invalid input|Invalid option|Invalid string|Invalid URL|Too small|Too big|Expected|Unrecognized)/;

function valueAt(doc: unknown, path: Path): unknown {
  let node = doc;
  for (const p of path) node = (node as Record<PropertyKey, unknown> | null | undefined)?.[p];
  return node;
}

/**
 * One issue as `<what was found>; <what to write>` (the key is put in front by the caller). `schema` and
 * `doc` are those the issue's path is relative to.
 */
export function explainIssue(issue: Issue, schema: unknown, doc: unknown): string {
  const s = schemaAt(schema, issue.path, doc);
  const v = valueAt(doc, issue.path);
  const last = issue.path.length > 0 ? String(issue.path[issue.path.length - 1]) : '';
  const key = typeof issue.path[issue.path.length - 1] === 'number' ? '-' : last;
  const write = (value: unknown = v) => suggestion(s, value, key);
  const join = (...parts: (string | undefined)[]) => parts.filter((p) => p !== undefined).join('; ');
  const own = ZOD_WORDING.test(issue.message) ? undefined : issue.message;
  switch (issue.code) {
    case 'invalid_type': {
      if (v === undefined) {
        const what = metaOf(s).description;
        return join(`is required${what ? ` (${what})` : ''}`, write());
      }
      return join(`found ${found(v, last)}, expected ${wanted(s)}`, write());
    }
    case 'invalid_value': {
      const values = (issue as { values?: unknown[] }).values ?? [];
      const hint = typeof v === 'string' ? didYouMean(v, values.map(String)) : undefined;
      return join(
        `found ${found(v, last)}; write one of ${values.map(String).join(', ')}`,
        hint ? `did you mean ${hint}?` : undefined,
      );
    }
    case 'invalid_union': {
      const d = defOf(core(schemaAt(schema, issue.path.slice(0, -1), doc)));
      if (own !== undefined && (issue as { note?: string }).note === 'No matching discriminator') {
        const union = defOf(core(schemaAt(schema, issue.path.slice(0, -1), doc)));
        const tags = (union.options ?? []).flatMap(
          (o) => defOf(core(defOf(o).shape?.[last])).values?.map(String) ?? [],
        );
        const hint = typeof v === 'string' ? didYouMean(v, tags) : undefined;
        return join(own, hint ? `did you mean ${hint}?` : undefined);
      }
      if (d.type === 'union' && d.discriminator !== undefined) return own ?? `found ${found(v, last)}`;
      return join(`found ${found(v, last)}, expected ${wanted(s)}`, write());
    }
    case 'too_small':
    case 'too_big': {
      const i = issue as { origin?: string; minimum?: unknown; maximum?: unknown };
      if (own !== undefined) return own;
      const bound =
        issue.code === 'too_small' ? `at least ${String(i.minimum)}` : `at most ${String(i.maximum)}`;
      if (i.origin === 'string') {
        return join(
          v === ''
            ? 'is empty'
            : `found ${found(v, last)}, too ${issue.code === 'too_small' ? 'short' : 'long'}`,
          write(undefined),
        );
      }
      if (i.origin === 'array')
        return join(`found ${found(v, last)}; it needs ${bound} entries`, write(undefined));
      return join(`found ${found(v, last)}; it must be ${bound}`, write(undefined));
    }
    case 'invalid_format': {
      if (own !== undefined) return join(`found ${found(v, last)}`, own, write(undefined));
      return join(
        `found ${found(v, last)}, not a valid ${(issue as { format?: string }).format ?? 'value'}`,
        write(undefined),
      );
    }
    default:
      return own !== undefined
        ? v === undefined || own.includes(String(v))
          ? own
          : `found ${found(v, last)}; ${own}`
        : join(`found ${found(v, last)}, expected ${wanted(s)}`, write(undefined));
  }
}
