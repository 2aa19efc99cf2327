/** The users the console knows of: the principals of this instance's recent decisions, newest first. */
import type { Principal } from '../policy/decision.ts';
import type { DecisionRecord } from '../policy/record.ts';

/** A principal's key in forms and lists: provider and user id (unique per provider only). */
export function principalKey(p: {
  readonly provider: string;
  readonly identity: { readonly sub: string };
}): string {
  return `${p.provider} ${p.identity.sub}`;
}

/** Each principal once (its latest record's identity), people only (machine principals have a client). */
export function recentPrincipals(records: readonly DecisionRecord[], limit = 200): Principal[] {
  const seen = new Map<string, Principal>();
  for (const r of records) {
    if (seen.size >= limit) break;
    if (r.principal.identity.client !== undefined) continue;
    const k = principalKey(r.principal);
    if (!seen.has(k)) seen.set(k, r.principal);
  }
  return [...seen.values()];
}
