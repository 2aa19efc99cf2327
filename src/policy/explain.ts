/**
 * "Why was she refused?" — a decision layer by layer (top-level `allow`, the provider's `allow` and
 * restrictions, the matched route), each criterion with whether it held and why, and the outcome. Nothing
 * here decides: the policy the gate compiles (compile.ts) decides through `decidePaths`, the loop
 * `authorize` runs, and reports each criterion to a trace (decision.ts). So the outcome and reason codes
 * are the gate's by construction; the differential test (test/policy/explain-differential.test.ts) holds
 * them against real requests.
 */
import { ISSUER_SOURCE } from '../config/bearer.ts';
import type { ResolvedConfig } from '../config/load.ts';
import type { RouteConfig } from '../config/schema.ts';
import { decidePaths } from './authorize.ts';
import { compilePolicy } from './compile.ts';
import type { Criterion, Failure, RuleInput } from './criterion.ts';
import type { AccessPolicy, DecisionTrace, Layer, Principal } from './decision.ts';
import { PrefixTable } from './routes.ts';

export interface CriterionResult {
  /** What the criterion asks for (`groups: admins or ops`). */
  readonly label: string;
  /** `skipped`: person rules do not apply to machines, nor `allow.clients` to people. */
  readonly outcome: 'held' | 'failed' | 'skipped';
  /** Why, in words: what made it hold (`in group admins`), the failures' sentences, or why it was skipped. */
  readonly why: string;
  readonly reasons: readonly string[];
  readonly explanations: readonly string[];
}

export interface LayerResult {
  readonly layer: Layer;
  /** The matched route's path prefix (layer `route`). */
  readonly route?: string | undefined;
  /** False when a criterion failed; a layer without criteria holds. */
  readonly held: boolean;
  readonly criteria: readonly CriterionResult[];
}

export interface StepResult {
  /** The path decided for; undefined: the gateway at all (what sign-in and the issuer ask). */
  readonly path: string | undefined;
  readonly allow: boolean;
  readonly reasons: readonly string[];
  readonly explanations: readonly string[];
  readonly layers: readonly LayerResult[];
}

export interface ExplainTarget {
  /** Normalised request paths, decided in order as `authorize` does; none: sign-in or an issuer client. */
  readonly paths?: readonly string[] | undefined;
  /** The issuer client asking (shown only: the issuer decides for the user without a path). */
  readonly client?: string | undefined;
  /**
   * How the paths are asked about. `request` (the default for one path): a proxied request, which a public
   * route lets through undecided. `forward-auth` (the default for several): every path named is decided,
   * public routes included, as /oauth2/auth does.
   */
  readonly surface?: 'request' | 'forward-auth' | undefined;
}

export interface Explanation {
  readonly principal: Principal;
  readonly paths: readonly string[];
  readonly client?: string | undefined;
  /** The outcome and reason codes, as `authorize` (and so the 403 JSON) has them. */
  readonly allow: boolean;
  readonly reasons: readonly string[];
  readonly explanations: readonly string[];
  /** The decisions made, in order: the gateway at all, then each path until one is refused. */
  readonly steps: readonly StepResult[];
  /** What else decided: a public route, no access rules at all, paths not reached. */
  readonly notes: readonly string[];
}

/** Collects one decision's trace into layers. */
class LayerCollector implements DecisionTrace {
  readonly layers: { layer: Layer; route?: string | undefined; criteria: CriterionResult[] }[] = [];

  layer(layer: Layer, route?: string): void {
    this.layers.push({ layer, route, criteria: [] });
  }

  criterion(c: Criterion, failures: readonly Failure[] | undefined, input: RuleInput): void {
    const current = this.layers[this.layers.length - 1];
    if (current === undefined) return;
    const outcome = failures === undefined ? 'skipped' : failures.length === 0 ? 'held' : 'failed';
    current.criteria.push({
      label: c.label ?? '(unnamed criterion)',
      outcome,
      why:
        outcome === 'held'
          ? (c.held?.(input) ?? 'met')
          : outcome === 'skipped'
            ? c.machine === true
              ? 'allow.clients decides for services, not for people'
              : 'person rules do not apply to services'
            : (failures ?? []).map((f) => f.explain).join(' '),
      reasons: (failures ?? []).map((f) => f.reason),
      explanations: (failures ?? []).map((f) => f.explain),
    });
  }

  results(): LayerResult[] {
    return this.layers.map((l) => ({
      ...l,
      held: l.criteria.every((c) => c.outcome !== 'failed'),
    }));
  }
}

/**
 * Explains the decision of `policy` for `principal` and `target`. `routes` (the configuration's) lets a
 * public route answer as the gate does: allowed with no decision at all.
 */
export function explainWith(
  policy: AccessPolicy,
  principal: Principal,
  target: ExplainTarget,
  routes: readonly RouteConfig[] = [],
): Explanation {
  const notes: string[] = [];
  const paths = [...(target.paths ?? [])];
  const base = { principal, paths, ...(target.client !== undefined ? { client: target.client } : {}) };
  const surface = target.surface ?? (paths.length > 1 ? 'forward-auth' : 'request');
  // A public route is never decided for a proxied request (src/http/gateway.ts, step `decide`).
  const route =
    surface === 'request' && paths.length === 1 ? new PrefixTable(routes).match(paths[0]!) : undefined;
  if (route?.public) {
    notes.push(`${paths[0]}: public route ${route.path}: no sign-in and no rules needed`);
    return { ...base, allow: true, reasons: [], explanations: [], steps: [], notes };
  }
  // A machine's token is read only on routes that name the issuer in `bearer` (src/http/gateway.ts).
  if (principal.identity.client !== undefined && surface === 'request' && paths.length === 1) {
    const takes = Array.isArray(route?.bearer) && route.bearer.includes(ISSUER_SOURCE);
    if (!takes) {
      notes.push(
        `${paths[0]}: ${route === undefined ? 'no route' : `route ${route.path}`} takes no issuer tokens (bearer: [issuer]): the request gets 401 before any decision`,
      );
    }
  }
  // The policy as authorize asks it, each decision traced and kept as a step.
  const results: StepResult[] = [];
  const traced: AccessPolicy = {
    decide(p, path) {
      const trace = new LayerCollector();
      const d = policy.decide(p, path, trace);
      results.push({
        path,
        allow: d.allow,
        reasons: d.reasons,
        explanations: d.explanations ?? [],
        layers: trace.results(),
      });
      return d;
    },
  };
  const decision = decidePaths(traced, principal, paths);
  if (results.every((s) => s.layers.length === 0)) {
    notes.push(
      decision.reasons.includes('provider-unknown')
        ? `provider "${principal.provider}" is not configured`
        : 'no access rules are configured: every signed-in user is allowed',
    );
  }
  for (const path of paths) {
    if (!results.some((s) => s.path === path)) notes.push(`${path}: not decided, an earlier step refused`);
  }
  if (principal.identity.client !== undefined && decision.reasons.includes('client-not-allowed')) {
    notes.push('machines pass only where some layer lists them in allow.clients');
  }
  return {
    ...base,
    allow: decision.allow,
    reasons: decision.reasons,
    explanations: decision.explanations ?? [],
    steps: results,
    notes,
  };
}

/**
 * Explains the decision of the configuration's rules (compiled as the gate compiles them; emailsFile lists
 * are read once, not watched).
 */
export function explain(config: ResolvedConfig, principal: Principal, target: ExplainTarget): Explanation {
  const policy = compilePolicy(config, { watch: false });
  try {
    return explainWith(policy, principal, target, config.routes);
  } finally {
    policy.close?.();
  }
}
