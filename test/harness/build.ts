// The compiled build (dist/) that tests run as production does (the compiled controller in the sync
// test, the node images of the VM story): rebuilt with `npm run build` when any shipped source is
// newer than it, so a test never runs a stale dist/ by accident.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './binaries.js';

/** The folders the build compiles: tsconfig.build.json's `include`. */
const SHIPPED = (JSON.parse(readFileSync(join(repoRoot, 'tsconfig.build.json'), 'utf8')) as { include: string[] }).include;
/** The last file the build writes: when it is newer than every input, the build is current. */
const LAST_OUTPUT = 'dist/api/client-node.js';

function newestInput(): { file: string; mtimeMs: number } {
  let newest = { file: '', mtimeMs: 0 };
  const consider = (file: string) => {
    const mtimeMs = statSync(file).mtimeMs;
    if (mtimeMs > newest.mtimeMs) newest = { file, mtimeMs };
  };
  for (const top of SHIPPED) {
    for (const e of readdirSync(join(repoRoot, top), { withFileTypes: true, recursive: true })) {
      if (e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')) consider(join(e.parentPath, e.name));
    }
  }
  for (const f of ['package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'hack/bundle-client-node.mjs']) consider(join(repoRoot, f));
  return newest;
}

/** Why dist/ must be rebuilt, or undefined when it is current. */
export function staleBuild(): string | undefined {
  let built: number;
  try {
    built = statSync(join(repoRoot, LAST_OUTPUT)).mtimeMs;
    if (!readFileSync(join(repoRoot, LAST_OUTPUT), 'utf8').startsWith('// osfleet: bundled')) return `${LAST_OUTPUT} is not bundled`;
  } catch {
    return `${LAST_OUTPUT} is missing`;
  }
  const newest = newestInput();
  return newest.mtimeMs > built ? `${newest.file} is newer than ${LAST_OUTPUT}` : undefined;
}

/** Runs `npm run build` if dist/ is stale; throws with the build's output if it fails. */
export function ensureBuilt(log: (msg: string) => void): void {
  const why = staleBuild();
  if (!why) return;
  log(`building dist/ (${why})`);
  buildDistSync();
}

/**
 * `npm run build` (package.json: tsc, then the client-node bundle), so that benchmarks measure and
 * tests run what ships. Throws with the build's output if it fails.
 */
export function buildDistSync(): void {
  const r = spawnSync('npm', ['run', '--silent', 'build'], { cwd: repoRoot, encoding: 'utf8' });
  if (r.status !== 0) {
    throw new Error(`npm run build failed (exit ${r.status ?? r.signal}):\n${`${r.stdout ?? ''}${r.stderr ?? ''}${r.error?.message ?? ''}`.slice(-4000)}`);
  }
}
