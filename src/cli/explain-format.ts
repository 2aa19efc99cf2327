/** The human form of `portcullis explain`: the decision as a layered table, one line per criterion. */
import type { Explanation, LayerResult, StepResult } from '../policy/explain.ts';
import type { WhatIfResult } from '../policy/what-if.ts';

function who(e: Explanation): string {
  const id = e.principal.identity;
  if (id.client !== undefined) return `machine ${id.client} (issuer client)`;
  const parts = [`provider ${e.principal.provider}`];
  if (id.email !== undefined) parts.push(id.email);
  if (id.unverifiedEmail !== undefined) parts.push(`${id.unverifiedEmail} (unverified)`);
  if (id.groups.length > 0) parts.push(`groups ${id.groups.join(',')}`);
  return parts.join(', ');
}

function target(e: Explanation): string {
  if (e.paths.length > 0) return e.paths.join(' ');
  if (e.client !== undefined) return `issuer client ${e.client} (no path: top-level and provider rules)`;
  return 'sign-in (no path: top-level and provider rules)';
}

function layerName(l: LayerResult, provider: string): string {
  if (l.layer === 'allow') return 'allow (top level)';
  if (l.layer === 'provider') return `provider ${provider}`;
  return `route ${l.route ?? ''}`;
}

function step(s: StepResult, i: number, provider: string): string[] {
  const title = s.path === undefined ? 'the gateway at all' : s.path;
  const out = [`step ${i + 1}, ${title}: ${s.allow ? 'allowed' : 'DENIED'}`];
  for (const l of s.layers) {
    const state = l.criteria.length === 0 ? 'no rules' : l.held ? 'held' : 'FAILED';
    out.push(`  ${layerName(l, provider).padEnd(28)} ${state}`);
    for (const c of l.criteria) {
      const mark = c.outcome === 'held' ? 'held   ' : c.outcome === 'failed' ? 'FAILED ' : 'skipped';
      out.push(`    ${mark} ${c.label}${c.outcome === 'failed' ? '' : ` — ${c.why}`}`);
      c.reasons.forEach((r, j) => {
        out.push(`            ${r}: ${c.explanations[j] ?? ''}`);
      });
    }
  }
  return out;
}

export function formatExplanation(e: Explanation): string {
  const out = [
    `who:     ${who(e)}`,
    `target:  ${target(e)}`,
    `outcome: ${e.allow ? 'ALLOWED' : 'DENIED'}${e.reasons.length > 0 ? ` (${e.reasons.join(', ')})` : ''}`,
    '',
  ];
  e.steps.forEach((s, i) => {
    out.push(...step(s, i, e.principal.provider));
  });
  for (const n of e.notes) out.push(`note: ${n}`);
  if (!e.allow) {
    out.push('', 'the user is told:');
    for (const x of e.explanations) out.push(`  - ${x}`);
  }
  return out.join('\n');
}

const count = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

export function formatWhatIf(r: WhatIfResult): string {
  const out = [
    `${count(r.decisions.length, 'decision', 'decisions')} and ${count(r.principals.length, 'known principal', 'known principals')} replayed; ${r.changed.length} would change`,
  ];
  for (const c of r.changed) {
    const where = c.paths.length > 0 ? c.paths.join(' ') : '(no path)';
    const before = c.before.allow ? 'allowed' : `denied (${c.before.reasons.join(', ')})`;
    const after = c.after.allow ? 'allowed' : `denied (${c.after.reasons.join(', ')})`;
    out.push(`  ${c.kind.padEnd(9)} ${c.who.padEnd(30)} ${where}: ${before} -> ${after}`);
  }
  return out.join('\n');
}
