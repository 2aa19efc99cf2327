/**
 * Walking the zod schema as data: the leaves an operator can set, their env names and value kinds.
 * Used by env/flag overrides, `portcullis config` and the generated docs.
 */
import type { z } from 'zod';

type Def = {
  type?: string;
  innerType?: unknown;
  in?: unknown;
  out?: unknown;
  shape?: Record<string, unknown>;
  element?: unknown;
  options?: unknown[];
};

function def(s: unknown): Def {
  return ((s as { def?: Def } | undefined)?.def ?? {}) as Def;
}

/** Strips default/optional/nullable/prefault wrappers; a pipe (transform) counts as its input. */
export function unwrap(s: unknown): unknown {
  let cur = s;
  for (;;) {
    const d = def(cur);
    if (d.type === 'default' || d.type === 'optional' || d.type === 'nullable' || d.type === 'prefault') {
      cur = d.innerType;
    } else if (d.type === 'pipe') cur = d.in;
    else return cur;
  }
}

/** The object shapes a node can be: one for an object, each option's for a union of objects. */
export function objectShapes(s: unknown): Record<string, unknown>[] {
  const u = unwrap(s);
  const d = def(u);
  if (d.type === 'object') return [d.shape ?? {}];
  if (d.type === 'union') return (d.options ?? []).flatMap((o) => objectShapes(o));
  return [];
}

/** How a string from the environment or a flag becomes a value of this leaf. */
export type ValueKind = 'string' | 'number' | 'boolean' | 'list' | 'string-or-list' | 'number-or-word';

export function valueKind(s: unknown): ValueKind {
  const d = def(unwrap(s));
  switch (d.type) {
    case 'boolean':
      return 'boolean';
    case 'number':
      return 'number';
    case 'array':
      return 'list';
    case 'union': {
      const options = d.options ?? [];
      const kinds = new Set(options.map((o) => valueKind(o)));
      if (kinds.has('list') && kinds.has('string')) return 'string-or-list';
      // A number or a word (`server.workers: auto`): digits from the environment are the number.
      if (
        kinds.has('number') &&
        options.every((o) => valueKind(o) === 'number' || def(unwrap(o)).type === 'literal')
      )
        return 'number-or-word';
      return kinds.has('string') ? 'string' : (kinds.values().next().value ?? 'string');
    }
    default:
      return 'string';
  }
}

/** A settable leaf: path segments (entries of object lists as '*'), its kind and whether it is secret. */
export interface Leaf {
  readonly path: readonly string[];
  readonly kind: ValueKind;
  readonly secret: boolean;
  readonly schema: unknown;
}

/** Keys whose values are secrets: redacted in output, never logged. */
export function isSecretKey(key: string): boolean {
  return /secret$|password$|token$/i.test(key);
}

/** True for lists of objects (providers, upstreams, routes, clients): their entries are addressed by id or index. */
export function isEntryList(s: unknown): boolean {
  const d = def(unwrap(s));
  return d.type === 'array' && objectShapes(d.element).length > 0;
}

export function leaves(schema: z.ZodType, prefix: readonly string[] = []): Leaf[] {
  const out: Leaf[] = [];
  const seen = new Set<string>();
  for (const shape of objectShapes(schema)) {
    for (const [key, child] of Object.entries(shape)) {
      const path = [...prefix, key];
      if (objectShapes(child).length > 0) {
        for (const l of leaves(child as z.ZodType, path)) push(l);
      } else if (isEntryList(child)) {
        for (const l of leaves(def(unwrap(child)).element as z.ZodType, [...path, '*'])) push(l);
      } else push({ path, kind: valueKind(child), secret: isSecretKey(key), schema: child });
    }
  }
  return out;
  function push(l: Leaf) {
    const k = l.path.join('.');
    if (!seen.has(k)) {
      seen.add(k);
      out.push(l);
    }
  }
}

/** camelCase → UPPER_SNAKE, as used in PORTCULLIS_… variable names. */
export function envSegment(key: string): string {
  return key
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/[^A-Za-z0-9]+/g, '_')
    .toUpperCase();
}
