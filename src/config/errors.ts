/** A configuration that cannot run: every problem at once, each naming the key and the fix. */
export class ConfigError extends Error {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    // A problem may span lines (a YAML excerpt): its further lines stay under its bullet.
    super(`invalid configuration:\n${problems.map((p) => `  - ${p.replaceAll('\n', '\n  ')}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/**
 * A line of a ConfigError that is not a problem but says what could not be checked yet because of the
 * problems before it (written in parentheses).
 */
export function isNote(problem: string): boolean {
  return problem.startsWith('(') && problem.endsWith(')');
}

/** Levenshtein distance, for "did you mean" hints on misspelt keys. */
export function distance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j]!;
      prev[j] = Math.min(up + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length]!;
}

export function didYouMean(key: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestScore = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    const d = distance(key.toLowerCase(), c.toLowerCase());
    if (d < bestScore) {
      best = c;
      bestScore = d;
    }
  }
  return best !== undefined && bestScore <= Math.max(2, Math.floor(key.length / 3)) ? best : undefined;
}
