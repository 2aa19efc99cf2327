/**
 * YAML syntax errors as findings an operator can act on: one per mistake (the parser's follow-on errors on
 * the same or the next line are dropped), each with its line and column, the line itself with a caret
 * under the spot, and a hint in words. The parser's own text ends in "at line 7, column 1:" and a copy of
 * the lines; that tail is replaced by the excerpt.
 */
import type { YAMLError } from 'yaml';

/** What to do, by the yaml package's error code (eemeli.org/yaml/#errors). */
function hint(e: YAMLError, what: string): string {
  switch (e.code) {
    case 'BAD_INDENT':
      if (/^Flow (sequence|mapping)/.test(what)) {
        return 'close the [ … ] or { … } on the same line, or write the entries as indented lines';
      }
      return 'start this line at the same column as the other keys of its block (spaces only)';
    case 'BLOCK_AS_IMPLICIT_KEY':
    case 'MULTILINE_IMPLICIT_KEY':
      return 'this line is indented differently from the entries around it: put each `- ` item of a list at the same column, and its keys two spaces further in';
    case 'TAB_AS_INDENT':
      return 'indent with spaces; YAML does not allow tabs';
    case 'DUPLICATE_KEY':
      return 'this key appears twice in the same block: keep one';
    case 'MISSING_CHAR':
      if (/quote/i.test(what)) return 'close the quote on the same value';
      if (/^Sequence item without/.test(what)) {
        return 'this line is not lined up with the keys of the list item above: indent it like them, or start a new item with `- `';
      }
      return 'a key needs a value after `: ` on its own line; check the indentation against the line above';
    case 'UNEXPECTED_TOKEN':
      return 'a value with `: `, ` #`, `{`, `[` or a leading `*`, `&`, `!` or `%` needs quotes';
    default:
      return 'check the indentation and quoting of this line; a value with `: ` or ` #` in it needs quotes';
  }
}

/** The previous line, the line, and a caret under `col`, numbered like an editor. */
function excerpt(lines: readonly string[], line: number, col: number): string {
  const width = String(line).length;
  const show = (n: number) =>
    `    ${String(n).padStart(width)} | ${(lines[n - 1] ?? '').replaceAll('\t', '→')}`;
  const out: string[] = [];
  if (line > 1) out.push(show(line - 1));
  out.push(show(line), `    ${' '.repeat(width)} | ${' '.repeat(Math.max(0, col - 1))}^`);
  return out.join('\n');
}

/**
 * Where to point: the parser places an indentation error at column 1, and an unclosed quote at the end
 * of the file; the operator's eye wants the first character of the line, and the line that opened it.
 */
function spot(
  lines: readonly string[],
  line: number,
  col: number,
  what: string,
): { line: number; col: number } {
  if (/closing "quote/.test(what) || /closing 'quote/.test(what)) {
    const q = what.includes('"') ? '"' : "'";
    for (let l = line; l >= 1; l--) {
      const text = lines[l - 1] ?? '';
      if (text.split(q).length % 2 === 0) return { line: l, col: text.indexOf(q) + 1 };
    }
  }
  let l = line;
  while (l > 1 && (lines[l - 1] ?? '').trim() === '') l--;
  const text = lines[l - 1] ?? '';
  if (l !== line) return { line: l, col: text.length + 1 };
  const indent = /^[ \t]*/.exec(text)![0].length;
  return { line: l, col: col === 1 && indent > 0 ? indent + 1 : col };
}

/** Said once after the syntax errors: nothing else can be checked in a file that does not parse. */
export const NOT_PARSED = '(the settings are checked once the file parses)';

export function yamlProblems(errors: readonly YAMLError[], text: string, source: string): string[] {
  const lines = text.split(/\r?\n/);
  const problems: string[] = [];
  let lastLine = Number.NEGATIVE_INFINITY;
  for (const e of errors) {
    const pos = e.linePos?.[0];
    const line = pos?.line ?? 0;
    // The parser reports the fallout of one mistake as more errors on the same or the next line.
    const followOn = line <= lastLine + 1;
    lastLine = Math.max(lastLine, line);
    if (followOn && problems.length > 0) continue;
    const what = e.message
      .split('\n')[0]!
      .replace(/ at line \d+, column \d+:?$/, '')
      .replace(/:$/, '');
    if (pos === undefined) {
      problems.push(`${source}: not valid YAML: ${what} — ${hint(e, what)}`);
      continue;
    }
    const at = spot(lines, pos.line, pos.col, what);
    problems.push(
      `${source}:${at.line}:${at.col}: not valid YAML: ${what} — ${hint(e, what)}\n${excerpt(lines, at.line, at.col)}`,
    );
  }
  return [...problems, NOT_PARSED];
}
