/**
 * A change of the access rules as an operator pastes it — `allow:` and/or `routes:` written as in the
 * configuration file — read and checked by the same parser, schema and rule checks as the file, so a bad
 * paste gets the same key-named problems (`routes[0].allow.grups: unknown key — did you mean "groups"?`).
 * For "what if" (src/policy/what-if.ts): nothing is applied to the running gateway.
 */
import { accessRuleProblems } from './access-rules.ts';
import { bearerProblems } from './bearer.ts';
import { ConfigError } from './errors.ts';
import { parseConfigText, type ResolvedConfig, zodProblems } from './load.ts';
import { type AllowConfig, configSchema, type RouteConfig } from './schema.ts';

export interface RulesChange {
  /** The new top-level `allow` (null: the block removed); absent: unchanged. */
  readonly allow?: AllowConfig | null;
  /** Routes replacing those with the same path, or added; the others stay. */
  readonly routes?: readonly RouteConfig[];
}

const changeSchema = configSchema.pick({ allow: true, routes: true });

/** Reads pasted YAML (or JSON); throws ConfigError with every problem, as a configuration file would. */
export function parseRulesChange(text: string, source = 'the pasted rules'): RulesChange {
  let doc = parseConfigText(text, source);
  // A bare list of routes reads as `routes:`.
  if (Array.isArray(doc)) doc = { routes: doc };
  if (doc === null || typeof doc !== 'object') {
    throw new ConfigError([
      `(top level): paste \`allow:\` and/or \`routes:\` as they are written in the configuration file`,
    ]);
  }
  const entries = doc as Record<string, unknown>;
  const other = Object.keys(entries).filter((k) => k !== 'allow' && k !== 'routes');
  if (other.length > 0) {
    throw new ConfigError(
      other.map((k) => `${k}: only allow and routes can be tried here; reload the configuration for ${k}`),
    );
  }
  // `allow: ~` (or an empty `allow:`) removes the top-level block.
  const removeAllow = 'allow' in entries && entries['allow'] === null;
  const checked = removeAllow ? { ...entries, allow: undefined } : entries;
  const parsed = changeSchema.safeParse(checked);
  if (!parsed.success) throw new ConfigError(zodProblems(parsed.error, checked));
  return {
    ...('allow' in entries ? { allow: removeAllow ? null : (parsed.data.allow ?? null) } : {}),
    ...('routes' in entries ? { routes: parsed.data.routes } : {}),
  };
}

/** The configuration with the change in; throws ConfigError when the rules do not hold together. */
export function applyRulesChange(config: ResolvedConfig, change: RulesChange): ResolvedConfig {
  let routes = config.routes;
  if (change.routes !== undefined) {
    const byPath = new Map(change.routes.map((r) => [r.path, r]));
    routes = [
      ...config.routes.map((r) => byPath.get(r.path) ?? r),
      ...change.routes.filter((r) => !config.routes.some((c) => c.path === r.path)),
    ];
  }
  const allow = change.allow === undefined ? config.allow : (change.allow ?? undefined);
  const next: ResolvedConfig = { ...config, allow, routes };
  // The resolved configuration carries every field these read (ids, types, bearer, issuer clients).
  const asWritten = next as unknown as Parameters<typeof bearerProblems>[0];
  const problems = [...accessRuleProblems(next), ...bearerProblems(asWritten)];
  if (problems.length > 0) throw new ConfigError(problems);
  return next;
}
