/** The options shared by commands that load a configuration: where from, and overrides. */
import { parseArgs } from 'node:util';
import type { LoadOptions } from '../config/load.ts';

export class UsageError extends Error {}

export const CONFIG_OPTIONS = {
  config: { type: 'string', short: 'c' },
  set: { type: 'string', multiple: true },
  listen: { type: 'string' },
  'public-url': { type: 'string' },
  'log-level': { type: 'string' },
} as const;

export const CONFIG_USAGE = `  --config FILE      YAML or JSON configuration (default: $PORTCULLIS_CONFIG)
  --set KEY=VALUE    override one setting, e.g. --set cookie.secure=true,
                     --set providers.corp.clientSecretFile=/run/secrets/corp (repeatable)
  --listen H:P, --public-url URL, --log-level L
                     shorthands for --set listen=…, publicUrl=…, logging.level=…`;

/** Parses the shared options plus `extra` boolean flags; flags keep their command-line order. */
export function parseConfigArgs<E extends string>(
  args: readonly string[],
  extra: readonly E[] = [],
): { load: LoadOptions; flags: Record<E, boolean> } {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {
    ...CONFIG_OPTIONS,
  };
  for (const e of extra) options[e] = { type: 'boolean' };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: [...args], options, strict: true, allowPositionals: false, tokens: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const named: Record<string, string> = {
    listen: 'listen',
    'public-url': 'publicUrl',
    'log-level': 'logging.level',
  };
  const sets: { flag: string; spec: string }[] = [];
  for (const t of parsed.tokens ?? []) {
    if (t.kind !== 'option' || t.value === undefined) continue;
    if (t.name === 'set') sets.push({ flag: '--set', spec: t.value });
    else if (named[t.name]) sets.push({ flag: `--${t.name}`, spec: `${named[t.name]}=${t.value}` });
  }
  const values = parsed.values as Record<string, unknown>;
  const flags = Object.fromEntries(extra.map((e) => [e, values[e] === true])) as Record<E, boolean>;
  const file = (values['config'] as string | undefined) || process.env['PORTCULLIS_CONFIG'];
  // Providers and upstreams are lists only a file can declare: a configuration always starts from one.
  if (!file) throw new UsageError('needs --config FILE (or PORTCULLIS_CONFIG)');
  return { load: { file, env: process.env, sets }, flags };
}
