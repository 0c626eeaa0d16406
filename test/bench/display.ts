// Figures for the dashboard on the real test bed, with 1,000 nodes (Node + OSNode) under one OS:
// first paint in Debian's chromium (navigation start to every node row drawn), the delay from an
// OSNode status change in the API to the page showing it (p99 of 100), and the dashboard's RSS.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { KubeClient } from '../../controller/kube/client.js';
import { OSES, OSNODES, createNodes, osSpec } from '../integration/rollout-fixtures.js';
import { ensureK8sBinaries, repoRoot } from '../harness/binaries.js';
import { buildDistSync } from '../harness/build.js';
import { launchBrowser } from '../harness/browser.js';
import { Cluster } from '../harness/cluster.js';
import { startDashboard } from '../harness/dashboard-process.js';
import { loadKubeconfig } from '../harness/kubeconfig.js';
import { rssKiB } from '../harness/processes.js';
import type { Figure } from './run.js';

const NODES = 1000;
const CHANGES = 100;

function percentile(sorted: number[], p: number): number {
  const i = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, i)]!;
}

async function inParallel<T>(items: readonly T[], n: number, fn: (t: T) => Promise<unknown>): Promise<void> {
  let i = 0;
  await Promise.all(Array.from({ length: n }, async () => {
    while (i < items.length) await fn(items[i++]!);
  }));
}

export async function run(): Promise<Figure[]> {
  const binDir = await ensureK8sBinaries();
  const cluster = await Cluster.start({ binDir, crdDir: path.join(repoRoot, 'crds') });
  const kc = loadKubeconfig(cluster.info.kubeconfig);
  const client = new KubeClient(kc);
  let dashboard: Awaited<ReturnType<typeof startDashboard>> | undefined;
  let browser: Awaited<ReturnType<typeof launchBrowser>> | undefined;
  try {
    const names = Array.from({ length: NODES }, (_, i) => `bench-${String(i).padStart(4, '0')}`);
    await createNodes(client, names, { pool: 'bench' });
    await client.post(OSES, { apiVersion: 'osfleet.dev/v1alpha1', kind: 'OS', metadata: { name: 'bench' }, spec: osSpec({ pool: 'bench' }, { strategy: { batches: [1, '10%', '50%', '100%'], maxUnavailable: 10 } }) });
    await inParallel(names, 16, async (name) => {
      await client.post(OSNODES, { apiVersion: 'osfleet.dev/v1alpha1', kind: 'OSNode', metadata: { name }, spec: { nodeName: name } });
      await client.patch(`${OSNODES}/${name}/status`, {
        status: { phase: 'Idle', bootedSlot: 'A', bootedVersion: '1.0', slots: { A: { version: '1.0' } }, message: 'agent started' },
      });
    });

    // The dashboard as users run it: compiled, from bin/osfleet.js.
    buildDistSync();
    dashboard = await startDashboard(['--kubeconfig', cluster.info.kubeconfig], { compiled: true });
    browser = await launchBrowser();
    const page = await browser.context.newPage();
    await page.goto(dashboard.url);
    await page.locator('tr[data-node]').nth(NODES - 1).waitFor({ timeout: 60_000 });
    const firstPaint = Number(await page.evaluate('window.osfleetFirstRender'));
    const rows = await page.locator('tr[data-node]').count();
    if (rows !== NODES) throw new Error(`the page drew ${rows} node rows, not ${NODES}`);

    const delays: number[] = [];
    for (let i = 0; i < CHANGES; i++) {
      const name = names[(i * 37) % NODES]!;
      const message = `bench change ${i}`;
      const cell = page.locator(`tr[data-node="${name}"] td.message`, { hasText: message });
      const t0 = performance.now();
      await client.patch(`${OSNODES}/${name}/status`, { status: { message } });
      await cell.waitFor({ timeout: 10_000 });
      delays.push(performance.now() - t0);
    }
    delays.sort((a, b) => a - b);
    const rss = (rssKiB(dashboard.pid) ?? NaN) / 1024;
    return [
      { name: 'display.dashboard_first_paint_ms', value: Math.round(firstPaint), unit: 'ms' },
      { name: 'display.event_to_screen_p99_ms', value: Math.round(percentile(delays, 99)), unit: 'ms' },
      { name: 'display.event_to_screen_p50_ms', value: Math.round(percentile(delays, 50)), unit: 'ms' },
      { name: 'display.dashboard_rss_mb', value: Math.round(rss * 10) / 10, unit: 'MiB' },
    ];
  } catch (err) {
    if (dashboard) process.stderr.write(`dashboard output:\n${dashboard.output().slice(-2000)}\n`);
    throw err;
  } finally {
    await browser?.close();
    await dashboard?.stop();
    client.close();
    await cluster.stop();
  }
}
