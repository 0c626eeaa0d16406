// The apiserver and etcd stopped for a minute and started again (same data dir, same ports) in the
// middle of a rollout and of a sync, on a cluster of this file's own (the shared test bed must stay
// up for the other files): the real controller process and the simulated agents resume by
// themselves, nothing is lost or done twice, and maxUnavailable holds in every state a watcher saw,
// the first ones after the restart included.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeClient } from '../../controller/kube/client.js';
import { startControllerProcess, type ControllerProcess } from '../../controller/testing/controller-process.js';
import { repoRoot } from '../harness/binaries.js';
import { Cluster } from '../harness/cluster.js';
import { createFleetSource, getOsfleetObject, sendWebhook, testbed, type WorkClone } from '../harness/index.js';
import { FleetRecorder, OSES, OSNODES, createNodes, waitFor } from './rollout-fixtures.js';
import { SimAgents } from './rollout-sim.js';
import { rolloutPolicyDoc, settingsDoc, versionDoc } from './sync-fixtures.js';

/** The figure is a minute; OSFLEET_OUTAGE_SECONDS shortens it while working on the test. */
const OUTAGE_MS = Number(process.env.OSFLEET_OUTAGE_SECONDS ?? 60) * 1000;
const NODES = 8;
const MAX_UNAVAILABLE = 2;
const NS = 'osfleet-system';
const HOOK = 'outage-hook-0123456789abcdef0123456789';

const tb = testbed();
const p = tb.uniqueName('apiout');
const fsName = `${p}-fleet`;
const names = Array.from({ length: NODES }, (_, i) => `${p}-n${i}`);

const policyDoc = rolloutPolicyDoc(p, `${p}-workers`, MAX_UNAVAILABLE);

let cluster: Cluster;
let kc: KubeConfig;
let client: KubeClient;
let repo: WorkClone;
let ctl: ControllerProcess;
let agents: SimAgents;
let recorder: FleetRecorder;
const dirs: string[] = [];

type Cond = { type: string; status: string; reason?: string };
interface OSObj {
  metadata: { name: string };
  status?: { conditions?: Cond[]; counts?: Record<string, number> };
}
interface OSNodeObj {
  metadata: { name: string };
  spec?: { config?: { hash: string; sysctl: Record<string, string> } };
  status?: { bootedVersion?: string; appliedConfigHash?: string };
}

beforeAll(async () => {
  cluster = await Cluster.start({ binDir: tb.cluster.binDir, crdDir: path.join(repoRoot, 'crds') });
  kc = cluster.kc;
  client = new KubeClient(kc);
  const core = kc.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: NS } } });
  await core.createNamespacedSecret({ namespace: NS, body: { metadata: { name: 'git' }, stringData: { username: tb.git.auth!.username, password: tb.git.auth!.password } } });
  await core.createNamespacedSecret({ namespace: NS, body: { metadata: { name: 'hook' }, stringData: { token: HOOK } } });
  repo = await tb.createRepo(p);
  await repo.commitAndPush({ 'versions.yaml': versionDoc(p, '2.0'), 'policy.yaml': policyDoc, 'settings.yaml': settingsDoc(p, 'base', '1024') }, 'roll out 2.0');
  await createNodes(client, names, { pool: p });
  recorder = new FleetRecorder(kc, new Set(names));
  await recorder.start();
  agents = new SimAgents(kc, { nodes: names, initialVersion: '1.0', delayMs: 800, retryMs: 500 });
  await agents.start();
  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'osfleet-apiout-'));
  dirs.push(logDir);
  await createFleetSource(kc, fsName, { url: repo.url, namespace: NS, secret: 'git', webhookSecret: 'hook', spec: { interval: '5s' } });
  // Client-go's default lease timings (15 s lease, 10 s renew deadline): the outage outlasts them, so
  // the controller loses leadership during it and has to take it back afterwards.
  ctl = await startControllerProcess({ kubeconfig: cluster.info.kubeconfig, namespace: NS, cacheDir: path.join(logDir, 'cache'), logDir, identity: `${p}-ctl`, rollout: 'on', logLevel: 'info' });
}, 180_000);

