// Benchmark of the rollout executor on a real apiserver (its own test-bed cluster):
//   rollout.fleet_1000_seconds     1,000 nodes, instant simulated agents, 10% batches, no soak
//   rollout.next_start_gap_p99_ms  a node done → the next node started (p99 over the run above)
//   rollout.controller_rss_10k_mb  RSS of an executor process (child) with 10k Nodes and OSNodes cached
// The RSS figure is measured in a child process running this file with OSFLEET_ROLLOUT_RSS_CHILD=1.
// The test bed, agents and fixtures are imported dynamically, so the measured child loads no more
// than a controller would: the executor, @kubernetes/client-node (bundled, as the build ships it), pino and prom-client.
import { spawn } from 'node:child_process';
import { symlink } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubeConfig } from '../../api/client-node.js';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { GROUP, VERSION } from '../../api/meta.js';
import { startRollout } from '../../controller/rollout/executor.js';

interface Figure {
  name: string;
  value: number;
  unit: string;
}

const FLEET = Number(process.env.OSFLEET_BENCH_FLEET ?? 1000);
const RSS_NODES = Number(process.env.OSFLEET_BENCH_RSS_NODES ?? 10_000);

function p99(values: number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(s.length * 0.99) - 1)]!;
}

export async function run(): Promise<Figure[]> {
  const { ensureK8sBinaries, repoRoot } = await import('../harness/binaries.js');
  const { Cluster } = await import('../harness/cluster.js');
  const { KubeClient } = await import('../../controller/kube/client.js');
  const { SimAgents } = await import('../integration/rollout-sim.js');
  const { createNodes, createOS, osSpec, quietLog, readOS, waitFor } = await import('../integration/rollout-fixtures.js');
  const binDir = await ensureK8sBinaries();
  const cluster = await Cluster.start({ binDir, crdDir: join(repoRoot, 'crds') });
  const figures: Figure[] = [];
  try {
    const kc = cluster.kc;
    const client = new KubeClient(kc, { maxSockets: 32 });

    // ---- 1,000-node rollout ----
    const names = Array.from({ length: FLEET }, (_, i) => `fleet-${String(i).padStart(5, '0')}`);
    await createNodes(client, names, { pool: 'fleet' }, 32);
    const starts = new Map<string, number>();
    const dones: number[] = [];
    const startTimes: number[] = [];
    const agents = new SimAgents(kc, {
      nodes: names,
      initialVersion: '1.0',
      delayMs: 0,
      onPermit: (node, at) => {
        if (starts.has(node)) return;
        starts.set(node, at);
        startTimes.push(at);
      },
      onDone: (_node, at) => dones.push(at),
    });
    await agents.start();
    const exec = startRollout({ kubeConfig: kc, logger: quietLog, registry: new Registry() });
    await exec.ready;
    // Every agent reports its booted version before the rollout begins.
    await waitFor('every OSNode reported by its agent', async () => {
      const { items } = await client.list<{ status?: { bootedVersion?: string } }>(`/apis/${GROUP}/${VERSION}/osnodes`);
      return items.filter((o) => o.status?.bootedVersion === '1.0').length === FLEET;
    }, 300_000, 500);
    const batches = Array.from({ length: 10 }, (_, i) => `${(i + 1) * 10}%`);
    const t0 = Date.now();
    await createOS(client, 'fleet', osSpec({ pool: 'fleet' }, { strategy: { batches, maxUnavailable: '10%', failureBudget: '5%', soak: '0s' } }));
    await waitFor('the 1,000-node rollout to complete', async () => {
      const os = await readOS(client, 'fleet');
      return os.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
    }, 900_000, 100);
    const seconds = (Date.now() - t0) / 1000;
    figures.push({ name: 'rollout.fleet_1000_seconds', value: Math.round(seconds * 100) / 100, unit: 's' });

    // Each start after the first wave follows the latest node done before it.
    dones.sort((a, b) => a - b);
    const gaps: number[] = [];
    for (const s of startTimes) {
      let lo = 0;
      let hi = dones.length - 1;
      let best = -1;
      while (lo <= hi) {
        const mid = (lo + hi) >> 1;
        if (dones[mid]! <= s) {
          best = mid;
          lo = mid + 1;
        } else hi = mid - 1;
      }
      if (best >= 0) gaps.push(s - dones[best]!);
    }
    figures.push({ name: 'rollout.next_start_gap_p99_ms', value: Math.round(p99(gaps)), unit: 'ms' });
    quietLog.info({ stats: { ...exec.stats, caches: exec.stats.cacheSizes() }, gaps: gaps.length }, 'fleet run');
    await exec.stop();
    agents.stop();

    // ---- 10k nodes in an executor's caches, measured in a child process ----
    const more = Array.from({ length: Math.max(0, RSS_NODES - FLEET) }, (_, i) => `rss-${String(i).padStart(5, '0')}`);
    await createNodes(client, more, { pool: 'rss' }, 48);
    await client.post(`/apis/${GROUP}/${VERSION}/osconfigs`, {
      apiVersion: `${GROUP}/${VERSION}`, kind: 'OSConfig', metadata: { name: 'rss-settings' },
      spec: { nodeSelector: { matchLabels: { pool: 'rss' } }, priority: 0, sysctl: { 'net.core.somaxconn': '4096', 'vm.swappiness': '10' }, kernelArgs: { add: [], remove: [] } },
    });
    // Paused: the executor creates every OSNode (target and settings) but starts nothing.
    await createOS(client, 'rss', osSpec({ pool: 'rss' }, { paused: true }));
    const rss = await measureChild(cluster.info.kubeconfig, RSS_NODES, repoRoot);
    figures.push({ name: 'rollout.controller_rss_10k_mb', value: Math.round(rss.rssMb * 10) / 10, unit: 'MB' });
    quietLog.info(rss, 'rss child');
    client.close();
  } finally {
    await cluster.stop();
  }
  return figures;
}

