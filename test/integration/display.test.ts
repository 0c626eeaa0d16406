// What a person sees, on the real test bed: a FleetSource on the git server, the real controller
// (process, rollout on, injected clock inside a window), simulated agents on six Nodes, one of which
// fails. The dashboard runs as `osfleet dashboard` with a kubeconfig only, and a real headless
// chromium watches it: the rollout progresses and then halts with its reason, without a reload.
// `osfleet status` shows the same under a pseudo-terminal and piped; the alert rules' metrics are
// in a scrape of the running controller. Screenshots: test-artifacts/dashboard/.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeClient } from '../../controller/kube/client.js';
import { startControllerProcess, type ControllerProcess } from '../../controller/testing/controller-process.js';
import { repoRoot } from '../harness/binaries.js';
import { launchBrowser, type Browser } from '../harness/browser.js';
import { startDashboard, type DashboardProcess } from '../harness/dashboard-process.js';
import { createFleetSource, sendWebhook, testbed, until, type WorkClone } from '../harness/index.js';
import { osfleetArgv, runOsfleet } from '../harness/osfleet-cli.js';
import { ruleMetricNames } from '../harness/alert-rules.js';
import { OSNODES, createNodes, deleteNodes } from './rollout-fixtures.js';
import { SimAgents } from './rollout-sim.js';
import { rolloutPolicyDoc, versionDoc } from './sync-fixtures.js';

const tb = testbed();
const G = { group: 'osfleet.dev', version: 'v1alpha1' };
const custom = tb.kc.makeApiClient(CustomObjectsApi);
const core = tb.kc.makeApiClient(CoreV1Api);
const client = new KubeClient(tb.kc);

const p = tb.uniqueName('disp');
const osName = `${p}-workers`;
const NODES = Array.from({ length: 6 }, (_, i) => `${p}-n${i + 1}`);
const ARTIFACTS = path.join(repoRoot, 'test-artifacts/dashboard');
// Tuesday 02:30 in Berlin: inside the 02:00-05:00 window, which closes in 2h 30m.
const NOW = '2026-01-06T01:30:00.000Z';

const policyDoc = rolloutPolicyDoc(p, osName, 1, `    soak: 0s
  maintenanceWindows:
    - {schedule: "0 2 * * *", duration: 3h, timeZone: Europe/Berlin}
`);

let ns: string;
let repo: WorkClone;
let dir: string;
let clockFile: string;
let controller: ControllerProcess | undefined;
let agents: SimAgents;
let dashboard: DashboardProcess;
let browser: Browser;
let page: Page;
const requests: string[] = [];
let done = 0;
let failing: string | undefined;

const card = () => page.locator(`.os[data-os="${osName}"]`);
const shot = (name: string) => page.screenshot({ path: path.join(ARTIFACTS, name), fullPage: true });