afterAll(async () => {
  agents?.stop();
  recorder?.stop();
  await ctl?.kill9().catch(() => undefined);
  client?.close();
  await cluster?.stop();
  await repo?.remove();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

describe('kube-apiserver and etcd down for a minute mid-rollout and mid-sync', () => {
  it('the controller and the agents resume by themselves; nothing is lost or done twice; maxUnavailable holds throughout', async () => {
    const diag = () => `--- controller log\n${ctl.logTail(40)}\n--- agent errors\n${agents.errors.slice(-5).join('\n')}`;
    // Mid-rollout: the canary done, a node of the next batch cordoned, others still to go.
    await waitFor('the rollout midway (a node on 2.0 and one cordoned)', () => {
      const booted = names.filter((n) => recorder.osnode(n)?.status?.bootedVersion === '2.0').length;
      const cordoned = names.filter((n) => recorder.node(n)?.spec.unschedulable === true).length;
      return booted >= 1 && booted < NODES - MAX_UNAVAILABLE && cordoned >= 1;
    }, 90_000, 20).catch((err: Error) => {
      throw new Error(`${err.message}\n${diag()}`);
    });
    const first = await repo.head();
    expect((await getOsfleetObject(kc, 'fleetsources', fsName))?.status?.lastAppliedRevision).toBe(`main@sha1:${first}`);
    const bootedAtStop = names.filter((n) => recorder.osnode(n)?.status?.bootedVersion === '2.0');
    const errorsBefore = await ctl.metric('osfleet_reconcile_errors_total', { fleetsource: fsName });

    const stoppedAt = Date.now();
    await cluster.stopApiserverAndEtcd();
    // Mid-sync: a settings change pushed and announced while the cluster is gone; the controller
    // (still leading until its renew deadline) fetches it and cannot apply it.
    const second = await repo.commitAndPush({ 'settings.yaml': settingsDoc(p, 'base', '2048') }, 'settings change during the outage');
    expect((await sendWebhook(ctl.webhookUrl(fsName), { ref: 'refs/heads/main', after: second }, HOOK)).status).toBe(202);
    await waitFor('a sync that failed against the stopped apiserver', async () => (await ctl.metric('osfleet_reconcile_errors_total', { fleetsource: fsName })) > errorsBefore, 20_000, 100);
    await waitFor('the controller to give up leadership', async () => (await ctl.metric('osfleet_leader')) === 0, 30_000, 200);
    const rest = OUTAGE_MS - (Date.now() - stoppedAt);
    if (rest > 0) await new Promise((r) => setTimeout(r, rest)); // the outage itself, not a wait for an event
    expect(ctl.proc.exitCode, diag()).toBeNull();
    await cluster.restart();
    const restartedAt = Date.now();

    // Nobody restarts anything: the same controller process and agents finish the rollout and the sync.
    const done = await waitFor('the rollout and the settings change to complete after the restart', async () => {
      const { items } = await client.list<OSObj>(OSES);
      const osObj = items[0];
      if (osObj?.status?.conditions?.find((c) => c.type === 'Ready')?.status !== 'True') return undefined;
      const nodes = (await client.list<OSNodeObj>(OSNODES)).items;
      const settled = nodes.filter((o) => o.spec?.config?.sysctl['net.core.somaxconn'] === '2048' && o.status?.appliedConfigHash === o.spec.config.hash);
      return settled.length === NODES ? { osObj, nodes } : undefined;
    }, 180_000, 250).catch((err: Error) => {
      throw new Error(`${err.message}\n${diag()}`);
    });
    expect(ctl.proc.exitCode, diag()).toBeNull();
    expect(await ctl.metric('osfleet_leader')).toBe(1);

    // Nothing lost: the revision pushed during the outage is applied, every node runs 2.0 with it.
    const f = await getOsfleetObject(kc, 'fleetsources', fsName);
    expect(f?.status?.lastAppliedRevision).toBe(`main@sha1:${second}`);
    expect((await getOsfleetObject(kc, 'osconfigs', `${p}-base`))?.spec?.sysctl).toEqual({ 'net.core.somaxconn': '2048' });
    expect(done.osObj.status?.counts).toMatchObject({ total: NODES, updated: NODES, failed: 0 });
    for (const o of done.nodes) expect(o.status?.bootedVersion, o.metadata.name).toBe('2.0');
    expect(bootedAtStop.length).toBeGreaterThanOrEqual(1);

    // Nothing done twice: one reboot permit per node, and each node rebooted once.
    for (const n of names) {
      expect([...(recorder.rebootPermits.get(n) ?? [])], n).toHaveLength(1);
      expect(agents.reboots.get(n), n).toBe(1);
    }

    // maxUnavailable held in every state seen, from before the stop to the end, and the watcher did
    // see the fleet again after the restart (its first states then are part of the record).
    const after = recorder.states.filter((s) => s.at >= restartedAt);
    expect(after.length).toBeGreaterThan(0);
    expect(recorder.states.filter((s) => s.at < stoppedAt).some((s) => s.unavailableNow >= 1)).toBe(true);
    const worst = recorder.states.find((s) => s.unavailableNow > MAX_UNAVAILABLE);
    expect(worst, worst ? JSON.stringify(worst) : '').toBeUndefined();
    expect(recorder.maxUnavailable).toBeGreaterThanOrEqual(1);
    for (const n of names) expect(recorder.node(n)?.spec.unschedulable ?? false, n).toBe(false);
  }, 420_000);
});
