// The rollout executor: watches Nodes, OS, OSConfig and OSNode objects, runs the pure planner over
// what it sees, and writes the difference: OSNode specs (server-side apply, field manager osfleet),
// cordons, drains through the Eviction API, health gates, Events, OS / OSConfig status and metrics.
// Level-triggered: every reconcile starts from the caches, so a restart is just another reconcile.
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { API_VERSION, FIELD_MANAGER } from '../../api/meta.js';
import type { HealthCheck } from '../../api/documents.js';
import { defaultCatalogue, type Catalogue } from '../../render/catalogue.js';
import { DEFAULT_HEALTH_TIMEOUT_MS, plan } from '../../rollout/planner.js';
import type { Action, Permit, PlanResult } from '../../rollout/types.js';
import { apiPath, CONTENT, isNotFound, KubeClient } from '../kube/client.js';
import { EventRecorder, type EventType } from '../kube/events.js';
import { WatchCache } from '../kube/watch-cache.js';
import { WorkQueue, type ReconcileResult } from '../kube/work-queue.js';
import { systemClock, type Clock } from './clock.js';
import { Drainer, drainPolicy, type DrainProgress } from './drain.js';
import {
  applyBody,
  cordonedAt,
  cordonedByUs,
  desiredOwnedFields,
  ownedFields,
  toFleetNode,
  windowFacts,
} from './fleet.js';
import { toPolicy } from '../../rollout/policy.js';
import { evaluatePodChecks, isUpdated } from './gate.js';
import { RolloutMetrics } from './metrics.js';
import {
  ANNOTATION_CORDONED,
  ANNOTATION_GATE_SINCE,
  OSFLEET_PATHS,
  nodeReady,
  trimCustom,
  trimNode,
  trimOSNode,
  type NodeObj,
  type OSConfigObj,
  type OSNodeObj,
  type OSObj,
  type RecordedFailure,
} from './objects.js';
import { osForNode, selectNodes } from './selection.js';
import { buildOSConfigStatus, buildOSStatus, sameJson, statusPatch } from './status.js';

export interface StartRolloutOptions {
  kubeConfig: KubeConfig;
  clock?: Clock;
  logger: Logger;
  /** prom-client registry the rollout metrics are registered on. */
  registry: Registry;
  /** API writes in flight at once during a reconcile (default 32). */
  writeConcurrency?: number;
  /** Keys (the fleet, drains, health gates) processed at once (default 16). */
  workers?: number;
  /** The sysctl / kernel-arg catalogue that says which settings need a reboot (default: the shipped one). */
  catalogue?: Catalogue;
  /** Events' source component (default osfleet-controller). */
  component?: string;
}

export interface RolloutHandle {
  /** Resolves once the caches are filled and the first reconcile has been queued. */
  readonly ready: Promise<void>;
  /** Stops watches, timers and work; resolves when in-flight work has ended. */
  stop(): Promise<void>;
  /** For tests and benchmarks: resolves when no work is queued or running. */
  idle(): Promise<void>;
  /** For tests and benchmarks: counters of what the executor did. */
  readonly stats: ExecutorStats;
}

export interface ExecutorStats {
  reconciles: number;
  applies: number;
  statusWrites: number;
  /** Requests made, by HTTP method. */
  requests: Record<string, number>;
  /** Events waiting to be written. */
  eventsPending: number;
  cacheSizes(): Record<string, number>;
}

const FLEET = 'fleet';
const DRAIN = 'drain/';
const GATE = 'gate/';
/** OSNodes created (or updated without a planner action) per reconcile, at most. */
const BACKGROUND_WRITES_PER_PASS = 1000;

const OSNODE = (name: string) => `${OSFLEET_PATHS.osnodes}/${encodeURIComponent(name)}`;

interface GateState {
  token: string;
  ok: boolean;
  message: string;
}

export function startRollout(opts: StartRolloutOptions): RolloutHandle {
  const ex = new RolloutExecutor(opts);
  ex.start();
  return {
    ready: ex.ready,
    stop: () => ex.stop(),
    idle: () => ex.idle(),
    stats: ex.stats,
  };
}

