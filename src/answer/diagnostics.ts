// Findings about an answer file or a profile: a stable code (documented in docs/answer-lint.md),
// a severity, where it is, what is wrong and how to fix it.
import type { Position } from './document.ts';

export type Severity = 'error' | 'warning' | 'info';

export interface Diagnostic {
  /** Stable identifier, e.g. 'UA003' (see docs/answer-lint.md). */
  code: string;
  severity: Severity;
  message: string;
  /** What to change. */
  fix?: string;
  /** Where: 1-based line and column; absent for a finding about the whole file. */
  pos?: Position;
  /** Pass / component / setting path, e.g. 'oobeSystem/Microsoft-Windows-Shell-Setup/OOBE/HideEULAPage'. */
  path?: string;
}

/** Errors before warnings before infos, then by position. */
export function sortDiagnostics(ds: Diagnostic[]): Diagnostic[] {
  const rank: Record<Severity, number> = { error: 0, warning: 1, info: 2 };
  return ds.sort((a, b) => (a.pos?.line ?? 0) - (b.pos?.line ?? 0) || (a.pos?.column ?? 0) - (b.pos?.column ?? 0) || rank[a.severity] - rank[b.severity] || a.code.localeCompare(b.code));
}

/** `file:line:col: severity CODE message (fix)`, as compilers print it. */
export function formatDiagnostic(d: Diagnostic, file: string): string {
  const where = d.pos ? `${file}:${d.pos.line}:${d.pos.column}` : file;
  return `${where}: ${d.severity} ${d.code} ${d.message}${d.fix ? `\n    fix: ${d.fix}` : ''}`;
}
