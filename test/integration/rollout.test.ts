// The rollout executor on the real test bed (kube-apiserver + etcd + kube-controller-manager), with
// simulated agents answering OSNode permits. Each test makes its own nodes (unique label) and OS.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { KubeClient } from '../../controller/kube/client.js';
import { ManualClock, systemClock, type Clock } from '../../controller/rollout/clock.js';
import { startRollout, type RolloutHandle } from '../../controller/rollout/executor.js';
import { startControllerProcess, type ControllerProcess } from '../../controller/testing/controller-process.js';
import { ANNOTATION_CORDONED, ANNOTATION_FAILURE } from '../../controller/rollout/objects.js';
import { testbed } from '../harness/index.js';
import {
  AvailabilityObserver,
  OSES,
  OSNODES,
  createNodes,
  createOS,
  deleteNodes,
  deleteQuietly,
  eventsFor,
  osSpec,
  quietLog,
  readOS,
  waitFor,
} from './rollout-fixtures.js';
import { SimAgents, SimKubelet } from './rollout-sim.js';

const tb = testbed();
const client = new KubeClient(tb.kc);
const cleanups: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  for (const c of cleanups.reverse()) {
    try {
      await c();
    } catch (err) {
      quietLog.warn({ err: String(err) }, 'cleanup failed');
    }
  }
  cleanups.length = 0;
});

function start(clock: Clock = systemClock, registry = new Registry()): RolloutHandle {
  const h = startRollout({ kubeConfig: tb.kc, clock, logger: quietLog, registry });
  cleanups.push(() => h.stop());
  return h;
}

interface Fleet {
  id: string;
  label: Record<string, string>;
  names: string[];
  observer: AvailabilityObserver;
}

async function fleet(count: number): Promise<Fleet> {
  const id = randomBytes(3).toString('hex');
  const label = { 'osfleet-test': id };
  const names = Array.from({ length: count }, (_, i) => `n-${id}-${String(i).padStart(3, '0')}`);
  cleanups.push(() => deleteNodes(client, names));
  await createNodes(client, names, label);
  const observer = new AvailabilityObserver(tb.kc, new Set(names));
  cleanups.push(() => observer.stop());
  await observer.start();
  return { id, label, names, observer };
}

async function agents(f: Fleet, opts: Partial<ConstructorParameters<typeof SimAgents>[1]> = {}): Promise<SimAgents> {
  const a = new SimAgents(tb.kc, { nodes: f.names, initialVersion: '1.0', delayMs: 30, ...opts });
  cleanups.push(() => a.stop());
  await a.start();
  return a;
}

async function osnode(name: string): Promise<{ metadata: { annotations?: Record<string, string>; ownerReferences?: Array<{ kind: string; name: string; controller?: boolean }> }; spec: { target?: { version: string }; permit?: { reboot: boolean; stage?: boolean; applySettings?: boolean; token: string } }; status?: { bootedVersion?: string } } | undefined> {
  try {
    return await client.get(`${OSNODES}/${name}`);
  } catch {
    return undefined;
  }
}

const condition = (st: { conditions?: Array<{ type: string; status: string; reason: string; message: string }> } | undefined, type: string) =>
  st?.conditions?.find((c) => c.type === type);