interface ChildResult {
  rssMb: number;
  rssBeforeGcMb: number;
  heapMb: number;
  osnodes: number;
  nodes: number;
  syncSeconds: number;
}

/**
 * Compiles this file (and what it imports) to JavaScript, as the controller ships, so the child's RSS
 * is not the TypeScript loader's. Output goes to node_modules/.cache, where imports still resolve.
 */
async function compileChild(repoRoot: string): Promise<string> {
  const out = join(repoRoot, 'node_modules/.cache/osfleet-bench');
  const self = fileURLToPath(import.meta.url);
  const tsc = join(repoRoot, 'node_modules/typescript/bin/tsc');
  const args = [
    tsc, '--outDir', out, '--rootDir', repoRoot, '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022',
    '--strict', '--skipLibCheck', '--types', 'node', '--resolveJsonModule', '--noEmitOnError', 'false', self,
  ];
  await new Promise<void>((resolve, reject) => {
    const p = spawn(process.execPath, args, { cwd: repoRoot, stdio: ['ignore', 'ignore', 'inherit'] });
    p.on('error', reject);
    p.on('close', () => resolve()); // type errors do not stop the emit
  });
  // render/catalogue.ts finds policies/ next to the package.
  await symlink(join(repoRoot, 'policies'), join(out, 'policies')).catch(() => undefined);
  // The client-node bundle the build makes of dist/api/client-node.js, made the same way here.
  await new Promise<void>((resolve, reject) => {
    const p = spawn(process.execPath, [join(repoRoot, 'hack/bundle-client-node.mjs'), join(out, 'api/client-node.js')], { cwd: repoRoot, stdio: ['ignore', 'ignore', 'inherit'] });
    p.on('error', reject);
    p.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`hack/bundle-client-node.mjs exited ${code}`))));
  });
  return join(out, relative(repoRoot, self).replace(/\.ts$/, '.js'));
}

