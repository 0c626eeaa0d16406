// Shared pieces of the rollout integration tests and benchmark: OS objects, fleets of Nodes, an
// observer that records how many nodes were unavailable at once, and polling helpers.
import type { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { GROUP, VERSION } from '../../api/meta.js';
import type { OSSpec, OSStatus } from '../../api/resources.js';
import { KubeClient, isNotFound } from '../../controller/kube/client.js';
import { WatchCache } from '../../controller/kube/watch-cache.js';
import { ANNOTATION_CORDONED, trimNode, type NodeObj } from '../../controller/rollout/objects.js';

export const OSES = `/apis/${GROUP}/${VERSION}/oses`;
export const OSNODES = `/apis/${GROUP}/${VERSION}/osnodes`;
export const quietLog = pino({ level: process.env.OSFLEET_TEST_LOG ?? 'warn' }, pino.destination(2));

export const SHA_A = 'a'.repeat(64);
export const SHA_B = 'b'.repeat(64);

export type OSOverrides = Partial<Omit<OSSpec, 'strategy'>> & { strategy?: Partial<OSSpec['strategy']> };

export function osSpec(label: Record<string, string>, over: OSOverrides = {}): OSSpec {
  const { strategy, ...rest } = over;
  return {
    osVersion: { name: 'v2', version: '2.0', image: { url: 'https://images.invalid/root-2.0.img', sha256: SHA_B } },
    nodeSelector: { matchLabels: label },
    strategy: {
      batches: [1, '50%', '100%'],
      maxUnavailable: 1,
      soak: '0s',
      failureBudget: 1,
      stageOutsideWindows: false,
      ...strategy,
    },
    maintenanceWindows: [],
    denyWindows: [],
    drain: {},
    healthChecks: [],
    paused: false,
    ...rest,
  };
}

export async function createOS(client: KubeClient, name: string, spec: OSSpec): Promise<void> {
  await client.post(OSES, { apiVersion: `${GROUP}/${VERSION}`, kind: 'OS', metadata: { name }, spec });
}

export async function readOS(client: KubeClient, name: string): Promise<{ metadata: { generation: number }; spec: OSSpec; status?: OSStatus }> {
  return client.get(`${OSES}/${name}`);
}

export async function deleteQuietly(client: KubeClient, path: string): Promise<void> {
  try {
    await client.delete(path);
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}

/** Creates Ready nodes with the given labels, `parallel` at a time. */
export async function createNodes(client: KubeClient, names: string[], labels: Record<string, string>, parallel = 16): Promise<void> {
  let i = 0;
  const worker = async () => {
    while (i < names.length) {
      const name = names[i++]!;
      const node = await client.post<{ metadata: { name: string } }>('/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name, labels } });
      const now = new Date().toISOString();
      await client.patch(`/api/v1/nodes/${node.metadata.name}/status`, {
        status: {
          conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'simulated', lastHeartbeatTime: now, lastTransitionTime: now }],
        },
      }, 'application/strategic-merge-patch+json');
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, names.length) }, worker));
}

export async function deleteNodes(client: KubeClient, names: string[], parallel = 16): Promise<void> {
  let i = 0;
  const worker = async () => {
    while (i < names.length) await deleteQuietly(client, `/api/v1/nodes/${names[i++]!}`);
  };
  await Promise.all(Array.from({ length: Math.min(parallel, names.length) }, worker));
}

/**
 * Watches the given nodes and records the most that were unavailable (cordoned or NotReady) at once,
 * and whether any was cordoned by osfleet and someone else at the same time.
 */
export class AvailabilityObserver {
  private readonly cache: WatchCache<NodeObj>;
  private readonly client: KubeClient;
  private readonly unavailable = new Set<string>();
  maxUnavailable = 0;
  maxCordonedByUs = 0;
  private readonly ours = new Set<string>();

  constructor(kc: KubeConfig, private readonly names: Set<string>) {
    this.client = new KubeClient(kc);
    this.cache = new WatchCache<NodeObj>({ kubeConfig: kc, client: this.client, path: '/api/v1/nodes', transform: trimNode, logger: quietLog, name: 'observer' });
    this.cache.onChange((type, n) => {
      const name = n.metadata.name;
      if (!this.names.has(name)) return;
      const ready = n.status.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
      if (type !== 'delete' && (n.spec.unschedulable || !ready)) this.unavailable.add(name);
      else this.unavailable.delete(name);
      if (type !== 'delete' && n.metadata.annotations?.[ANNOTATION_CORDONED] !== undefined) this.ours.add(name);
      else this.ours.delete(name);
      this.maxUnavailable = Math.max(this.maxUnavailable, this.unavailable.size);
      this.maxCordonedByUs = Math.max(this.maxCordonedByUs, this.ours.size);
    });
  }

