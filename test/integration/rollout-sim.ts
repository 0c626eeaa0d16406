// Light simulated node agents and a simulated kubelet for rollout tests and benchmarks. The agents
// watch OSNodes and answer each new permit after a delay, as ADR 0001 says a real agent would: stage
// writes the inactive slot, applySettings records the config hash (kernel args wait for a reboot),
// reboot boots the staged slot. They can be told to fail. The "kubelet" finishes pod deletions,
// which no real kubelet does in the test bed.
import type { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { GROUP, VERSION } from '../../api/meta.js';
import type { OSNodeSpec, OSNodeStatus } from '../../api/resources.js';
import { KubeClient, isNotFound } from '../../controller/kube/client.js';
import { WatchCache } from '../../controller/kube/watch-cache.js';

const OSNODES = `/apis/${GROUP}/${VERSION}/osnodes`;
const log = pino({ level: process.env.OSFLEET_TEST_LOG ?? 'warn' }, pino.destination(2));

interface SimOSNode {
  metadata: { name: string; resourceVersion?: string };
  spec?: OSNodeSpec;
  status?: OSNodeStatus;
}

export interface SimAgentOptions {
  /** Only these nodes have an agent. */
  nodes: Iterable<string>;
  /** The version every node boots at first. */
  initialVersion: string;
  /** Milliseconds before an agent answers a new permit (default 50). */
  delayMs?: number;
  /** Returns a message when this node's agent should fail the permit, else undefined. */
  fail?: (node: string, spec: OSNodeSpec) => string | undefined;
  /** Called when an agent "reboots" its node (e.g. to make pods NotReady). */
  onReboot?: (node: string) => void | Promise<void>;
  /** Called each time an agent reports that its node runs the target (node done). */
  onDone?: (node: string, at: number) => void;
  /** Called when a permit for a node is first seen (node started). */
  onPermit?: (node: string, at: number, permit: NonNullable<OSNodeSpec['permit']>) => void;
  /**
   * Milliseconds after which an answer whose status write failed (e.g. the apiserver is down) is
   * tried again, as a real agent retries; by default a failure is only recorded in `errors`.
   */
  retryMs?: number;
}

export class SimAgents {
  private readonly client: KubeClient;
  private readonly cache: WatchCache<SimOSNode>;
  private readonly nodes: Set<string>;
  private readonly busy = new Set<string>();
  private readonly again = new Set<string>();
  private readonly seenTokens = new Map<string, string>();
  /** An answer computed (reboot done) but not yet written, by node: a retry writes it as it is. */
  private readonly unwritten = new Map<string, { token: string; status: OSNodeStatus; done: boolean }>();
  private stopped = false;
  /** Permits answered, by node. */
  readonly answered = new Map<string, number>();
  /** Reboots performed, by node. */
  readonly reboots = new Map<string, number>();
  errors: string[] = [];

  constructor(
    kc: KubeConfig,
    private readonly opts: SimAgentOptions,
  ) {
    this.client = new KubeClient(kc, { maxSockets: 16 });
    this.nodes = new Set(opts.nodes);
    this.cache = new WatchCache<SimOSNode>({
      kubeConfig: kc,
      client: this.client,
      path: OSNODES,
      logger: log,
      name: 'sim-osnodes',
    });
    this.cache.onChange((type, o) => {
      if (type !== 'delete' && this.nodes.has(o.metadata.name)) this.kick(o.metadata.name);
    });
  }

  async start(): Promise<void> {
    await this.cache.start();
  }

  stop(): void {
    this.stopped = true;
    this.cache.stop();
    this.client.close();
  }

  private kick(name: string): void {
    if (this.stopped) return;
    if (this.busy.has(name)) {
      this.again.add(name);
      return;
    }
    this.busy.add(name);
    void this.answer(name)
      .catch((err: unknown) => {
        if (isNotFound(err)) return;
        this.errors.push(`${name}: ${String(err)}`);
        if (this.opts.retryMs !== undefined) setTimeout(() => this.kick(name), this.opts.retryMs).unref();
      })
      .finally(() => {
        this.busy.delete(name);
        if (this.again.delete(name)) this.kick(name);
      });
  }

  private async answer(name: string): Promise<void> {
    const o = this.cache.get(name);
    if (!o) return;
    const spec = o.spec;
    const pending = this.unwritten.get(name);
    if (pending && spec?.permit?.token === pending.token && o.status?.observedPermitToken !== pending.token) {
      // The node already acted on this permit (and maybe rebooted); only the report is missing.
      await this.write(name, pending.status);
      this.unwritten.delete(name);
      if (pending.done) this.opts.onDone?.(name, Date.now());
      return;
    }
    this.unwritten.delete(name);
    // What the node runs is the agent's own truth, even when its last report did not get through.
    const st: OSNodeStatus = { ...(pending?.status ?? o.status ?? {}) };
    if (!st.bootedSlot) {
      // Agent start: report what the node runs.
      await this.write(name, {
        phase: 'Idle',
        bootedSlot: 'A',
        bootedVersion: this.opts.initialVersion,
        slots: { A: { version: this.opts.initialVersion } },
        message: 'agent started',
      });
      return;
    }
    const permit = spec?.permit;
    if (!permit || st.observedPermitToken === permit.token) return;
    if (this.seenTokens.get(name) !== permit.token) {
      this.seenTokens.set(name, permit.token);
      this.opts.onPermit?.(name, Date.now(), permit);
    }
    const delay = this.opts.delayMs ?? 50;
    if (delay > 0) await new Promise((r) => setTimeout(r, delay));
    if (this.stopped) return;
    // Read the latest spec again: the controller may have moved on during the delay.
    const latest = this.cache.get(name);
    if (!latest?.spec?.permit || latest.spec.permit.token !== permit.token) {
      this.again.add(name);
      return;
    }
    const failure = this.opts.fail?.(name, latest.spec);
    if (failure) {
      await this.write(name, { ...st, phase: 'Failed', message: failure, observedPermitToken: permit.token });
      return;
    }
    const target = latest.spec.target;
    const other = st.bootedSlot === 'A' ? 'B' : 'A';
    const slots = { ...(st.slots ?? {}) };
    const next: OSNodeStatus = { ...st, slots, observedPermitToken: permit.token };
    if (target && st.bootedVersion !== target.version && slots[other]?.version !== target.version && permit.stage) {
      slots[other] = { version: target.version, sha256: target.image.sha256 };
      next.phase = 'Staged';
    }
    const config = latest.spec.config;
    if (config && st.appliedConfigHash !== config.hash && permit.applySettings) {
      next.appliedConfigHash = config.hash;
      const kernel = config.kernelArgs.add.length + config.kernelArgs.remove.length > 0;
      next.pendingReboot = kernel ? ['kernelArgs'] : [];
    }
    if (permit.reboot) {
      this.reboots.set(name, (this.reboots.get(name) ?? 0) + 1);
      await this.opts.onReboot?.(name);
      if (target && slots[other]?.version === target.version && st.bootedVersion !== target.version) {
        next.bootedSlot = other;
        next.bootedVersion = target.version;
      }
      next.pendingReboot = [];
    }
    const updated =
      (!target || next.bootedVersion === target.version) &&
      (!config || next.appliedConfigHash === config.hash) &&
      (next.pendingReboot?.length ?? 0) === 0;
    if (updated) next.phase = 'Done';
    else if (!next.phase || next.phase === 'Done') next.phase = 'Idle';
    next.message = updated ? `runs ${next.bootedVersion}` : `answered permit ${permit.token}`;
    this.answered.set(name, (this.answered.get(name) ?? 0) + 1);
    this.unwritten.set(name, { token: permit.token, status: next, done: Boolean(updated && target) });
    await this.write(name, next);
    this.unwritten.delete(name);
    if (updated && target) this.opts.onDone?.(name, Date.now());
  }

  private async write(name: string, status: OSNodeStatus): Promise<void> {
    const res = await this.client.patch(`${OSNODES}/${name}/status`, { status });
    this.cache.observe(res);
  }
}

/** Finishes graceful pod deletions on the given nodes at once, as their kubelets would. */
export class SimKubelet {
  private readonly client: KubeClient;
  private readonly cache: WatchCache<{ metadata: { name: string; namespace: string; deletionTimestamp?: string }; spec?: { nodeName?: string } }>;
  private stopped = false;

  constructor(kc: KubeConfig, namespace: string) {
    this.client = new KubeClient(kc);
    this.cache = new WatchCache({ kubeConfig: kc, client: this.client, path: `/api/v1/namespaces/${namespace}/pods`, logger: log, name: 'sim-kubelet' });
    this.cache.onChange((type, p) => {
      if (type === 'delete' || !p.metadata.deletionTimestamp || this.stopped) return;
      void this.client
        .request('DELETE', `/api/v1/namespaces/${p.metadata.namespace}/pods/${p.metadata.name}`, { body: { gracePeriodSeconds: 0 } })
        .catch(() => undefined);
    });
  }

  start(): Promise<void> {
    return this.cache.start();
  }

  stop(): void {
    this.stopped = true;
    this.cache.stop();
    this.client.close();
  }
}