beforeAll(async () => {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'osfleet-display-'));
  clockFile = path.join(dir, 'clock');
  fs.writeFileSync(clockFile, NOW);
  ns = await tb.createNamespace('display');
  repo = await tb.createRepo(p);
  await repo.commitAndPush({ 'versions.yaml': `${versionDoc(p, '1.0')}---\n${versionDoc(p, '2.0')}`, 'policy.yaml': policyDoc }, 'fleet on 2.0');
  await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'git-creds' }, stringData: { username: tb.git.auth!.username, password: tb.git.auth!.password } } });
  await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'hook' }, stringData: { token: 'hook-secret-for-the-display-test-0123456789' } } });
  await createNodes(client, NODES, { pool: p });
  // Agents answer slowly enough to be watched; after two nodes are done, the next one to get a permit fails.
  agents = new SimAgents(tb.kc, {
    nodes: NODES,
    initialVersion: '1.0',
    delayMs: 700,
    onDone: () => void done++,
    fail: (node) => {
      if (!failing && done >= 2) failing = node;
      return node === failing ? 'image checksum mismatch (simulated)' : undefined;
    },
  });
  await agents.start();
  dashboard = await startDashboard(['--kubeconfig', tb.cluster.kubeconfig, '--clock-file', clockFile]);
  browser = await launchBrowser();
  page = await browser.context.newPage();
  page.on('request', (r) => requests.push(r.url()));
  await page.goto(dashboard.url);
  await page.evaluate("window.loadedOnce = 'yes'");
  await createFleetSource(tb.kc, p, { url: repo.url, namespace: ns, secret: 'git-creds', webhookSecret: 'hook' });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await dashboard?.stop();
  await controller?.stop().catch(() => undefined);
  agents?.stop();
  await custom.deleteClusterCustomObject({ ...G, plural: 'fleetsources', name: p }).catch(() => undefined);
  await custom.deleteClusterCustomObject({ ...G, plural: 'oses', name: osName }).catch(() => undefined);
  await deleteNodes(client, NODES).catch(() => undefined);
  for (const n of NODES) await client.delete(`${OSNODES}/${n}`).catch(() => undefined);
  await repo?.remove();
  client.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('osfleet dashboard in a real browser', () => {
  it('shows the rollout progressing live: FleetSource Ready, batches, node phases and slots, window countdown, timeline with now', async () => {
    await page.locator('#conn.live').waitFor({ timeout: 20_000 });
    controller = await startControllerProcess({
      kubeconfig: tb.cluster.kubeconfig, namespace: ns, cacheDir: dir, identity: 'display', logDir: dir, leaseName: `${p}-lease`,
      rollout: 'on', clockFile, logLevel: 'info',
    });
    await page.locator(`tr[data-source="${p}"] .badge.True`).waitFor({ timeout: 30_000 });
    await card().locator('.state.Progressing').waitFor({ timeout: 30_000 });
    // Some nodes updated, not all: the page moves while we look.
    await expect.poll(() => card().locator('.progress').textContent(), { timeout: 30_000, interval: 50 }).toMatch(/^[1-5]\/6 updated/);
    await shot('1-progressing.png');
    expect(await card().locator('.window').textContent()).toMatch(/^window open, closes in 2h \d+m$/);
    expect(await card().locator('.batch').textContent()).toMatch(/^batch [1-3] of 3$/);
    expect(await card().locator('.budget').textContent()).toBe('failure budget 1 of 1 left');
    // A node that is done boots slot B with 2.0, and A still holds 1.0.
    const doneRow = card().locator('tr[data-node]', { has: page.locator('.phase-Done') }).first();
    await doneRow.waitFor();
    expect(await doneRow.locator('.booted').textContent()).toBe('2.0');
    expect(await doneRow.locator('.slotA').textContent()).toBe('1.0');
    expect(await doneRow.locator('.slotB').textContent()).toBe('▶ 2.0');
    expect(await card().locator('tr[data-node]').count()).toBe(6);
    // The planned timeline: the window and at least one batch bar, and the "now" line on it.
    await card().locator('.tl-bar.tl-maintenance').first().waitFor({ timeout: 15_000 });
    expect(await card().locator('.tl-now').count()).toBe(1);
  });

  it('shows the halt with its reason, the failed node and the Events, still without a reload', async () => {
    await card().locator('.state.Halted').waitFor({ timeout: 60_000 });
    expect(failing).toBeDefined();
    await expect.poll(() => card().locator('.why').textContent(), { timeout: 10_000 }).toMatch(/^FailureBudgetReached: /);
    expect(await card().locator('.why').textContent()).toContain(failing!);
    const row = card().locator(`tr[data-node="${failing}"]`);
    expect(await row.locator('.phase').textContent()).toBe('Failed');
    expect(await row.locator('.message').textContent()).toBe('image checksum mismatch (simulated)');
    expect(await card().locator('.budget').textContent()).toBe('failure budget 0 of 1 left');
    await page.locator('#events tr.event').first().waitFor({ timeout: 15_000 });
    await shot('2-halted.png');
    expect(await page.evaluate('window.loadedOnce')).toBe('yes');
    expect(await page.evaluate('window.osfleetUpdates')).toBeGreaterThan(3);
    // Nothing but the dashboard itself was asked for: no CDN, no other host.
    expect(requests.filter((u) => !u.startsWith(dashboard.url))).toEqual([]);
  });
});

describe('osfleet dashboard: a bad revision', () => {
  it("shows the FleetSource's error with file:line:col, while the last good revision stays applied", async () => {
    const good = await repo.head();
    await repo.commitAndPush({ 'policy.yaml': policyDoc.replace('failureBudget: 1', 'failureBudget: many') }, 'a typo');
    const hook = await sendWebhook(controller!.webhookUrl(p), { ref: 'refs/heads/main', after: await repo.head() }, 'hook-secret-for-the-display-test-0123456789');
    expect(hook.status).toBeLessThan(300);
    const row = page.locator(`tr[data-source="${p}"]`);
    await row.locator('.badge.False', { hasText: 'ValidationFailed' }).waitFor({ timeout: 30_000 });
    expect(await row.locator('.message').textContent()).toMatch(/policy\.yaml:\d+:\d+: error: .*failureBudget/);
    expect(await row.locator('td').nth(2).textContent()).toBe(`main@sha1:${good.slice(0, 12)}`);
    await shot('3-bad-revision.png');
  });
});

