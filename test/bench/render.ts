// Benchmark of the renderer: a generated repository of 1,000 documents (100 files), validated and
// rendered in-process, compared with YAML parsing alone; and `osfleet validate examples/gitrepo` as a
// whole cold process (through bin/osfleet.js, so dist/ must be built: `npm run build`).
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LineCounter, parseAllDocuments } from 'yaml';
import { validateAndRender } from '../../render/index.js';
import type { SourceFile } from '../../render/load.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export interface Figure {
  name: string;
  value: number;
  unit: string;
}

/** A realistic repository: 100 OSVersions, 500 NodeSettings, 400 RolloutPolicies over disjoint pools. */
export function generateRepository(documents = 1000): SourceFile[] {
  const docs: string[] = [];
  const versions = Math.round(documents / 10);
  const settings = Math.round(documents / 2);
  const policies = documents - versions - settings;
  const hex = (i: number) => createHash('sha256').update(`image-${i}`).digest('hex');
  for (let i = 0; i < versions; i++) {
    docs.push(`apiVersion: osfleet.dev/v1alpha1
kind: OSVersion
metadata:
  name: os-${i}
spec:
  version: "24.${i}"
  image:
    url: https://images.example.com/os/24.${i}/root.img
    sha256: ${hex(i)}
    size: ${2147483648 + i}
  releaseNotes: https://docs.example.com/os/24.${i}.html
`);
  }
  for (let i = 0; i < settings; i++) {
    docs.push(`apiVersion: osfleet.dev/v1alpha1
kind: NodeSettings
metadata:
  name: settings-${i}
  labels: {team: platform}
spec:
  nodeSelector:
    matchLabels: {pool: pool-${i}}
    matchExpressions:
      - {key: node-role.kubernetes.io/control-plane, operator: DoesNotExist}
  priority: ${i % 3}
  sysctl:
    net.core.somaxconn: "${4096 + i}"
    vm.max_map_count: ${262144 + i}
    fs.inotify.max_user_watches: 524288
    net.ipv4.tcp_rmem: "4096 87380 6291456"
    kernel.pid_max: 4194304
  kernelArgs:
    add: ["transparent_hugepage=madvise", "hugepages=${i % 64}"]
    remove: [quiet]
`);
  }
  for (let i = 0; i < policies; i++) {
    docs.push(`apiVersion: osfleet.dev/v1alpha1
kind: RolloutPolicy
metadata:
  name: policy-${i}
spec:
  nodeSelector:
    matchLabels: {rollout-group: group-${i}}
  osVersion: os-${i % versions}
  strategy:
    batches: [1, "10%", "50%", "100%"]
    maxUnavailable: "10%"
    soak: 30m
    failureBudget: 2
    stageOutsideWindows: true
  maintenanceWindows:
    - {schedule: "0 ${i % 24} * * 1-5", duration: 4h, timeZone: Europe/Berlin}
  denyWindows:
    - {schedule: "0 0 20 12 *", duration: 336h, timeZone: UTC}
  drain: {timeout: 10m, onTimeout: fail, deleteEmptyDirData: true}
`);
  }
  const files: SourceFile[] = [];
  const perFile = 10;
  const enc = new TextEncoder();
  for (let f = 0; f * perFile < docs.length; f++) {
    files.push({ path: `group-${String(f).padStart(3, '0')}/docs.yaml`, bytes: enc.encode(docs.slice(f * perFile, (f + 1) * perFile).join('---\n')) });
  }
  return files;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function time(fn: () => void, runs: number): number {
  const out: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    fn();
    out.push(performance.now() - t);
  }
  return median(out);
}

function coldProcess(args: string[]): Promise<number> {
  return new Promise((done, fail) => {
    const t = performance.now();
    execFile(process.execPath, args, { cwd: repo }, (err) => {
      if (err) fail(err);
      else done(performance.now() - t);
    });
  });
}

export async function run(): Promise<Figure[]> {
  const files = generateRepository(1000);
  const decoder = new TextDecoder();
  const parseOnly = () => {
    for (const f of files) parseAllDocuments(decoder.decode(f.bytes), { lineCounter: new LineCounter(), prettyErrors: false, uniqueKeys: true });
  };
  let errors = 0;
  const full = () => {
    const r = validateAndRender(files, { revision: 'bench' });
    errors = r.errors.length;
    if (r.objects.length !== 900) throw new Error(`bench repository rendered ${r.objects.length} objects, expected 900`);
  };
  // Warm up both paths (JIT, the catalogue, zone formatters), then take medians of alternating runs.
  for (let i = 0; i < 3; i++) {
    parseOnly();
    full();
  }
  if (errors) throw new Error(`bench repository has ${errors} validation errors`);
  const parseMs: number[] = [];
  const fullMs: number[] = [];
  for (let i = 0; i < 7; i++) {
    parseMs.push(time(parseOnly, 1));
    fullMs.push(time(full, 1));
  }
  const parse = median(parseMs);
  const total = median(fullMs);
  if (!existsSync(join(repo, 'dist/cli/main.js'))) throw new Error('dist/ is not built; run `npm run build` first');
  // Alternating with a bare `node -e 0`: what any Node process costs on this machine, in the same run.
  const cold: number[] = [];
  const bare: number[] = [];
  for (let i = 0; i < 5; i++) {
    cold.push(await coldProcess([join(repo, 'bin/osfleet.js'), 'validate', join(repo, 'examples/gitrepo')]));
    bare.push(await coldProcess(['-e', '0']));
  }
  const round = (x: number) => Math.round(x * 10) / 10;
  return [
    { name: 'render.validate_render_ms', value: round(total), unit: 'ms' },
    { name: 'render.parse_only_ms', value: round(parse), unit: 'ms' },
    { name: 'render.ratio_to_parse', value: Math.round((total / parse) * 100) / 100, unit: 'ratio' },
    { name: 'render.cli_validate_examples_ms', value: round(median(cold)), unit: 'ms' },
    { name: 'render.node_startup_ms', value: round(median(bare)), unit: 'ms' },
  ];
}
