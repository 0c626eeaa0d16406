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

/**
 * A reader of revisions of the git clone containing `dir`: renders only `dir` (a folder of the clone),
 * so a repository can keep osfleet documents in a subfolder. Unknown revisions are usage errors.
 */
export async function gitRevisions(dir: string): Promise<{
  root: string;
  sub: string;
  at(ref: string): Promise<import('../render/index.js').RenderResult>;
}> {
  const fs = await import('node:fs');
  const { relative, resolve, sep } = await import('node:path');
  const git = (await import('isomorphic-git')).default;
  let root: string;
  try {
    root = await git.findRoot({ fs, filepath: resolve(dir) });
  } catch {
    throw new UsageError(`${dir} is not inside a git clone`);
  }
  const sub = relative(root, resolve(dir)).split(sep).join('/');
  const { loadAndRender, RevisionError } = await import('../render/index.js');
  return {
    root,
    sub,
    async at(ref) {
      try {
        return await loadAndRender({ type: 'git', dir: root, ref, path: sub }, { partial: true });
      } catch (err) {
        if (err instanceof RevisionError) throw new UsageError(err.message);
        throw err;
      }
    },
  };
}