describe('alert metrics', () => {
  it('every metric the alerting rules use is in a scrape of the running controller, the halt and the FleetSource among them', async () => {
    const text = await (await fetch(controller!.metricsUrl)).text();
    const exported = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!));
    expect(ruleMetricNames().filter((n) => !exported.has(n))).toEqual([]);
    expect(await controller!.metric('osfleet_rollout_paused', { os: osName, reason: 'FailureBudgetReached' })).toBe(1);
    // The bad revision above: not Ready, but fetched (the fetch itself worked).
    expect(await controller!.metric('osfleet_fleetsource_ready', { fleetsource: p })).toBe(0);
    expect(await controller!.metric('osfleet_fleetsource_interval_seconds', { fleetsource: p })).toBe(3600);
    const fetched = await controller!.metric('osfleet_fleetsource_last_fetch_timestamp_seconds', { fleetsource: p });
    expect(Math.abs(fetched - Date.now() / 1000)).toBeLessThan(300);
    expect(await controller!.metric('osfleet_osnode_phase_since_timestamp_seconds', { node: failing!, phase: 'Failed' })).toBeGreaterThan(0);
    expect(await controller!.metric('osfleet_leader')).toBe(1);
  });
});

/** Runs `osfleet status …` under a pseudo-terminal (util-linux `script`). */
function underPty(args: string[]): { proc: ReturnType<typeof spawn>; output: () => string } {
  const [cmd, argv] = osfleetArgv(['status', ...args]);
  const line = [cmd, ...argv].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const proc = spawn('script', ['-qfc', line, '/dev/null'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, KUBECONFIG: '', COLUMNS: '100', TERM: 'xterm' } });
  let out = '';
  proc.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  proc.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  return { proc, output: () => out };
}

describe('osfleet status', () => {
  const kube = () => ['--kubeconfig', tb.cluster.kubeconfig, '--clock-file', clockFile];

  it('piped: plain key=value lines, no escape codes', async () => {
    const r = await runOsfleet(['status', ...kube()]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).not.toMatch(/\u001b\[/);
    expect(r.stdout).toMatch(new RegExp(`^fleetsource ${p} ready=false reason=ValidationFailed applied=main@sha1:[0-9a-f]{40} message=".*policy\\.yaml:\\d+:\\d+: error: `, 'm'));
    expect(r.stdout).toMatch(new RegExp(`^os ${osName} version=2\\.0 state=Halted updated=\\d/6 .* budgetLeft=0/1 window="window open, closes in 2h 30m" reason=FailureBudgetReached`, 'm'));
    expect(r.stdout).toContain(`node ${failing} os=${osName} phase=Failed`);
  });

  it('on a terminal: progress bars and colour; --watch redraws when a node changes', async () => {
    const once = underPty(kube());
    await new Promise((r) => once.proc.once('exit', r));
    expect(once.output()).toMatch(/[█░]{10,} \d\/6 updated/);
    expect(once.output()).toMatch(/\u001b\[1;31mHalted\u001b\[0m/);

    const watch = underPty(['--watch', ...kube()]);
    try {
      await until('status --watch shows the halt', async () => (watch.output().includes('FailureBudgetReached') ? true : undefined), { timeoutMs: 20_000 });
      // A node starts downloading: the terminal shows its progress without being asked again.
      const idle = NODES.find((n) => n !== failing && !agents.answered.has(n))!;
      const patched = await client.patch(`${OSNODES}/${idle}/status`, { status: { phase: 'Downloading', download: { bytesDone: 420, bytesTotal: 1000 } } });
      await until('status --watch shows the download', async () => (new RegExp(`${idle}  Downloading .*[█░]{10} 42%`).test(watch.output()) ? true : undefined), {
        timeoutMs: 15_000,
        onTimeout: () => `${idle} ${JSON.stringify(patched)}\n${watch.output().slice(-1500)}`,
      });
      // The page shows the same download as a bar.
      const cell = page.locator(`tr[data-node="${idle}"] .download`);
      await cell.locator('.meter.dl').waitFor({ timeout: 10_000 });
      expect(await cell.textContent()).toBe(' 42%');
      expect(await page.locator(`tr[data-node="${idle}"] .phase`).textContent()).toBe('Downloading');
      await shot('4-downloading.png');
    } finally {
      watch.proc.kill('SIGTERM');
    }
  });
});
