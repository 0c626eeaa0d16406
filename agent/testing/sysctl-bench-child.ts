// Bench-only child, started inside a network namespace: find 200 writable net.* sysctls,
// then time applySysctls (fresh persist dir each round) against `sysctl -p` of the same file.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { applySysctls, normalizeSysctlValue, renderSysctlFile, sysctlKeyProblem } from '../sysctl.js';

const WANT = 200;
const ROUNDS = Number(process.argv[2] ?? 15);

function* walk(dir: string): Generator<string> {
  for (const name of readdirSync(dir).sort()) {
    const p = path.join(dir, name);
    const st = statSync(p);
    if (st.isDirectory()) yield* walk(p);
    else if (st.isFile() && (st.mode & 0o200) !== 0 && (st.mode & 0o400) !== 0) yield p;
  }
}

const settings: Record<string, string> = {};
for (const file of walk('/proc/sys/net')) {
  if (Object.keys(settings).length >= WANT) break;
  const key = path.relative('/proc/sys', file).split('/').map((c) => c.replaceAll('.', '/')).join('.');
  if (sysctlKeyProblem(key)) continue;
  let value: string;
  try {
    value = normalizeSysctlValue(readFileSync(file, 'utf8'));
    if (value.length === 0 || value.includes('\n')) continue;
    writeFileSync(file, value); // keep only keys that accept their own value back
  } catch {
    continue;
  }
  settings[key] = value;
}
if (Object.keys(settings).length < WANT) throw new Error(`only ${Object.keys(settings).length} writable net sysctls in this namespace`);

const work = mkdtempSync(path.join(os.tmpdir(), 'osfleet-sysctl-bench-'));
const confFile = path.join(work, 'bench.conf');
writeFileSync(confFile, renderSysctlFile(settings));
const first: number[] = [];
const again: number[] = [];
const theirs: number[] = [];
const time = async (f: () => Promise<unknown> | unknown): Promise<number> => {
  const t0 = process.hrtime.bigint();
  await f();
  return Number(process.hrtime.bigint() - t0) / 1e6;
};
try {
  for (let i = 0; i < ROUNDS; i++) {
    const persistDir = path.join(work, `persist-${i}`);
    // First apply on a fresh persist partition: originals captured, two durable file writes.
    first.push(await time(async () => check(await applySysctls({ procSysRoot: '/proc/sys', persistDir }, settings))));
    // The same set again (every reconcile and every boot): what `sysctl -p` of the persisted file does.
    again.push(await time(async () => check(await applySysctls({ procSysRoot: '/proc/sys', persistDir }, settings))));
    theirs.push(
      await time(() => {
        const r = spawnSync('sysctl', ['-q', '-p', confFile], { stdio: 'pipe' });
        if (r.status !== 0) throw new Error(`sysctl -p failed: ${String(r.stderr)}`);
      }),
    );
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
function check(report: { failed: Record<string, string> }): void {
  if (Object.keys(report.failed).length > 0) throw new Error(`apply failed: ${JSON.stringify(report.failed)}`);
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
process.stdout.write(JSON.stringify({ keys: Object.keys(settings).length, firstApplyMs: median(first), reapplyMs: median(again), sysctlPMs: median(theirs) }) + '\n');
