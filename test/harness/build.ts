// The compiled build (dist/) that tests run as production does (the compiled controller in the sync
// test, the node images of the VM story): rebuilt with `npm run build` when any shipped source is
// newer than it, so a test never runs a stale dist/ by accident.
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './binaries.js';

const SHIPPED = ['api', 'render', 'rollout', 'controller', 'agent', 'cli', 'image', 'display'];
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
export async function ensureBuilt(log: (msg: string) => void): Promise<void> {
  const why = staleBuild();
  if (!why) return;
  log(`building dist/ (${why})`);
  const out = await new Promise<{ code: number | null; text: string }>((resolve, reject) => {
    const p = spawn('npm', ['run', '--silent', 'build'], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    p.stdout.on('data', (c: Buffer) => (text += c.toString()));
    p.stderr.on('data', (c: Buffer) => (text += c.toString()));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, text }));
  });
  if (out.code !== 0) throw new Error(`npm run build failed (exit ${out.code}); the tests that run dist/ cannot run:\n${out.text.slice(-4000)}`);
}

/**
 * `npm run build` into `outDir` (default dist/): tsc, then the client-node bundle. Benchmarks build
 * this way so they measure what ships. Throws with the output of the step that failed.
 */
export function buildDistSync(outDir = join(repoRoot, 'dist')): void {
  const steps: string[][] = [
    [join(repoRoot, 'node_modules/typescript/bin/tsc'), '-p', join(repoRoot, 'tsconfig.build.json'), '--outDir', outDir],
    [join(repoRoot, 'hack/bundle-client-node.mjs'), join(outDir, 'api/client-node.js')],
  ];
  for (const args of steps) {
    const r = spawnSync(process.execPath, args, { cwd: repoRoot, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${args.slice(0, 2).join(' ')} failed (exit ${r.status}):\n${`${r.stdout ?? ''}${r.stderr ?? ''}`.slice(-4000)}`);
  }
}