describe('rollout executor on the real apiserver', () => {
  it('rolls 30 nodes out in batches without exceeding maxUnavailable, draining pods through evictions', async () => {
    const f = await fleet(30);
    const ns = await tb.createNamespace('rollout');
    cleanups.push(() => deleteQuietly(client, `/api/v1/namespaces/${ns}`));
    const kubelet = new SimKubelet(tb.kc, ns);
    cleanups.push(() => kubelet.stop());
    await kubelet.start();
    // A workload pod on a few nodes, so drains have something to evict.
    for (const node of f.names.slice(0, 5)) await tb.createPodOnNode({ namespace: ns, name: `web-${node}`, node, labels: { app: 'web' } });
    const a = await agents(f);
    // Settings too: a live sysctl for every node, merged into each OSNode and applied with the update.
    const cfgName = `cfg-${f.id}`;
    await client.post(`/apis/osfleet.dev/v1alpha1/osconfigs`, {
      apiVersion: 'osfleet.dev/v1alpha1', kind: 'OSConfig', metadata: { name: cfgName },
      spec: { nodeSelector: { matchLabels: f.label }, priority: 0, sysctl: { 'net.core.somaxconn': '4096' }, kernelArgs: { add: [], remove: [] } },
    });
    cleanups.push(() => deleteQuietly(client, `/apis/osfleet.dev/v1alpha1/osconfigs/${cfgName}`));
    const osName = `os-${f.id}`;
    await createOS(client, osName, osSpec(f.label, { strategy: { batches: [1, '10%', '50%', '100%'], maxUnavailable: 3, failureBudget: 2 } }));
    cleanups.push(() => deleteQuietly(client, `${OSES}/${osName}`));
    start();

    const done = await waitFor('the OS to report every node updated', async () => {
      const os = await readOS(client, osName);
      return condition(os.status, 'Ready')?.status === 'True' ? os : undefined;
    }, 150_000, 250);

    expect(done.status?.counts).toEqual({ total: 30, updated: 30, inProgress: 0, pending: 0, failed: 0 });
    expect(done.status?.currentBatch).toBe(4);
    expect(done.status?.totalBatches).toBe(4);
    expect(f.observer.maxUnavailable).toBeGreaterThan(1);
    expect(f.observer.maxUnavailable).toBeLessThanOrEqual(3);
    expect(a.errors).toEqual([]);
    for (const name of f.names) {
      const o = await osnode(name);
      expect(o?.status?.bootedVersion).toBe('2.0');
      expect(o?.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'Node', name, controller: true })]);
      expect(f.observer.node(name)?.spec.unschedulable ?? false).toBe(false);
      expect(f.observer.node(name)?.metadata.annotations?.[ANNOTATION_CORDONED]).toBeUndefined();
    }
    const cfg = await waitFor('the OSConfig status', async () => {
      const c = await client.get<{ status?: { matchedNodes?: number; appliedNodes?: number } }>(`/apis/osfleet.dev/v1alpha1/osconfigs/${cfgName}`);
      return c.status?.appliedNodes === 30 ? c : undefined;
    });
    expect(cfg.status?.matchedNodes).toBe(30);
    const one = await client.get<{ spec: { config?: { sysctl: Record<string, string>; sources?: string[] } } }>(`${OSNODES}/${f.names[0]}`);
    expect(one.spec.config?.sysctl).toEqual({ 'net.core.somaxconn': '4096' });
    expect(one.spec.config?.sources).toEqual([cfgName]);
    // The workload pods were evicted (and finished by the simulated kubelet).
    const pods = await client.list<unknown>(`/api/v1/namespaces/${ns}/pods`);
    expect(pods.items).toHaveLength(0);
    const ev = (await eventsFor(client, f.names[0]!)).map((e) => e.reason);
    expect(ev).toEqual(expect.arrayContaining(['TargetSet', 'PermitGranted', 'Cordoned', 'Draining', 'Evicted', 'Drained', 'Uncordoned']));
  });

  it('fails a node whose drain a PodDisruptionBudget blocks past drain.timeout (onTimeout: fail), and uncordons it', async () => {
    const clock = new ManualClock(new Date());
    const f = await fleet(2);
    const ns = await tb.createNamespace('pdb');
    cleanups.push(() => deleteQuietly(client, `/api/v1/namespaces/${ns}`));
    const kubelet = new SimKubelet(tb.kc, ns);
    cleanups.push(() => kubelet.stop());
    await kubelet.start();
    const blocked = f.names[0]!;
    await tb.createPodOnNode({ namespace: ns, name: 'db-0', node: blocked, labels: { app: 'db' } });
    await client.post(`/apis/policy/v1/namespaces/${ns}/poddisruptionbudgets`, {
      apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: 'db' },
      spec: { minAvailable: 1, selector: { matchLabels: { app: 'db' } } },
    });
    await agents(f);
    const osName = `os-${f.id}`;
    await createOS(client, osName, osSpec(f.label, { strategy: { batches: ['100%'], maxUnavailable: 1, failureBudget: 2 }, drain: { timeout: '5m', onTimeout: 'fail' } }));
    cleanups.push(() => deleteQuietly(client, `${OSES}/${osName}`));
    const registry = new Registry();
    start(clock, registry);

    await waitFor('an eviction refused by the PDB', async () => (await eventsFor(client, blocked)).some((e) => e.reason === 'EvictionRefused'), 60_000, 200);
    expect(f.observer.node(blocked)?.spec.unschedulable).toBe(true);
    clock.advance(5 * 60_000 + 1000);
    const failed = await waitFor('the node to be marked failed', async () => {
      const o = await osnode(blocked);
      const raw = o?.metadata.annotations?.[ANNOTATION_FAILURE];
      return raw ? (JSON.parse(raw) as { reason: string; message: string }) : undefined;
    });
    expect(failed.reason).toBe('DrainTimeout');
    expect(failed.message).toContain(`${ns}/db-0`);
    await waitFor('the failed node to be uncordoned', () => f.observer.node(blocked)?.spec.unschedulable !== true);
    expect(f.observer.node(blocked)?.metadata.annotations?.[ANNOTATION_CORDONED]).toBeUndefined();
    // The other node still updates; the OS reports the failure.
    const os = await waitFor('the other node updated', async () => {
      const s = await readOS(client, osName);
      return s.status?.counts?.updated === 1 && s.status.counts.failed === 1 ? s : undefined;
    });
    expect(os.status?.failedNodes).toEqual([blocked]);
    expect(condition(os.status, 'Degraded')?.status).toBe('True');
    expect((await eventsFor(client, blocked)).map((e) => e.reason)).toEqual(expect.arrayContaining(['DrainFailed', 'DrainTimeout']));
    const metrics = await registry.metrics();
    expect(metrics).toMatch(/osfleet_rollout_evictions_refused_total [1-9]/);
    expect(metrics).toMatch(/osfleet_rollout_nodes_failed_total\{os="[^"]+",reason="DrainTimeout"\} 1/);
    expect(metrics).toMatch(/osfleet_rollout_nodes\{os="[^"]+",state="failed"\} 1/);
    // The pod is still there: nothing forced it.
    const pods = await client.list<unknown>(`/api/v1/namespaces/${ns}/pods`);
    expect(pods.items).toHaveLength(1);
  });

  it('deletes the pods a PodDisruptionBudget protects once drain.timeout passes with onTimeout: force', async () => {
    const clock = new ManualClock(new Date());
    const f = await fleet(1);
    const ns = await tb.createNamespace('force');
    cleanups.push(() => deleteQuietly(client, `/api/v1/namespaces/${ns}`));
    const kubelet = new SimKubelet(tb.kc, ns);
    cleanups.push(() => kubelet.stop());
    await kubelet.start();
    const node = f.names[0]!;
    await tb.createPodOnNode({ namespace: ns, name: 'db-0', node, labels: { app: 'db' } });
    await client.post(`/apis/policy/v1/namespaces/${ns}/poddisruptionbudgets`, {
      apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: 'db' },
      spec: { minAvailable: 1, selector: { matchLabels: { app: 'db' } } },
    });
    await agents(f);
    const osName = `os-${f.id}`;
    await createOS(client, osName, osSpec(f.label, { strategy: { batches: ['100%'] }, drain: { timeout: '2m', onTimeout: 'force' } }));
    cleanups.push(() => deleteQuietly(client, `${OSES}/${osName}`));
    start(clock);

    await waitFor('an eviction refused by the PDB', async () => (await eventsFor(client, node)).some((e) => e.reason === 'EvictionRefused'), 60_000, 200);
    clock.advance(2 * 60_000 + 1000);
    await waitFor('the node updated', async () => (await osnode(node))?.status?.bootedVersion === '2.0');
    await waitFor('the node uncordoned', () => f.observer.node(node)?.spec.unschedulable !== true);
    expect((await client.list<unknown>(`/api/v1/namespaces/${ns}/pods`)).items).toHaveLength(0);
    expect((await eventsFor(client, node)).map((e) => e.reason)).toContain('PodsDeleted');
  });

  it('refuses to drain a pod that keeps data in emptyDir unless drain.deleteEmptyDirData allows it', async () => {
    const f = await fleet(1);
    const ns = await tb.createNamespace('scratch');
    cleanups.push(() => deleteQuietly(client, `/api/v1/namespaces/${ns}`));
    const node = f.names[0]!;
    await client.post(`/api/v1/namespaces/${ns}/serviceaccounts`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default' } }).catch(() => undefined);
    await client.post(`/api/v1/namespaces/${ns}/pods`, {
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'cache-0' },
      spec: {
        nodeName: node, automountServiceAccountToken: false,
        containers: [{ name: 'c', image: 'registry.invalid/cache:1', volumeMounts: [{ name: 'scratch', mountPath: '/scratch' }] }],
        volumes: [{ name: 'scratch', emptyDir: {} }],
      },
    });
    await agents(f);
    const osName = `os-${f.id}`;
    await createOS(client, osName, osSpec(f.label, { strategy: { batches: ['100%'], failureBudget: 2 } }));
    cleanups.push(() => deleteQuietly(client, `${OSES}/${osName}`));
    start();
    const failure = await waitFor('the drain to fail', async () => {
      const raw = (await osnode(node))?.metadata.annotations?.[ANNOTATION_FAILURE];
      return raw ? (JSON.parse(raw) as { reason: string; message: string }) : undefined;
    });
    expect(failure.reason).toBe('DrainBlockedByEmptyDir');
    expect(failure.message).toContain('deleteEmptyDirData');
    await waitFor('the node uncordoned', () => f.observer.node(node)?.spec.unschedulable !== true);
    expect((await client.list<unknown>(`/api/v1/namespaces/${ns}/pods`)).items).toHaveLength(1);
  });

  it('halts at the failure budget (Paused and Degraded, with the failed nodes) and resumes when paused is toggled', async () => {
    const f = await fleet(6);
    const failing = new Set(f.names.slice(1, 3));
    let failNow = true;
    await agents(f, { fail: (n) => (failNow && failing.has(n) ? 'image checksum mismatch (simulated)' : undefined) });
    const osName = `os-${f.id}`;
    await createOS(client, osName, osSpec(f.label, { strategy: { batches: [1, '100%'], maxUnavailable: 2, failureBudget: 2 } }));
    cleanups.push(() => deleteQuietly(client, `${OSES}/${osName}`));
    const h = start();

    const halted = await waitFor('the rollout to halt', async () => {
      const os = await readOS(client, osName);
      return condition(os.status, 'Paused')?.status === 'True' ? os : undefined;
    }, 60_000, 200);
    expect(condition(halted.status, 'Paused')?.reason).toBe('FailureBudgetReached');
    expect(condition(halted.status, 'Degraded')?.status).toBe('True');
    expect([...(halted.status?.failedNodes ?? [])].sort()).toEqual([...failing].sort());
    expect(condition(halted.status, 'Degraded')?.message).toContain([...failing].sort()[0]);
    expect(halted.status?.counts?.failed).toBe(2);
    // A whole pass that started after the halt was seen (woken by a label on a node) has ended, its
    // writes included: what it did not start, it will not start. No sleep.
    /** The token of each node's permit that grants something (a withdrawn one grants nothing). */
    const permits = async () =>
      new Map(
        await Promise.all(
          f.names.map(async (n) => {
            const pm = (await osnode(n))?.spec.permit;
            return [n, pm && (pm.stage || pm.applySettings || pm.reboot) ? pm.token : undefined] as const;
          }),
        ),
      );
    const permitsAtHalt = await permits();
    const passes = h.stats.reconciles;
    await client.patch(`/api/v1/nodes/${f.names[0]}`, { metadata: { labels: { 'osfleet-test-wake': '1' } } });
    await waitFor('a fleet pass after the halt', () => h.stats.reconciles > passes);
    await h.idle();
    // No node was granted anything after the halt (a started one neither: the halt stops it where it
    // is); a permit taken back (one that grants nothing) is no grant.
    const after = await permits();
    expect(f.names.filter((n) => after.get(n) !== undefined && after.get(n) !== permitsAtHalt.get(n))).toEqual([]);
    const still = await readOS(client, osName);
    expect(still.status?.counts?.updated).toBeLessThan(6);
    expect(f.names.filter((n) => f.observer.node(n)?.spec.unschedulable)).toEqual([]);

    // Fix the cause and toggle paused (a policy change): the rollout resumes and retries the failed nodes.
    failNow = false;
    await client.patch(`${OSES}/${osName}`, { spec: { paused: true } });
    await waitFor('the OS paused by the user', async () => condition((await readOS(client, osName)).status, 'Paused')?.reason === 'PausedByUser');
    await client.patch(`${OSES}/${osName}`, { spec: { paused: false } });
    const done = await waitFor('every node updated after the resume', async () => {
      const os = await readOS(client, osName);
      return condition(os.status, 'Ready')?.status === 'True' ? os : undefined;
    }, 60_000, 200);
    expect(done.status?.counts?.failed).toBe(0);
    expect(condition(done.status, 'Paused')?.status).toBe('False');
  });

  /**
   * 12 nodes with a pod each, agents that record a reboot of a node the controller did not cordon,
   * and an OS rolling out [1, 50%, 100%] with maxUnavailable 2: the ground of the two kill tests.
   */
  async function killScenario(nsPrefix: string, agentDelayMs: number) {
    const f = await fleet(12);
    const ns = await tb.createNamespace(nsPrefix);
    cleanups.push(() => deleteQuietly(client, `/api/v1/namespaces/${ns}`));
    const kubelet = new SimKubelet(tb.kc, ns);
    cleanups.push(() => kubelet.stop());
    await kubelet.start();
    for (const node of f.names) await tb.createPodOnNode({ namespace: ns, name: `w-${node}`, node, labels: { app: 'w' } });
    const violations: string[] = [];
    const a = await agents(f, {
      delayMs: agentDelayMs,
      onReboot: (node) => {
        if (f.observer.node(node)?.spec.unschedulable !== true) violations.push(`${node} rebooted while schedulable`);
      },
    });
    const osName = `os-${f.id}`;
    await createOS(client, osName, osSpec(f.label, { strategy: { batches: [1, '50%', '100%'], maxUnavailable: 2, failureBudget: 1 } }));
    cleanups.push(() => deleteQuietly(client, `${OSES}/${osName}`));
    const midway = async () => condition((await readOS(client, osName)).status, 'Ready')?.status !== 'True';
    /** Waits for the rollout to finish, then checks that no restart broke an invariant. */
    const completes = async (onTimeout: () => string = () => '') => {
      const done = await waitFor('the rollout to complete after the restarts', async () => {
        const os = await readOS(client, osName);
        return condition(os.status, 'Ready')?.status === 'True' ? os : undefined;
      }, 120_000, 250).catch((err: Error) => {
        throw new Error(`${err.message}\n${onTimeout()}`);
      });
      expect(done.status?.counts).toEqual({ total: 12, updated: 12, inProgress: 0, pending: 0, failed: 0 });
      expect(f.observer.maxUnavailable).toBeLessThanOrEqual(2);
      expect(f.observer.maxCordonedByUs).toBeLessThanOrEqual(2);
      expect(violations).toEqual([]);
      // No node is left cordoned, read from the API at once: Ready is True only when the pass that
      // wrote it saw every node given back (an uncordon cut by a restart keeps Ready False until
      // its retry lands).
      const cordoned: string[] = [];
      for (const n of f.names) if ((await client.get<{ spec: { unschedulable?: boolean } }>(`/api/v1/nodes/${n}`)).spec.unschedulable) cordoned.push(n);
      expect(cordoned, 'nodes still cordoned when the OS said Ready').toEqual([]);
      for (const n of f.names) {
        // Each node rebooted exactly once: no restart re-granted a reboot it had already used.
        expect(a.reboots.get(n)).toBe(1);
      }
    };
    return { f, ns, midway, completes };
  }

  it('survives being stopped at 10 random points: invariants hold and the rollout completes', async () => {
    const { f, midway, completes } = await killScenario('kill', 120);
    let killedMidway = 0;
    const registry = new Registry();
    for (let kills = 0; kills < 10; kills++) {
      const h = startRollout({ kubeConfig: tb.kc, clock: systemClock, logger: quietLog, registry });
      await h.ready;
      await new Promise((r) => setTimeout(r, 50 + Math.random() * 500));
      await h.stop();
      if (await midway()) killedMidway++;
      expect(f.observer.maxUnavailable).toBeLessThanOrEqual(2);
    }
    expect(killedMidway).toBeGreaterThanOrEqual(5);
    start(systemClock, registry);
    await completes();
  });

  it('survives SIGKILL of the controller process at 10 random points (mid-pass, mid-write): invariants hold and the rollout completes', async () => {
    const { f, ns, midway, completes } = await killScenario('kill9', 300);
    const dir = mkdtempSync(join(tmpdir(), 'osfleet-kill9-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    // The same identity each time keeps the test fast: the next process takes the Lease back at once
    // instead of waiting for it to expire (deployed replicas get a new identity per start; the
    // leader-election tests in sync.test.ts cover the takeover after a kill -9).
    const run = (): Promise<ControllerProcess> =>
      startControllerProcess({
        kubeconfig: tb.cluster.kubeconfig,
        namespace: ns,
        cacheDir: join(dir, 'cache'),
        identity: `kill9-${f.id}`,
        logDir: dir,
        leaseName: `kill9-${f.id}`,
        rollout: 'on',
        leaseDuration: '4s',
        renewDeadline: '3s',
        retryPeriod: '500ms',
        logLevel: 'info',
      });
    let killedMidway = 0;
    const lifetimes: number[] = [];
    for (let kills = 0; kills < 10; kills++) {
      const c = await run();
      const lifetime = 200 + Math.floor(Math.random() * 1300);
      lifetimes.push(lifetime);
      await new Promise((r) => setTimeout(r, lifetime));
      await c.kill9(); // no shutdown hook runs: whatever write was in flight is cut where it was
      if (await midway()) killedMidway++;
      expect(f.observer.maxUnavailable, `after kill ${kills + 1} (lifetimes ${lifetimes.join(', ')} ms)`).toBeLessThanOrEqual(2);
    }
    expect(killedMidway, `lifetimes ${lifetimes.join(', ')} ms`).toBeGreaterThanOrEqual(5);
    const last = await run();
    cleanups.push(async () => void (await last.stop()));
    await completes(() => `--- controller log\n${last.logTail(60)}`);
    // With the rollout executor running, SIGTERM still ends the process cleanly: exit code 0 is the
    // graceful path, within the controller's own shutdown timeout (past it, it exits 1 and says so).
    const { code } = await last.stop();
    expect(code).toBe(0);
    expect(last.logTail(20)).not.toContain('graceful stop took too long');
  });

  it('leaves a node selected by two OS objects alone and reports the conflict on both and on the OSNode', async () => {
    const f = await fleet(2);
    const both = f.names[0]!;
    await client.patch(`/api/v1/nodes/${both}`, { metadata: { labels: { 'osfleet-other': f.id } } });
    await agents(f);
    const a = `os-${f.id}-a`;
    const b = `os-${f.id}-b`;
    await createOS(client, a, osSpec(f.label));
    await createOS(client, b, osSpec({ 'osfleet-other': f.id }));
    cleanups.push(() => deleteQuietly(client, `${OSES}/${a}`), () => deleteQuietly(client, `${OSES}/${b}`));
    start();
    for (const name of [a, b]) {
      const os = await waitFor(`conflict on ${name}`, async () => {
        const s = await readOS(client, name);
        return s.status?.conflictNodes?.includes(both) ? s : undefined;
      });
      expect(condition(os.status, 'Conflict')?.status).toBe('True');
    }
    await waitFor('the conflict Event on the OSNode', async () => (await eventsFor(client, both)).some((e) => e.reason === 'Conflict'));
    await waitFor('the other node updated', async () => (await osnode(f.names[1]!))?.status?.bootedVersion === '2.0');
    const o = await osnode(both);
    expect(o?.spec.target).toBeUndefined();
    expect(o?.spec.permit).toBeUndefined();
  });

  it('holds an updated node cordoned until its health-check pods are Ready, and fails it when they stay NotReady', async () => {
    const clock = new ManualClock(new Date());
    const f = await fleet(2);
    const ns = await tb.createNamespace('health');
    cleanups.push(() => deleteQuietly(client, `/api/v1/namespaces/${ns}`));
    const ds = await client.post<{ metadata: { uid: string; name: string } }>(`/apis/apps/v1/namespaces/${ns}/daemonsets`, {
      apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'cni' },
      spec: { selector: { matchLabels: { app: 'cni' } }, template: { metadata: { labels: { app: 'cni' } }, spec: { containers: [{ name: 'c', image: 'registry.invalid/cni:1' }] } } },
    });
    const owner = [{ apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'cni', uid: ds.metadata.uid, controller: true }];
    for (const node of f.names) await tb.createPodOnNode({ namespace: ns, name: `cni-${node}`, node, labels: { app: 'cni' }, ownerReferences: owner });
    const [good, bad] = f.names as [string, string];
    const setReady = (node: string, ready: boolean) =>
      client.patch(`/api/v1/namespaces/${ns}/pods/cni-${node}/status`, {
        status: { conditions: [{ type: 'Ready', status: ready ? 'True' : 'False', lastTransitionTime: new Date().toISOString() }] },
      }, 'application/strategic-merge-patch+json');
    await agents(f, {
      // A reboot makes the node's CNI pod NotReady; on `good` it comes back shortly after.
      onReboot: async (node) => {
        await setReady(node, false);
        if (node === good) setTimeout(() => void setReady(node, true), 1500);
      },
    });
    const osName = `os-${f.id}`;
    await createOS(client, osName, osSpec(f.label, {
      strategy: { batches: ['100%'], maxUnavailable: 2, failureBudget: 2 },
      healthChecks: [{ namespace: ns, podSelector: { matchLabels: { app: 'cni' } }, timeout: '3m' }],
    }));
    cleanups.push(() => deleteQuietly(client, `${OSES}/${osName}`));
    start(clock);

    await waitFor('both nodes rebooted into 2.0', async () => (await osnode(good))?.status?.bootedVersion === '2.0' && (await osnode(bad))?.status?.bootedVersion === '2.0');
    // `good` is given back only after its pod is Ready again.
    await waitFor('the good node uncordoned', () => f.observer.node(good)?.spec.unschedulable !== true, 30_000);
    expect((await eventsFor(client, good)).map((e) => e.reason)).toEqual(expect.arrayContaining(['HealthGateWaiting', 'HealthGatePassed']));
    expect(f.observer.node(bad)?.spec.unschedulable).toBe(true);
    clock.advance(3 * 60_000 + 1000);
    const failure = await waitFor('the bad node failed by its health gate', async () => {
      const raw = (await osnode(bad))?.metadata.annotations?.[ANNOTATION_FAILURE];
      return raw ? (JSON.parse(raw) as { reason: string; message: string }) : undefined;
    });
    expect(failure.reason).toBe('HealthCheckFailed');
    expect(failure.message).toContain(`${ns}/cni-${bad}`);
    await waitFor('the bad node uncordoned', () => f.observer.node(bad)?.spec.unschedulable !== true);
    const os = await waitFor('the OS reporting the failure', async () => {
      const s = await readOS(client, osName);
      return s.status?.failedNodes?.includes(bad) ? s : undefined;
    });
    expect(condition(os.status, 'Degraded')?.status).toBe('True');
  });

  it('garbage-collects the OSNode when its Node is deleted', async () => {
    const f = await fleet(1);
    const name = f.names[0]!;
    start();
    const o = await waitFor('the OSNode', () => osnode(name));
    expect(o.metadata.ownerReferences?.[0]).toMatchObject({ kind: 'Node', name, controller: true });
    await client.delete(`/api/v1/nodes/${name}`);
    await waitFor('the OSNode to be garbage-collected', async () => (await osnode(name)) === undefined, 60_000, 200);
  });
});
