/**
 * `portcullis config`: the effective configuration, one line per setting, with where it came from.
 * Secrets are shown as [redacted] (with their origin, so a wrong source is still visible).
 */
import type { LoadedConfig } from './load.ts';
import { configSchema } from './schema.ts';
import { leaves } from './schema-walk.ts';
import { formatPath } from './sources.ts';

export interface Setting {
  readonly key: string;
  readonly value: unknown;
  readonly origin: string;
}

const LEAVES = leaves(configSchema);

export function describeConfig(loaded: LoadedConfig): Setting[] {
  const out: Setting[] = [];
  for (const leaf of LEAVES) {
    expand(loaded.config as unknown, leaf.path, [], (path, value) => {
      if (value === undefined) return;
      const key = formatPath(path);
      out.push({
        key,
        value: leaf.secret ? '[redacted]' : value,
        origin: loaded.origins.get(key) ?? 'default',
      });
    });
  }
  return out;
}

function expand(
  node: unknown,
  pattern: readonly string[],
  path: (string | number)[],
  visit: (path: (string | number)[], value: unknown) => void,
): void {
  if (pattern.length === 0) {
    visit(path, node);
    return;
  }
  const [head, ...rest] = pattern;
  if (head === '*') {
    if (Array.isArray(node))
      node.forEach((entry, i) => {
        expand(entry, rest, [...path, i], visit);
      });
    return;
  }
  if (node === null || typeof node !== 'object') return;
  expand((node as Record<string, unknown>)[head!], rest, [...path, head!], visit);
}

function show(value: unknown): string {
  if (typeof value === 'string')
    return /^[\w./:@+-]*$/.test(value) && value !== '' ? value : JSON.stringify(value);
  return JSON.stringify(value);
}

export function formatSettings(settings: readonly Setting[], color: boolean): string {
  const width = Math.min(60, Math.max(...settings.map((s) => s.key.length + show(s.value).length + 2)));
  const dim = (t: string) => (color ? `\x1b[2m${t}\x1b[0m` : t);
  return settings
    .map((s) => {
      const left = `${s.key}: ${show(s.value)}`;
      return `${left.padEnd(width)}  ${dim(`# ${s.origin}`)}`;
    })
    .join('\n');
}
