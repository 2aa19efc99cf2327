/** The signed identity assertion's settings (src/proxy/assertion.ts): the bounds the schema cannot express. */
import type { UpstreamConfig } from './schema.ts';

/** Seconds: an assertion lives at least this long (clock skew and one re-sign), at most an hour. */
export const MIN_LIFETIME = 30;
export const MAX_LIFETIME = 3600;

/** Configuration problems the schema cannot express (collected with the others by src/config/load.ts). */
export function assertionProblems(upstreams: readonly UpstreamConfig[]): string[] {
  const out: string[] = [];
  upstreams.forEach((u, i) => {
    const l = u.assertion?.lifetime;
    if (l !== undefined && (l < MIN_LIFETIME || l > MAX_LIFETIME)) {
      out.push(
        `upstreams[${i}].assertion.lifetime: ${l}s; must be between ${MIN_LIFETIME}s and 1h (a short-lived assertion is the point)`,
      );
    }
  });
  return out;
}