class RolloutExecutor {
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly client: KubeClient;
  private readonly eventClient: KubeClient;
  private readonly events: EventRecorder;
  private readonly metrics: RolloutMetrics;
  private readonly drainer: Drainer;
  private readonly catalogue: Catalogue;
  private readonly nodes: WatchCache<NodeObj>;
  private readonly oses: WatchCache<OSObj>;
  private readonly configs: WatchCache<OSConfigObj>;
  private readonly osnodes: WatchCache<OSNodeObj>;
  private readonly queue: WorkQueue;
  private stopped = false;
  private synced = false;
  private resolveReady!: () => void;
  readonly ready: Promise<void>;

  // What this process learnt that the cluster shows only after a write, or never needs to:
  /** Node → cordon annotation value whose drain finished. */
  private readonly drained = new Map<string, string>();
  private readonly drainProgress = new Map<string, DrainProgress & { cordon: string; nextAt: number; announced: boolean }>();
  private readonly gates = new Map<string, GateState>();
  /** Failures found by drain or health gates, until the OSNode carries them. */
  private readonly pendingFailures = new Map<string, RecordedFailure & { os: string }>();
  private readonly announcedConflicts = new Set<string>();
  private readonly timers = new Map<string, { at: number; cancel: () => void }>();

  readonly stats: ExecutorStats;

  constructor(private readonly opts: StartRolloutOptions) {
    this.log = opts.logger.child({ component: 'rollout' });
    this.clock = opts.clock ?? systemClock;
    this.client = new KubeClient(opts.kubeConfig, { maxSockets: Math.max(8, opts.writeConcurrency ?? 64) });
    // Events go through their own connections, so a burst of them never delays the rollout's own writes.
    this.eventClient = new KubeClient(opts.kubeConfig, { maxSockets: 4 });
    this.events = new EventRecorder({ client: this.eventClient, logger: this.log, component: opts.component ?? 'osfleet-controller', concurrency: 4 });
    this.metrics = new RolloutMetrics(opts.registry);
    this.drainer = new Drainer(this.client);
    this.catalogue = opts.catalogue ?? defaultCatalogue();
    const common = { kubeConfig: opts.kubeConfig, client: this.client, logger: this.log };
    this.nodes = new WatchCache<NodeObj>({ ...common, path: '/api/v1/nodes', transform: trimNode, name: 'nodes' });
    this.oses = new WatchCache<OSObj>({ ...common, path: OSFLEET_PATHS.os, transform: trimCustom, name: 'oses' });
    this.configs = new WatchCache<OSConfigObj>({ ...common, path: OSFLEET_PATHS.osconfigs, transform: trimCustom, name: 'osconfigs' });
    this.osnodes = new WatchCache<OSNodeObj>({ ...common, path: OSFLEET_PATHS.osnodes, transform: trimOSNode, name: 'osnodes' });
    this.queue = new WorkQueue((key) => this.reconcile(key), {
      concurrency: opts.workers ?? 16,
      onError: (key, err, attempt) => {
        this.log.warn({ key, attempt, err: err instanceof Error ? err.message : String(err) }, 'reconcile failed; retrying with back-off');
      },
    });
    this.ready = new Promise((r) => (this.resolveReady = r));
    const client = this.client;
    const events = this.events;
    const caches = { nodes: this.nodes, oses: this.oses, osconfigs: this.configs, osnodes: this.osnodes };
    let reconciles = 0;
    let applies = 0;
    let statusWrites = 0;
    this.stats = {
      get reconciles() {
        return reconciles;
      },
      get applies() {
        return applies;
      },
      get statusWrites() {
        return statusWrites;
      },
      get requests() {
        return { ...client.counts };
      },
      get eventsPending() {
        return events.pending;
      },
      cacheSizes: () => Object.fromEntries(Object.entries(caches).map(([k, c]) => [k, c.size])),
    };
    this.count = {
      reconcile: () => reconciles++,
      apply: () => applies++,
      status: () => statusWrites++,
    };
  }

  private readonly count: { reconcile(): void; apply(): void; status(): void };

