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
  private readonly knownOS = new Set<string>();

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
    }
  }
}