async function measureChild(kubeconfig: string, expect: number, repoRoot: string): Promise<ChildResult> {
  const compiled = await compileChild(repoRoot);
  const { imageNodeFlags, workloadEnv } = await import('../harness/dockerfile.js');
  return new Promise((resolve, reject) => {
    // Node as the controller image runs it: its ENTRYPOINT's Node options and the Deployment's env.
    const child = spawn(process.execPath, ['--expose-gc', ...imageNodeFlags('controller'), compiled], {
      cwd: repoRoot,
      env: { ...process.env, ...workloadEnv('controller'), OSFLEET_ROLLOUT_RSS_CHILD: '1', OSFLEET_BENCH_KUBECONFIG: kubeconfig, OSFLEET_BENCH_EXPECT: String(expect) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), 900_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const line = out.trim().split('\n').pop() ?? '';
      try {
        if (code !== 0) throw new Error(`exit ${code}`);
        resolve(JSON.parse(line) as ChildResult);
      } catch (err) {
        reject(new Error(`the RSS child failed (${String(err)}): ${out.slice(-2000)}`));
      }
    });
  });
}

async function child(): Promise<void> {
  const kc = new KubeConfig();
  kc.loadFromFile(process.env.OSFLEET_BENCH_KUBECONFIG!);
  const expect = Number(process.env.OSFLEET_BENCH_EXPECT);
  const t0 = Date.now();
  const logger = pino({ level: process.env.OSFLEET_TEST_LOG ?? 'warn' }, pino.destination(2));
  const exec = startRollout({ kubeConfig: kc, logger, registry: new Registry() });
  await exec.ready;
  while ((exec.stats.cacheSizes().osnodes ?? 0) < expect) {
    if (Date.now() - t0 > 900_000) throw new Error(`only ${exec.stats.cacheSizes().osnodes} of ${expect} OSNodes after 15 minutes`);
    await new Promise((r) => setTimeout(r, 200));
  }
  await exec.idle();
  const syncSeconds = (Date.now() - t0) / 1000;
  // Let the watches settle and V8 shrink its young generation after the start-up burst (its memory
  // reducer acts on an idle process), then measure what stays.
  const settleMs = Number(process.env.OSFLEET_BENCH_SETTLE_MS ?? 20_000);
  const samples: number[] = [];
  for (let t = 0; t < settleMs; t += 1000) {
    await new Promise((r) => setTimeout(r, 1000));
    samples.push(process.memoryUsage().rss / 2 ** 20);
  }
  if (process.env.OSFLEET_TEST_LOG === 'debug') process.stderr.write(`rss samples ${samples.map((x) => x.toFixed(0)).join(' ')}\n`);
  const rssBeforeGc = process.memoryUsage().rss / 2 ** 20;
  // A full collection first: the figure is what the caches and the process retain, not garbage
  // waiting for the next collection. V8 may still hold free pages from the start-up burst.
  (globalThis as { gc?: () => void }).gc?.();
  await new Promise((r) => setTimeout(r, 500));
  const mem = process.memoryUsage();
  if (process.env.OSFLEET_TEST_LOG === 'debug') {
    const { getHeapSpaceStatistics } = await import('node:v8');
    for (const sp of getHeapSpaceStatistics()) process.stderr.write(`${sp.space_name} size ${(sp.space_size / 2 ** 20).toFixed(1)} used ${(sp.space_used_size / 2 ** 20).toFixed(1)}\n`);
  }
  const sizes = exec.stats.cacheSizes();
  process.stdout.write(
    `${JSON.stringify({ rssMb: mem.rss / 2 ** 20, rssBeforeGcMb: rssBeforeGc, heapMb: mem.heapUsed / 2 ** 20, heapTotalMb: mem.heapTotal / 2 ** 20, externalMb: mem.external / 2 ** 20, eventsPending: exec.stats.eventsPending, osnodes: sizes.osnodes, nodes: sizes.nodes, syncSeconds })}\n`,
  );
  await exec.stop();
}

if (process.env.OSFLEET_ROLLOUT_RSS_CHILD === '1') {
  child().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`rss child: ${err instanceof Error ? err.stack : String(err)}\n`);
      process.exit(1);
    },
  );
}