  start(): Promise<void> {
    return this.cache.start();
  }

  stop(): void {
    this.cache.stop();
    this.client.close();
  }

  node(name: string): NodeObj | undefined {
    return this.cache.get(name);
  }
}

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 60_000, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v as T;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export async function eventsFor(client: KubeClient, involvedName: string): Promise<Array<{ reason: string; message: string; type: string }>> {
  const { items } = await client.list<{ reason: string; message: string; type: string; involvedObject: { name: string; kind: string } }>(
    '/api/v1/namespaces/default/events',
    { fieldSelector: `involvedObject.name=${involvedName},involvedObject.kind=OSNode` },
  );
  return items.map((e) => ({ reason: e.reason, message: e.message, type: e.type }));
}

/** One observed state of a Node or an OSNode, as a watch delivered it. */
export interface RecordedState {
  at: number;
  kind: 'Node' | 'OSNode';
  name: string;
  resourceVersion: string;
  /** Node: cordoned or NotReady. */
  unavailable?: boolean;
  /** OSNode: the permit in spec, if any. */
  permit?: { token: string; reboot: boolean };
  /** OSNode: status.bootedVersion. */
  bootedVersion?: string;
  /** Nodes of the fleet unavailable at once once this state was seen. */
  unavailableNow: number;
}

/**
 * Records every state of the fleet's Nodes and OSNodes that a watch delivers (relists included,
 * so the first states seen after an apiserver restart are there too), with how many Nodes were
 * unavailable at that moment, and every distinct reboot permit each OSNode carried.
 */
export class FleetRecorder {
  private readonly client: KubeClient;
  private readonly nodes: WatchCache<NodeObj>;
  private readonly osnodes: WatchCache<{ metadata: { name: string; resourceVersion?: string }; spec?: { permit?: { token: string; reboot?: boolean } }; status?: { bootedVersion?: string } }>;
  private readonly unavailable = new Set<string>();
  readonly states: RecordedState[] = [];
  /** Distinct permit tokens with reboot: true, by node. */
  readonly rebootPermits = new Map<string, Set<string>>();

  constructor(kc: KubeConfig, private readonly names: Set<string>) {
    this.client = new KubeClient(kc);
    this.nodes = new WatchCache<NodeObj>({ kubeConfig: kc, client: this.client, path: '/api/v1/nodes', transform: trimNode, logger: quietLog, name: 'recorder-nodes' });
    this.osnodes = new WatchCache({ kubeConfig: kc, client: this.client, path: OSNODES, logger: quietLog, name: 'recorder-osnodes' });
    this.nodes.onChange((type, n) => {
      const name = n.metadata.name;
      if (!this.names.has(name)) return;
      const ready = n.status.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
      const unavailable = type !== 'delete' && (n.spec.unschedulable === true || !ready);
      if (unavailable) this.unavailable.add(name);
      else this.unavailable.delete(name);
      this.states.push({ at: Date.now(), kind: 'Node', name, resourceVersion: n.metadata.resourceVersion ?? '', unavailable, unavailableNow: this.unavailable.size });
    });
    this.osnodes.onChange((type, o) => {
      const name = o.metadata.name;
      if (!this.names.has(name) || type === 'delete') return;
      const permit = o.spec?.permit ? { token: o.spec.permit.token, reboot: o.spec.permit.reboot === true } : undefined;
      if (permit?.reboot) {
        const set = this.rebootPermits.get(name) ?? new Set<string>();
        set.add(permit.token);
        this.rebootPermits.set(name, set);
      }
      this.states.push({
        at: Date.now(), kind: 'OSNode', name, resourceVersion: o.metadata.resourceVersion ?? '',
        ...(permit ? { permit } : {}), ...(o.status?.bootedVersion ? { bootedVersion: o.status.bootedVersion } : {}),
        unavailableNow: this.unavailable.size,
      });
    });
  }

  async start(): Promise<void> {
    await Promise.all([this.nodes.start(), this.osnodes.start()]);
  }

  stop(): void {
    this.nodes.stop();
    this.osnodes.stop();
    this.client.close();
  }

  get maxUnavailable(): number {
    return Math.max(0, ...this.states.map((s) => s.unavailableNow));
  }

  node(name: string): NodeObj | undefined {
    return this.nodes.get(name);
  }

  osnode(name: string) {
    return this.osnodes.get(name);
  }
}
