// Prometheus metrics of the rollout executor, registered on the registry the controller passes in.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** A restarted executor on the same registry gets the metrics registered the first time. */
function reuse<M>(registry: Registry, name: string, make: () => M): M {
  return (registry.getSingleMetric(name) as M | undefined) ?? make();
}

export const NODE_STATES = ['updated', 'inProgress', 'pending', 'failed', 'conflicted'] as const;

export class RolloutMetrics {
  readonly nodes: Gauge<'os' | 'state'>;
  readonly drains: Counter<'result'>;
  readonly evictionsRefused: Counter;
  readonly nodesFailed: Counter<'os' | 'reason'>;
  readonly actions: Counter<'type'>;
  readonly reconcileDuration: Histogram;
  readonly apiErrors: Counter<'operation'>;
  readonly paused: Gauge<'os' | 'reason'>;
  readonly phaseSince: Gauge<'node' | 'phase'>;
  private readonly knownOS = new Set<string>();
  private readonly pausedReason = new Map<string, string>();
  private readonly phases = new Map<string, { phase: string; since: number }>();

  constructor(registry: Registry) {
    const registers = [registry];
    this.nodes = reuse(registry, 'osfleet_rollout_nodes', () => new Gauge({
      name: 'osfleet_rollout_nodes',
      help: 'Nodes selected by each OS, by rollout state (updated, inProgress, pending, failed, conflicted).',
      labelNames: ['os', 'state'],
      registers,
    }));
    this.drains = reuse(registry, 'osfleet_rollout_drains_total', () => new Counter({
      name: 'osfleet_rollout_drains_total',
      help: 'Node drains by outcome: started, completed, failed, forced.',
      labelNames: ['result'],
      registers,
    }));
    this.evictionsRefused = reuse(registry, 'osfleet_rollout_evictions_refused_total', () => new Counter({
      name: 'osfleet_rollout_evictions_refused_total',
      help: 'Evictions the API server refused because of a PodDisruptionBudget (HTTP 429).',
      registers,
    }));
    this.nodesFailed = reuse(registry, 'osfleet_rollout_nodes_failed_total', () => new Counter({
      name: 'osfleet_rollout_nodes_failed_total',
      help: 'Nodes marked failed by the controller, by OS and reason.',
      labelNames: ['os', 'reason'],
      registers,
    }));
    this.actions = reuse(registry, 'osfleet_rollout_actions_total', () => new Counter({
      name: 'osfleet_rollout_actions_total',
      help: 'Planner actions carried out, by type.',
      labelNames: ['type'],
      registers,
    }));
    this.reconcileDuration = reuse(registry, 'osfleet_rollout_reconcile_duration_seconds', () => new Histogram({
      name: 'osfleet_rollout_reconcile_duration_seconds',
      help: 'Time to plan the fleet and write the differences.',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }));
    this.apiErrors = reuse(registry, 'osfleet_rollout_api_errors_total', () => new Counter({
      name: 'osfleet_rollout_api_errors_total',
      help: 'Failed API calls of the rollout executor, by operation.',
      labelNames: ['operation'],
      registers,
    }));
    this.paused = reuse(registry, 'osfleet_rollout_paused', () => new Gauge({
      name: 'osfleet_rollout_paused',
      help: "1 while an OS's rollout is paused or halted, with the Paused condition's reason (FailureBudgetReached, CanaryFailed, PausedByUser).",
      labelNames: ['os', 'reason'],
      registers,
    }));
    this.phaseSince = reuse(registry, 'osfleet_osnode_phase_since_timestamp_seconds', () => new Gauge({
      name: 'osfleet_osnode_phase_since_timestamp_seconds',
      help: 'Unix time since which the controller has seen each OSNode in the phase it reports (not for Idle and Done).',
      labelNames: ['node', 'phase'],
      registers,
    }));
  }

  /** `reason`: the Paused condition's reason while it is True (FailureBudgetReached, CanaryFailed, PausedByUser), else null. */
  setPaused(os: string, reason: string | null): void {
    const old = this.pausedReason.get(os);
    if (old === (reason ?? undefined)) return;
    if (old !== undefined) this.paused.remove({ os, reason: old });
    if (reason === null) this.pausedReason.delete(os);
    else {
      this.paused.set({ os, reason }, 1);
      this.pausedReason.set(os, reason);
      this.knownOS.add(os);
    }
  }

  /**
   * The phase each busy OSNode reports and since when this process has seen it in that phase (Unix
   * seconds). A controller restart resets "since": a stuck alert then fires later, never falsely.
   */
  setNodePhases(nodes: Iterable<{ name: string; phase: string }>, nowSeconds: number): void {
    const seen = new Set<string>();
    for (const { name, phase } of nodes) {
      // Idle and Done are where most nodes rest: no series for them keeps a large fleet's scrape small.
      if (phase === 'Idle' || phase === 'Done') continue;
      seen.add(name);
      const old = this.phases.get(name);
      if (old?.phase === phase) continue;
      if (old) this.phaseSince.remove({ node: name, phase: old.phase });
      this.phases.set(name, { phase, since: nowSeconds });
      this.phaseSince.set({ node: name, phase }, nowSeconds);
    }
    for (const [name, old] of this.phases) {
      if (seen.has(name)) continue;
      this.phaseSince.remove({ node: name, phase: old.phase });
      this.phases.delete(name);
    }
  }

  setNodeStates(os: string, counts: Record<(typeof NODE_STATES)[number], number>): void {
    this.knownOS.add(os);
    for (const s of NODE_STATES) this.nodes.set({ os, state: s }, counts[s]);
  }

  /** Drops the series of OS objects that no longer exist. */
  retainOS(names: ReadonlySet<string>): void {
    for (const os of [...this.knownOS]) {
      if (names.has(os)) continue;
      for (const s of NODE_STATES) this.nodes.remove({ os, state: s });
      this.knownOS.delete(os);
      this.setPaused(os, null);
    }
  }
}
