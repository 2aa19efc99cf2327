/**
 * "Would he get in if I change this rule?" — the recorded decisions and the known principals decided again
 * under the current rules and under a changed `allow` block or routes (pasted YAML, checked as the
 * configuration file is), and those whose outcome or reasons would change. Pure: both policies are compiled
 * here (emailsFile lists read once, not watched) and closed again; nothing is applied or recorded. Decisions
 * go through `decidePaths`, the loop `authorize` runs, so "after" is what the gate would answer.
 */
import type { ResolvedConfig } from '../config/load.ts';
import { applyRulesChange, parseRulesChange } from '../config/rules-change.ts';
import { decidePaths } from './authorize.ts';
import { compilePolicy } from './compile.ts';
import type { AccessPolicy, Principal } from './decision.ts';
import type { DecisionRecord } from './record.ts';

export interface Outcome {
  readonly allow: boolean;
  readonly reasons: readonly string[];
}

export interface WhatIfChange {
  /** `decision`: a recorded decision replayed; `principal`: a known principal at a path (or none). */
  readonly kind: 'decision' | 'principal';
  /** Who, in words: the e-mail, the username, the machine's client, or the subject. */
  readonly who: string;
  readonly principal: Principal;
  readonly paths: readonly string[];
  /** The record's time and request id (kind `decision`). */
  readonly time?: number | undefined;
  readonly requestId?: string | undefined;
  /** Under the current rules (which may differ from what was recorded: see `recorded`). */
  readonly before: Outcome;
  /** Under the changed rules. */
  readonly after: Outcome;
  /** What was recorded at the time (kind `decision`). */
  readonly recorded?: Outcome | undefined;
}

export interface WhatIfResult {
  readonly decisions: readonly DecisionRecord[];
  readonly principals: readonly Principal[];
  /** The paths each known principal was decided for: none (sign-in) and every route prefix, before or after. */
  readonly probes: readonly (string | undefined)[];
  /** Only what would change (allow, or the reasons), in input order: decisions first, then principals. */
  readonly changed: readonly WhatIfChange[];
}

export function whoOf(p: Principal): string {
  const id = p.identity;
  if (id.client !== undefined) return `client ${id.client}`;
  return id.email ?? id.unverifiedEmail ?? id.preferredUsername ?? `${p.provider}:${id.sub}`;
}

function outcome(policy: AccessPolicy, p: Principal, paths: readonly string[]): Outcome {
  const d = decidePaths(policy, p, paths);
  return { allow: d.allow, reasons: d.reasons };
}

function same(a: Outcome, b: Outcome): boolean {
  return a.allow === b.allow && a.reasons.join('\n') === b.reasons.join('\n');
}

/** The route prefixes whose rules apply to a path (public routes are never decided). */
function ruledPaths(config: ResolvedConfig): string[] {
  return config.routes.filter((r) => !r.public && r.allow !== undefined).map((r) => r.path);
}

/**
 * Replays `decisions` and decides for `principals` under `config` and under `config` changed by `change`
 * (YAML text, or an already changed configuration). Throws ConfigError for a change the configuration
 * file would not accept, with the same key-named problems.
 */
export function whatIf(
  config: ResolvedConfig,
  change: string | ResolvedConfig,
  decisions: readonly DecisionRecord[],
  principals: readonly Principal[] = [],
): WhatIfResult {
  const changed = typeof change === 'string' ? applyRulesChange(config, parseRulesChange(change)) : change;
  const before = compilePolicy(config, { watch: false });
  const after = compilePolicy(changed, { watch: false });
  try {
    const out: WhatIfChange[] = [];
    for (const r of decisions) {
      const b = outcome(before, r.principal, r.paths);
      const a = outcome(after, r.principal, r.paths);
      if (same(a, b)) continue;
      out.push({
        kind: 'decision',
        who: whoOf(r.principal),
        principal: r.principal,
        paths: r.paths,
        time: r.time,
        requestId: r.requestId,
        before: b,
        after: a,
        recorded: { allow: r.allow, reasons: r.reasons },
      });
    }
    const probes: (string | undefined)[] = [
      undefined,
      ...new Set([...ruledPaths(config), ...ruledPaths(changed)]),
    ];
    for (const p of principals) {
      for (const path of probes) {
        const paths = path === undefined ? [] : [path];
        const b = outcome(before, p, paths);
        const a = outcome(after, p, paths);
        if (!same(a, b))
          out.push({ kind: 'principal', who: whoOf(p), principal: p, paths, before: b, after: a });
      }
    }
    return { decisions, principals, probes, changed: out };
  } finally {
    before.close?.();
    after.close?.();
  }
}
