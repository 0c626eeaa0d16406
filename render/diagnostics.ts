// Diagnostics: the one-line errors and warnings the validator reports, and how they print.

export type Severity = 'error' | 'warning';

/** One finding about the repository, pointing at a file, line and column (1-based). */
export interface Diagnostic {
  severity: Severity;
  /** Path relative to the repository root (or to the rendered subfolder), `/`-separated. */
  path: string;
  line: number;
  col: number;
  /** What is wrong and how to fix it, in operator words. One line. */
  message: string;
}

/** `path:LINE:COL: error: message` — the format editors and CI annotations understand. */
export function formatDiagnostic(d: Diagnostic): string {
  return `${d.path}:${d.line}:${d.col}: ${d.severity}: ${oneLine(d.message)}`;
}

/** Sort by file, then position, errors before warnings at the same spot: stable, reproducible output. */
export function compareDiagnostics(a: Diagnostic, b: Diagnostic): number {
  if (a.path !== b.path) return a.path < b.path ? -1 : 1;
  if (a.line !== b.line) return a.line - b.line;
  if (a.col !== b.col) return a.col - b.col;
  if (a.severity !== b.severity) return a.severity === 'error' ? -1 : 1;
  return a.message < b.message ? -1 : a.message > b.message ? 1 : 0;
}

export function oneLine(s: string): string {
  return s.replace(/\r?\n/g, ' ').replace(/\s+$/, '');
}

/** Quote a user value for a message, escaping control characters so the message stays one line. */
export function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value);
  if (value === null) return 'null';
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return String(value);
}
