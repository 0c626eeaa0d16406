// Runs the osfleet CLI from source (`node --import tsx test/harness/osfleet-cli.ts <command> …`),
// so tests exercise the working tree rather than a possibly stale dist/ build behind bin/osfleet.js.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { repoRoot } from './binaries.js';
import { main } from '../../cli/main.js';

export const OSFLEET_CLI = join(repoRoot, 'test/harness/osfleet-cli.ts');

/** argv (for spawn) that runs `osfleet …args` from source. */
export function osfleetArgv(args: readonly string[]): [string, string[]] {
  return [process.execPath, ['--import', 'tsx', OSFLEET_CLI, ...args]];
}

/** Runs `osfleet …args` to completion; never rejects on a non-zero exit. */
export function runOsfleet(args: readonly string[], opts: { cwd?: string } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const [cmd, argv] = osfleetArgv(args);
  return new Promise((resolve) => {
    execFile(cmd, argv, { cwd: opts.cwd ?? repoRoot, maxBuffer: 64 << 20, env: { ...process.env, KUBECONFIG: '' } }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`osfleet: internal error: ${(err as Error)?.stack ?? String(err)}\n`);
      process.exitCode = 70;
    },
  );
}
