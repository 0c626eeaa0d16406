// Pieces shared by the repository subcommands: locating the repository folder, printing diagnostics.
import { stat } from 'node:fs/promises';
import { formatDiagnostic, type Diagnostic } from '../render/diagnostics.js';
import type { CliIO } from './io.js';
import { UsageError } from './args.js';

/** The repository folder argument: default `.`, must exist. */
export async function repositoryDir(positionals: string[]): Promise<string> {
  const dir = positionals[0] ?? '.';
  const st = await stat(dir).catch(() => undefined);
  if (!st) throw new UsageError(`${dir}: no such file or directory`);
  return dir;
}

export function printDiagnostics(io: CliIO, diags: readonly Diagnostic[]): void {
  if (diags.length) io.stderr(diags.map((d) => `${formatDiagnostic(d)}\n`).join(''));
}

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** Run a command body, turning usage errors into exit status 2 with the command's usage. */
export async function withUsage(io: CliIO, usage: string, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr(`osfleet: ${err.message}\n\n${usage}`);
      return 2;
    }
    throw err;
  }
}