  start(): void {
    const wake = () => {
      if (this.synced) this.queue.add(FLEET);
    };
    for (const c of [this.nodes, this.oses, this.configs, this.osnodes]) c.onChange(wake);
    // A node going away ends its drain and gate.
    this.nodes.onChange((type, n) => {
      if (type === 'delete') this.forgetNode(n.metadata.name);
    });
    void Promise.all([this.nodes.start(), this.oses.start(), this.configs.start(), this.osnodes.start()]).then(() => {
      if (this.stopped) return;
      this.synced = true;
      this.log.info(this.stats.cacheSizes(), 'rollout caches synced');
      this.queue.add(FLEET);
      this.resolveReady();
    });
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const c of [this.nodes, this.oses, this.configs, this.osnodes]) c.stop();
    for (const t of this.timers.values()) t.cancel();
    this.timers.clear();
    this.queue.stop();
    await this.queue.idle();
    await Promise.race([this.events.flush(), new Promise((r) => setTimeout(r, 2000).unref())]);
    const dropped = this.events.close();
    if (dropped > 0) this.log.warn({ dropped }, 'stopped with Events still unwritten; they are dropped');
    this.client.close();
    this.eventClient.close();
    this.resolveReady();
    this.log.info('rollout stopped');
  }

  idle(): Promise<void> {
    return this.queue.idle();
  }

  private forgetNode(name: string): void {
    this.drained.delete(name);
    this.drainProgress.delete(name);
    this.gates.delete(name);
    this.pendingFailures.delete(name);
    this.announcedConflicts.delete(name);
    for (const id of [`${DRAIN}${name}`, `${GATE}${name}`, `health/${name}`]) this.cancelTimer(id);
  }

  private async reconcile(key: string): Promise<ReconcileResult | void> {
    if (this.stopped) return;
    if (key === FLEET) return this.reconcileFleet();
    if (key.startsWith(DRAIN)) return this.reconcileDrain(key.slice(DRAIN.length));
    if (key.startsWith(GATE)) return this.reconcileGate(key.slice(GATE.length));
  }

  // ---------- timers on the rollout clock ----------

  private armTimer(id: string, at: number, key: string, before?: () => void): void {
    const t = this.timers.get(id);
    if (t && t.at === at) return;
    t?.cancel();
    const cancel = this.clock.setTimer(new Date(at), () => {
      this.timers.delete(id);
      before?.();
      this.queue.add(key);
    });
    this.timers.set(id, { at, cancel });
  }

  private cancelTimer(id: string): void {
    this.timers.get(id)?.cancel();
    this.timers.delete(id);
  }

  // ---------- the fleet ----------

  private async reconcileFleet(): Promise<void> {
    const started = process.hrtime.bigint();
    this.count.reconcile();
    // Planning is synchronous and returns only the writes: the fleet-sized structures it builds are
    // garbage before the first await, so a 10k-node pass does not keep them alive while writing.
    const pass = this.planPass();
    await runLimited(pass.work, this.opts.writeConcurrency ?? 64);
    if (this.stopped) return;
    await runLimited(pass.statusWork, 8);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    this.metrics.reconcileDuration.observe(seconds);
    this.log.debug({ ms: Math.round(seconds * 1000), writes: pass.work.length, statusWrites: pass.statusWork.length, nodes: pass.nodes }, 'fleet reconciled');
    const errors = pass.errors;
    if (errors.length > 0) {
      for (const _ of errors) this.metrics.apiErrors.inc({ operation: 'reconcile' });
      throw new Error(`${errors.length} write(s) failed, first: ${errors[0] instanceof Error ? (errors[0] as Error).message : String(errors[0])}`);
    }
  }

  private planPass(): { work: Array<() => Promise<void>>; statusWork: Array<() => Promise<void>>; errors: unknown[]; nodes: number } {
    const now = this.clock.now();
    const nowMs = now.getTime();
    const oses = this.oses.list().filter((o) => !o.metadata.deletionTimestamp && o.spec?.osVersion);
    const configs = this.configs.list().filter((c) => !c.metadata.deletionTimestamp);
    const nodes = this.nodes.list().filter((n) => !n.metadata.deletionTimestamp);
    const osByName = new Map(oses.map((o) => [o.metadata.name, o]));
    const sel = selectNodes(nodes, oses, configs, this.catalogue);

    // Facts the planner needs that live in this process: drains finished, pod health gates.
    const gating = new Set<string>();
    const fleetNodes = nodes.map((n) => {
      const name = n.metadata.name;
      const osnode = this.osnodes.get(name);
      const s = sel.byNode.get(name);
      const cordon = n.metadata.annotations?.[ANNOTATION_CORDONED];
      const drained = cordon !== undefined && this.drained.get(name) === cordon;
      let podsHealthy = true;
      const checks = s?.os?.spec.healthChecks ?? [];
      if (checks.length > 0 && cordonedByUs(n) && nodeReady(n) && isUpdated(osnode?.spec, osnode?.status)) {
        const g = this.gates.get(name);
        podsHealthy = g !== undefined && g.ok && g.token === (osnode?.spec?.permit?.token ?? '');
        if (!podsHealthy) {
          gating.add(name);
          this.queue.add(`${GATE}${name}`);
        }
      }
      const pf = this.pendingFailures.get(name);
      return toFleetNode({ node: n, osnode, selection: s, drained, podsHealthy, pendingFailure: pf });
    });
    const policies = oses.map((o) => toPolicy(o));
    let result: PlanResult;
    try {
      result = plan({ nodes: fleetNodes }, policies, nowMs);
    } catch (err) {
      this.log.error({ err }, 'the planner failed; nothing was changed');
      throw err;
    }

    // Group actions by node; add the failures drain and gates found.
    const byNode = new Map<string, Action[]>();
    const push = (a: Action) => {
      let l = byNode.get(a.node);
      if (!l) byNode.set(a.node, (l = []));
      l.push(a);
    };
    for (const a of result.actions) push(a);
    for (const [node, f] of this.pendingFailures) {
      push({ type: 'markFailed', node, policy: f.os, token: f.token, reason: f.reason, message: f.message });
    }
    const conflicted = new Set(result.conflicts.map((c) => c.node));

    const errors: unknown[] = [];
    // Writes that carry planner actions go first; OSNodes that only need creating or following their
    // OSConfigs are written a bounded number per pass, so a fleet-wide change never stalls the rollout.
    const work: Array<() => Promise<void>> = [];
    const background: Array<() => Promise<void>> = [];
    for (const n of nodes) {
      const name = n.metadata.name;
      const actions = byNode.get(name) ?? [];
      const osnode = this.osnodes.get(name);
      const cur = ownedFields(osnode);
      const des = desiredOwnedFields(n, cur, sel.byNode.get(name), conflicted.has(name), actions);
      // The health gate's clock is kept on the OSNode, so a restart does not give a node more time.
      if (gating.has(name) && !actions.some((a) => a.type === 'grant')) des.gateSince ??= now.toISOString();
      const needApply = !cur || !sameJson(cur, des);
      const cordon = actions.some((a) => a.type === 'cordon');
      const uncordon = actions.find((a) => a.type === 'uncordon');
      const drain = actions.some((a) => a.type === 'drain');
      if (!needApply && !cordon && !uncordon && !drain) continue;
      const task = async () => {
        try {
          if (needApply) await this.applyOSNode(n, des, cur, actions);
          if (cordon) await this.cordon(n, actions);
          if (uncordon && uncordon.type === 'uncordon') await this.uncordon(this.nodes.get(name) ?? n, uncordon.reason, uncordon.policy);
          if (drain) this.queue.add(`${DRAIN}${name}`);
        } catch (err) {
          errors.push(err);
        }
      };
      (actions.length > 0 || gating.has(name) ? work : background).push(task);
    }
    const backgroundLimit = BACKGROUND_WRITES_PER_PASS;
    if (background.length > backgroundLimit) this.queue.add(FLEET);
    work.push(...background.slice(0, backgroundLimit));

    // Conflicts: an Event on the OSNode once per conflict.
    for (const c of result.conflicts) {
      if (this.announcedConflicts.has(c.node)) continue;
      this.announcedConflicts.add(c.node);
      this.event(c.node, 'Warning', 'Conflict', `Node ${c.node} is selected by OS ${c.policies.join(' and ')}; osfleet leaves it alone until only one OS selects it.`);
    }
    for (const n of [...this.announcedConflicts]) if (!conflicted.has(n)) this.announcedConflicts.delete(n);

    // Status, metrics and timers.
    const statusWork: Array<() => Promise<void>> = [];
    for (const ps of result.policyStatus) {
      const os = osByName.get(ps.name);
      if (!os) continue;
      const win = windowFacts(os, nowMs);
      const status = buildOSStatus(ps, os.status, os.metadata.generation ?? 0, win, now);
      this.metrics.setNodeStates(ps.name, {
        updated: ps.counts.updated,
        inProgress: ps.counts.inProgress,
        pending: ps.counts.pending,
        failed: ps.counts.failed,
        conflicted: ps.counts.conflicted,
      });
      const paused = ps.conditions.find((c) => c.type === 'Paused' && c.status === 'True');
      this.metrics.setPaused(ps.name, paused ? paused.reason : null);
      if (!sameJson(status, os.status ?? {})) {
        statusWork.push(() => this.writeStatus(OSFLEET_PATHS.os, os, status, this.oses).catch((e) => void errors.push(e)));
      }
      if (ps.soakUntil) this.armTimer(`soak/${ps.name}`, Date.parse(ps.soakUntil), FLEET);
      else this.cancelTimer(`soak/${ps.name}`);
      if (win.changesAt !== undefined) this.armTimer(`window/${ps.name}`, win.changesAt, FLEET);
      else this.cancelTimer(`window/${ps.name}`);
    }
    this.metrics.retainOS(new Set(osByName.keys()));
    // Wall time, not the rollout clock: stuck-phase alerts compare it with Prometheus' time().
    this.metrics.setNodePhases(
      nodes.flatMap((n) => {
        const phase = this.osnodes.get(n.metadata.name)?.status?.phase;
        return phase ? [{ name: n.metadata.name, phase }] : [];
      }),
      Date.now() / 1000,
    );
    for (const cfg of configs) {
      const matched = sel.configNodes.get(cfg.metadata.name) ?? [];
      let applied = 0;
      for (const name of matched) {
        const want = sel.byNode.get(name)?.config?.hash;
        if (want && this.osnodes.get(name)?.status?.appliedConfigHash === want) applied++;
      }
      const status = buildOSConfigStatus(cfg.metadata.generation ?? 0, matched.length, applied, cfg.status, now);
      if (!sameJson(status, cfg.status ?? {})) {
        statusWork.push(() => this.writeStatus(OSFLEET_PATHS.osconfigs, cfg, status, this.configs).catch((e) => void errors.push(e)));
      }
    }

    // A node osfleet rebooted that stays NotReady fails after the planner's health timeout: wake up then.
    for (const n of nodes) {
      const name = n.metadata.name;
      const since = !nodeReady(n) && cordonedByUs(n) ? Date.parse(n.status.conditions?.find((c) => c.type === 'Ready')?.lastTransitionTime ?? '') : NaN;
      if (Number.isFinite(since)) this.armTimer(`health/${name}`, since + DEFAULT_HEALTH_TIMEOUT_MS, FLEET);
      else if (this.timers.has(`health/${name}`)) this.cancelTimer(`health/${name}`);
    }
    return { work, statusWork, errors, nodes: nodes.length };
  }

  private async applyOSNode(n: NodeObj, des: ReturnType<typeof desiredOwnedFields>, cur: ReturnType<typeof ownedFields>, actions: Action[]): Promise<void> {
    if (this.stopped) return;
    const name = n.metadata.name;
    let res: OSNodeObj;
    try {
      res = await this.client.apply<OSNodeObj>(OSNODE(name), applyBody(name, des, API_VERSION), FIELD_MANAGER, true);
    } catch (err) {
      this.metrics.apiErrors.inc({ operation: 'applyOSNode' });
      throw err;
    }
    this.count.apply();
    this.osnodes.observe(res);
    const pf = this.pendingFailures.get(name);
    if (pf && des.failure?.token === pf.token && des.failure.reason === pf.reason) this.pendingFailures.delete(name);
    // One Event per write: a new target and the permit that comes with it are told together.
    const setTarget = actions.find((a) => a.type === 'setTarget');
    const grant = actions.find((a) => a.type === 'grant');
    const newTarget =
      setTarget?.type === 'setTarget' &&
      (cur?.target?.version !== setTarget.target.version || cur?.config?.hash !== setTarget.configHash || cur?.target?.osName !== setTarget.policy);
    const newGrant = grant?.type === 'grant' && cur?.permit?.token !== grant.permit.token;
    const permitText = grant?.type === 'grant' ? `${describePermit(grant.permit)} (token ${grant.permit.token})` : '';
    if (newTarget && setTarget?.type === 'setTarget') {
      const what = `Target ${setTarget.target.version} from OS ${setTarget.policy}${setTarget.configHash ? ` with settings ${setTarget.configHash.slice(0, 19)}…` : ''}`;
      this.event(name, 'Normal', 'TargetSet', newGrant ? `${what}; ${permitText.charAt(0).toLowerCase()}${permitText.slice(1)}.` : `${what}.`, res);
    } else if (newGrant) {
      this.event(name, 'Normal', 'PermitGranted', `${permitText}.`, res);
    }
    for (const a of actions) {
      if (a.type === 'setTarget' || a.type === 'grant' || a.type === 'markFailed') this.metrics.actions.inc({ type: a.type });
      if (a.type === 'markFailed' && cur?.failure?.token !== a.token) {
        this.metrics.nodesFailed.inc({ os: a.policy, reason: a.reason });
        this.event(name, 'Warning', a.reason, `Update failed: ${a.message}.`, res);
        this.log.warn({ node: name, os: a.policy, reason: a.reason }, a.message);
      }
    }
  }

  private async cordon(n: NodeObj, actions: Action[]): Promise<void> {
    if (this.stopped) return;
    const name = n.metadata.name;
    const current = this.nodes.get(name) ?? n;
    if (current.spec.unschedulable) return; // someone else's cordon (or ours, already)
    const at = this.clock.now().toISOString();
    const res = await this.client.patch<NodeObj>(apiPath('v1', 'nodes', { name }), {
      // The resourceVersion makes this fail if someone cordoned the node since we looked.
      metadata: { resourceVersion: current.metadata.resourceVersion, annotations: { [ANNOTATION_CORDONED]: at } },
      spec: { unschedulable: true },
    });
    this.nodes.observe(res);
    this.metrics.actions.inc({ type: 'cordon' });
    const policy = actions.find((a) => a.type === 'cordon')?.policy;
    this.event(name, 'Normal', 'Cordoned', `Cordoned node ${name} to drain and reboot it (OS ${policy}).`);
  }

  private async uncordon(n: NodeObj, reason: string, policy: string | undefined): Promise<void> {
    if (this.stopped) return;
    const name = n.metadata.name;
    if (!cordonedByUs(n)) return; // never release someone else's cordon
    const mark = `/metadata/annotations/${ANNOTATION_CORDONED.replace(/~/g, '~0').replace(/\//g, '~1')}`;
    try {
      // The test makes this fail if our mark changed or went away since we looked.
      const res = await this.client.patch<NodeObj>(
        apiPath('v1', 'nodes', { name }),
        [
          { op: 'test', path: mark, value: n.metadata.annotations?.[ANNOTATION_CORDONED] },
          { op: 'remove', path: mark },
          { op: 'replace', path: '/spec/unschedulable', value: false },
        ],
        CONTENT.jsonPatch,
      );
      this.nodes.observe(res);
    } catch (err) {
      if (isNotFound(err)) return;
      throw err;
    }
    this.drained.delete(name);
    this.drainProgress.delete(name);
    this.gates.delete(name);
    this.cancelTimer(`${DRAIN}${name}`);
    this.cancelTimer(`${GATE}${name}`);
    this.metrics.actions.inc({ type: 'uncordon' });
    this.event(name, 'Normal', 'Uncordoned', `Uncordoned node ${name}: ${uncordonReason(reason)}${policy ? ` (OS ${policy})` : ''}.`);
  }

  private async writeStatus<T extends { metadata: { name: string }; status?: object }>(
    base: string,
    obj: T,
    status: object,
    cache: WatchCache<T & { metadata: { name: string } }>,
  ): Promise<void> {
    if (this.stopped) return;
    try {
      const res = await this.client.patch(`${base}/${encodeURIComponent(obj.metadata.name)}/status`, {
        status: statusPatch(obj.status as Record<string, unknown> | undefined, status as Record<string, unknown>),
      });
      this.count.status();
      cache.observe(res);
    } catch (err) {
      if (isNotFound(err)) return;
      this.metrics.apiErrors.inc({ operation: 'writeStatus' });
      throw err;
    }
  }

  // ---------- drain ----------

  private async reconcileDrain(name: string): Promise<ReconcileResult | void> {
    const node = this.nodes.get(name);
    const cordon = node?.metadata.annotations?.[ANNOTATION_CORDONED];
    if (!node || cordon === undefined) {
      this.drainProgress.delete(name);
      return;
    }
    if (this.drained.get(name) === cordon) return;
    const os = node ? osForNode(node, this.oses.list()) : undefined;
    const policy = drainPolicy(os?.spec.drain);
    let progress = this.drainProgress.get(name);
    if (!progress || progress.cordon !== cordon) {
      progress = { attempts: 0, cordon, nextAt: 0, announced: false };
      this.drainProgress.set(name, progress);
    }
    const wait = progress.nextAt - Date.now();
    if (wait > 0) return { requeueAfterMs: wait };
    const since = cordonedAt(node) ?? this.clock.now().getTime();
    const deadline = since + policy.timeoutMs;
    const nowMs = this.clock.now().getTime();
    const step = await this.drainer.step(name, policy, since, nowMs, progress);
    if (this.stopped) return;
    if (!progress.announced && step.kind !== 'drained') {
      progress.announced = true;
      this.metrics.drains.inc({ result: 'started' });
      this.event(name, 'Normal', 'Draining', `Draining node ${name} through the Eviction API (timeout ${Math.round(policy.timeoutMs / 1000)}s, then ${policy.onTimeout}).`);
    }
    switch (step.kind) {
      case 'drained':
        this.drained.set(name, cordon);
        this.drainProgress.delete(name);
        this.cancelTimer(`${DRAIN}${name}`);
        this.metrics.drains.inc({ result: 'completed' });
        this.event(name, 'Normal', 'Drained', `Node ${name} is drained.`);
        this.queue.add(FLEET);
        return;
      case 'waiting':
        if (step.evicted.length > 0) this.event(name, 'Normal', 'Evicted', `Evicted ${step.evicted.join(', ')}.`);
        if (step.refused.length > 0) {
          this.metrics.evictionsRefused.inc(step.refused.length);
          this.event(name, 'Warning', 'EvictionRefused', `Eviction refused by a PodDisruptionBudget for ${step.refused.join(', ')}; retrying until the drain timeout (${Math.round(policy.timeoutMs / 1000)}s after the cordon).`);
        }
        progress.nextAt = Date.now() + step.retryAfterMs;
        // At the deadline the next step runs whatever the back-off says.
        this.armTimer(`${DRAIN}${name}`, deadline, `${DRAIN}${name}`, () => {
          const p = this.drainProgress.get(name);
          if (p) p.nextAt = 0;
        });
        return { requeueAfterMs: step.retryAfterMs };
      case 'forced':
        if (step.deleted.length > 0) {
          this.metrics.drains.inc({ result: 'forced' });
          this.event(name, 'Warning', 'PodsDeleted', `Drain timed out; drain.onTimeout is force, so osfleet deleted ${step.deleted.join(', ')} without eviction.`);
        }
        progress.nextAt = Date.now() + step.retryAfterMs;
        return { requeueAfterMs: step.retryAfterMs };
      case 'failed': {
        this.metrics.drains.inc({ result: 'failed' });
        const token = this.osnodes.get(name)?.spec?.permit?.token ?? '';
        this.pendingFailures.set(name, { token, reason: step.reason, message: step.message, at: this.clock.now().toISOString(), os: os?.metadata.name ?? '' });
        this.event(name, 'Warning', 'DrainFailed', step.message);
        await this.uncordon(node, 'Failed', os?.metadata.name);
        this.queue.add(FLEET);
        return;
      }
    }
  }

  // ---------- health gates ----------

  private async reconcileGate(name: string): Promise<ReconcileResult | void> {
    const node = this.nodes.get(name);
    const osnode = this.osnodes.get(name);
    const os = node ? osForNode(node, this.oses.list()) : undefined;
    const checks: HealthCheck[] = os?.spec.healthChecks ?? [];
    const token = osnode?.spec?.permit?.token ?? '';
    if (!node || !os || checks.length === 0 || !cordonedByUs(node) || !nodeReady(node) || !isUpdated(osnode?.spec, osnode?.status)) {
      this.gates.delete(name);
      this.cancelTimer(`${GATE}${name}`);
      return;
    }
    const prev = this.gates.get(name);
    if (prev?.ok && prev.token === token) return;
    const pods = await this.drainer.podsOn(name);
    if (this.stopped) return;
    const r = evaluatePodChecks(name, checks, pods);
    if (r.ok) {
      this.gates.set(name, { token, ok: true, message: r.message });
      this.cancelTimer(`${GATE}${name}`);
      this.event(name, 'Normal', 'HealthGatePassed', `Node ${name} runs ${osnode?.spec?.target?.version ?? 'its target'}, is Ready and its health-check pods are Ready.`);
      this.queue.add(FLEET);
      return;
    }
    // The gate's clock starts when the fleet reconcile first saw the node waiting (kept on the OSNode).
    const nowMs = this.clock.now().getTime();
    const recorded = Date.parse(osnode?.metadata.annotations?.[ANNOTATION_GATE_SINCE] ?? '');
    const since = Number.isFinite(recorded) ? recorded : nowMs;
    if (!prev || prev.token !== token) {
      this.gates.set(name, { token, ok: false, message: r.message });
      this.event(name, 'Normal', 'HealthGateWaiting', `Node ${name} is updated; ${r.message} (timeout ${Math.round(r.timeoutMs / 1000)}s).`);
    }
    if (nowMs - since >= r.timeoutMs) {
      const message = `health gate failed on ${name}: ${r.message.replace(/^waiting for/, 'still waiting for')} after ${Math.round(r.timeoutMs / 1000)}s`;
      this.pendingFailures.set(name, { token, reason: 'HealthCheckFailed', message, at: new Date(nowMs).toISOString(), os: os.metadata.name });
      this.gates.delete(name);
      this.cancelTimer(`${GATE}${name}`);
      this.queue.add(FLEET);
      return;
    }
    this.armTimer(`${GATE}${name}`, since + r.timeoutMs, `${GATE}${name}`);
    return { requeueAfterMs: 1000 };
  }

  // ---------- events ----------

  private event(node: string, type: EventType, reason: string, message: string, osnode?: OSNodeObj): void {
    const o = osnode ?? this.osnodes.get(node);
    this.events.record({ apiVersion: API_VERSION, kind: 'OSNode', name: node, uid: o?.metadata.uid }, type, reason, message);
  }
}

function describePermit(p: Permit): string {
  const may = [p.stage && 'stage the image', p.applySettings && 'apply settings', p.reboot && 'reboot'].filter(Boolean) as string[];
  return may.length === 0 ? 'Permit cleared: the agent may do nothing now' : `The agent may ${may.join(', ')}`;
}

function uncordonReason(reason: string): string {
  switch (reason) {
    case 'Updated':
      return 'it runs its target and passed the health gates';
    case 'Failed':
      return 'its update failed (see the previous Events)';
    case 'Halted':
      return 'the rollout is halted';
    case 'Paused':
      return 'the rollout is paused';
    case 'NotStarted':
      return 'releasing a cordon left from an earlier rollout';
    case 'NotManaged':
      return 'no single OS selects the node any more';
    default:
      return reason;
  }
}

async function runLimited(tasks: Array<() => Promise<void>>, limit: number): Promise<void> {
  let i = 0;
  const worker = async () => {
    while (i < tasks.length) {
      const t = tasks[i++]!;
      await t();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
}

