/**
 * `portcullis explain`: the decision the gate would make for a principal and a target, layer by layer
 * (src/policy/explain.ts), or with `--what-if FILE --decisions FILE` which recorded decisions a changed
 * `allow`/`routes` would turn (src/policy/what-if.ts). Exit 0 allowed (what-if: nothing would change),
 * 1 denied (what-if: something would), 2 usage or configuration error.
 */
import { readFileSync } from 'node:fs';
import { loadConfig, type ResolvedConfig } from '../config/load.ts';
import { explain } from '../policy/explain.ts';
import type { DecisionRecord } from '../policy/record.ts';
import { whatIf } from '../policy/what-if.ts';
import { type ExplainValues, parseExplainArgs, principalOf, targetOf } from './explain-args.ts';
import { formatExplanation, formatWhatIf } from './explain-format.ts';
import { parseConfigArgs, UsageError } from './options.ts';

export { EXPLAIN_USAGE } from './usage.ts';

function readJson(file: string, flag: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`explain: ${flag} ${file}: cannot read (${(err as NodeJS.ErrnoException).code})`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new UsageError(`explain: ${flag} ${file}: not JSON (${(err as Error).message})`);
  }
}

/** A list of DecisionRecord, or `{ decisions: [...] }` as the console exports them. */
function decisionsOf(doc: unknown, file: string): DecisionRecord[] {
  const list = Array.isArray(doc) ? doc : (doc as { decisions?: unknown } | null)?.decisions;
  const ok =
    Array.isArray(list) &&
    list.every(
      (r: Partial<DecisionRecord> | null) =>
        typeof r?.principal?.provider === 'string' &&
        typeof r.principal.identity?.sub === 'string' &&
        Array.isArray(r.principal.identity.groups) &&
        Array.isArray(r.paths) &&
        typeof r.allow === 'boolean' &&
        Array.isArray(r.reasons),
    );
  if (!ok) {
    throw new UsageError(
      `explain: --decisions ${file}: expected a list of decision records (principal.provider, principal.identity.sub and groups, paths, allow, reasons)`,
    );
  }
  return list as DecisionRecord[];
}

export interface ExplainRun {
  readonly code: number;
  /** What the command prints on stdout (without the final newline). */
  readonly out: string;
}

/** The configuration; its warnings on stderr, so that stdout (and --json) stays the answer alone. */
function load(configArgs: readonly string[]): ResolvedConfig {
  const loaded = loadConfig(parseConfigArgs(configArgs).load);
  for (const w of loaded.warnings) process.stderr.write(`warning: ${w}\n`);
  return loaded.config;
}

const describesSomeone = (v: ExplainValues) =>
  v.email !== undefined || v.machine !== undefined || v.username !== undefined;

function whatIfCommand(v: ExplainValues, configArgs: string[]): ExplainRun {
  if (v.decisions === undefined && !describesSomeone(v)) {
    throw new UsageError('explain: --what-if needs --decisions FILE, or a user (--email …) to try');
  }
  const config = load(configArgs);
  let text: string;
  try {
    text = readFileSync(v['what-if']!, 'utf8');
  } catch (err) {
    throw new UsageError(
      `explain: --what-if ${v['what-if']}: cannot read (${(err as NodeJS.ErrnoException).code})`,
    );
  }
  const decisions =
    v.decisions === undefined ? [] : decisionsOf(readJson(v.decisions, '--decisions'), v.decisions);
  // A user described by the flags is a known principal: decided at sign-in and at every ruled route.
  const r = whatIf(config, text, decisions, describesSomeone(v) ? [principalOf(v, config)] : []);
  return {
    code: r.changed.length === 0 ? 0 : 1,
    out: v.json ? JSON.stringify(r.changed, null, 2) : formatWhatIf(r),
  };
}

/** Runs the command and returns its exit code; UsageError and ConfigError propagate (exit 2 in main). */
export function explainCommand(args: readonly string[]): number {
  const r = runExplain(args);
  process.stdout.write(`${r.out}\n`);
  return r.code;
}

/** The command without printing: its exit code and output. UsageError and ConfigError propagate. */
export function runExplain(args: readonly string[]): ExplainRun {
  const { values: v, configArgs } = parseExplainArgs(args);
  if (v['what-if'] !== undefined) return whatIfCommand(v, configArgs);
  const config = load(configArgs);
  if (v.client !== undefined && !config.issuer?.clients.some((c) => c.id === v.client)) {
    const ids = config.issuer?.clients.map((c) => c.id) ?? [];
    throw new UsageError(
      `explain: --client ${v.client} is not an issuer client${ids.length > 0 ? `; the clients are: ${ids.join(', ')}` : ' (no issuer is configured)'}`,
    );
  }
  if (!describesSomeone(v)) {
    throw new UsageError(
      'explain: describe the user with --email (or --username), or a service with --machine',
    );
  }
  const e = explain(config, principalOf(v, config), targetOf(v));
  return { code: e.allow ? 0 : 1, out: v.json ? JSON.stringify(e, null, 2) : formatExplanation(e) };
}
