// `npm run bench -- vm`: the node image and real boots.
//   image.build_s (cold: an empty cache, mmdebstrap included; cached: the same build again),
//   image.slot_mb, and the VM story's figures (test/vm/node.test.ts prints them as VM_FIGURE lines):
//   vm.boot_to_agent_ready_s, vm.upgrade_push_to_done_s, vm.revert_push_to_done_s, vm.fallback_s,
//   vm.health_fallback_s, each with the accelerator it ran under (kvm or tcg).
// Needs root, like the image build. OSFLEET_BENCH_SKIP_COLD=1 leaves out the cold build (minutes);
// OSFLEET_BENCH_SKIP_STORY=1 leaves out the VM story (a quarter of an hour under TCG).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildImage, BUILD_DEFAULTS } from '../../image/build.js';
import type { Figure } from './run.js';

type VmFigure = Figure & { accel?: string };

async function timedBuild(cacheDir: string, outDir: string): Promise<{ s: number; mb: number }> {
  const t0 = performance.now();
  const r = await buildImage({ ...BUILD_DEFAULTS, version: 'bench', urlBase: 'http://10.0.2.101', outDir, cacheDir, extraPackages: [], disk: true }, (m) => process.stderr.write(`bench vm: ${m}\n`));
  return { s: (performance.now() - t0) / 1000, mb: r.slotImageSize / 1024 / 1024 };
}

function vmStory(): Promise<VmFigure[]> {
  return new Promise((resolve, reject) => {
    const p = spawn('npx', ['vitest', 'run', '--project', 'integration', 'test/vm/node.test.ts'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const figures: VmFigure[] = [];
    let buf = '';
    p.stdout.on('data', (b: Buffer) => {
      buf += b.toString();
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        const m = /VM_FIGURE (\{.*\})/.exec(line);
        if (m) figures.push(JSON.parse(m[1] as string) as VmFigure);
      }
    });
    p.on('error', reject);
    p.on('exit', (code) => (code === 0 ? resolve(figures) : reject(new Error(`the VM story failed (exit ${code}); run npx vitest run test/vm/node.test.ts to see why`))));
  });
}

export async function run(): Promise<VmFigure[]> {
  const out: VmFigure[] = [];
  const cache = mkdtempSync(path.join(tmpdir(), 'osfleet-bench-image-cache-'));
  const outDir = mkdtempSync(path.join(tmpdir(), 'osfleet-bench-image-out-'));
  try {
    if (!process.env.OSFLEET_BENCH_SKIP_COLD) {
      const cold = await timedBuild(cache, outDir);
      out.push({ name: 'image.build_s', value: Math.round(cold.s * 10) / 10, unit: 's', cache: 'cold' } as VmFigure);
    }
    const warm = await timedBuild(cache, outDir);
    out.push({ name: 'image.build_s', value: Math.round(warm.s * 10) / 10, unit: 's', cache: 'cached' } as VmFigure);
    out.push({ name: 'image.slot_mb', value: Math.round(warm.mb * 10) / 10, unit: 'MiB' });
  } finally {
    rmSync(cache, { recursive: true, force: true });
    rmSync(outDir, { recursive: true, force: true });
  }
  if (process.env.OSFLEET_BENCH_SKIP_STORY) return out;
  for (const f of await vmStory()) out.push({ name: f.name, value: Math.round(f.value * 10) / 10, unit: f.unit, ...(f.accel ? { accel: f.accel } : {}) });
  return out;
}
