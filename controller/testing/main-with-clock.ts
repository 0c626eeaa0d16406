// Test support only: `osfleet controller` with the rollout's "now" read from a file
// (`--clock-file PATH`, an ISO 8601 instant), for whole-process tests that move through a week of
// windows in seconds. Lives under testing/, which the build leaves out, so no production binary
// or image can be started with a fake clock.
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { runController } from '../main.js';
import { FileClock } from './file-clock.js';

export async function runControllerWithClockFile(argv: string[]): Promise<number> {
  const i = argv.findIndex((a) => a === '--clock-file' || a.startsWith('--clock-file='));
  if (i < 0) return runController(argv);
  const eq = argv[i]!.indexOf('=');
  const file = eq >= 0 ? argv[i]!.slice(eq + 1) : argv[i + 1];
  const rest = [...argv.slice(0, i), ...argv.slice(i + (eq >= 0 ? 1 : 2))];
  if (!file) {
    process.stderr.write('osfleet controller (test entry): --clock-file needs a path\n');
    return 2;
  }
  let clock: FileClock;
  try {
    clock = new FileClock(file);
  } catch (err) {
    process.stderr.write(`osfleet controller (test entry): --clock-file: ${(err as Error).message}\n`);
    return 2;
  }
  return runController(rest, { clock });
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  runControllerWithClockFile(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`osfleet controller (test entry): internal error: ${(err as Error)?.stack ?? String(err)}\n`);
      process.exitCode = 70;
    },
  );
}
