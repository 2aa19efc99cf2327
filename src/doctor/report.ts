/** How `portcullis check` prints its report: one line per finding, grouped by subject, or JSON. */
import type { Finding, Report, Status } from './finding.ts';

const MARK: Record<Status, string> = { ok: '✓', warn: '!', fail: '✗', skip: '-' };
const COLOUR: Record<Status, string> = { ok: '32', warn: '33', fail: '31', skip: '2' };

/** Colour only on a terminal, and never when NO_COLOR is set (no-color.org). */
export function wantsColour(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv): boolean {
  return stream.isTTY === true && (env['NO_COLOR'] ?? '') === '';
}

export function formatHuman(report: Report, colour: boolean): string {
  const paint = (code: string, text: string) => (colour ? `\x1b[${code}m${text}\x1b[0m` : text);
  const lines: string[] = [
    paint('1', `portcullis check${report.config ? ` ${report.config}` : ''}`) +
      (report.mode === 'offline' ? ' (offline: static checks only)' : ''),
  ];
  const subjects: string[] = [];
  const bySubject = new Map<string, Finding[]>();
  for (const f of report.findings) {
    if (!bySubject.has(f.subject)) {
      subjects.push(f.subject);
      bySubject.set(f.subject, []);
    }
    bySubject.get(f.subject)!.push(f);
  }
  const width = Math.max(...report.findings.map((f) => shortId(f.id).length), 0);
  for (const subject of subjects) {
    lines.push('', paint('1', subject));
    for (const f of bySubject.get(subject)!) {
      const id = shortId(f.id).padEnd(width);
      lines.push(`  ${paint(COLOUR[f.status], MARK[f.status])} ${paint('2', id)}  ${f.message}`);
      const indent = ' '.repeat(width + 6);
      if (f.fix) lines.push(`${indent}${paint('36', 'fix:')} ${f.fix}`);
      if (f.detail && f.status !== 'ok') lines.push(`${indent}${paint('2', f.detail)}`);
    }
  }
  const s = report.summary;
  const parts = [
    `${s.ok} ok`,
    `${s.warn} warning${s.warn === 1 ? '' : 's'}`,
    `${s.fail} failed`,
    ...(s.skip > 0 ? [`${s.skip} skipped`] : []),
  ];
  const verdict =
    s.exitCode === 2
      ? paint('31', 'the configuration does not load')
      : s.exitCode === 1
        ? paint('31', 'something is wrong')
        : s.warn > 0
          ? paint('33', 'nothing is wrong, but read the warnings')
          : paint('32', 'all good');
  lines.push('', `${parts.join(', ')}: ${verdict} (exit ${s.exitCode})`);
  return lines.join('\n');
}

/** `provider.redirect-uri` → `redirect-uri`: the subject heading already says what kind of thing it is. */
function shortId(id: string): string {
  return id.slice(id.indexOf('.') + 1);
}

export function formatJson(report: Report): string {
  return JSON.stringify({ ...report, config: report.config ?? null }, null, 2);
}
