// Owns the controller's Prometheus registry and every metric it exports.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export type WebhookResult =
  | 'accepted'
  | 'suspended'
  | 'bad_signature'
  | 'missing_signature'
  | 'replayed'
  | 'too_large'
  | 'not_found'
  | 'method_not_allowed'
  | 'error';

export class ControllerMetrics {
  readonly registry = new Registry();
  readonly fetchDuration: Histogram<'fleetsource' | 'result'>;
  readonly appliedRevision: Gauge<'fleetsource' | 'revision'>;
  readonly objectsApplied: Counter<'fleetsource'>;
  readonly objectsPruned: Counter<'fleetsource'>;
  readonly reconcileErrors: Counter<'fleetsource' | 'reason'>;
  readonly reconcileDuration: Histogram<'fleetsource'>;
  readonly webhookRequests: Counter<'result'>;
  readonly apiWrites: Counter<'verb' | 'kind'>;
  readonly isLeader: Gauge;
  readonly fleetSourceReady: Gauge<'fleetsource'>;
  readonly fleetSourceSuspended: Gauge<'fleetsource'>;
  readonly fleetSourceLastFetch: Gauge<'fleetsource'>;
  readonly fleetSourceInterval: Gauge<'fleetsource'>;
  readonly fleetSourceNextReconcile: Gauge<'fleetsource'>;
  readonly reconcilesPending: Gauge<'fleetsource'>;
  private readonly revisions = new Map<string, string>();

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    if (opts.defaultMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'osfleet_controller_' });
    this.fetchDuration = new Histogram({
      name: 'osfleet_git_fetch_duration_seconds',
      help: 'Time to check the remote and fetch a FleetSource, by result (unchanged, fetched, or a failure reason).',
      labelNames: ['fleetsource', 'result'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.appliedRevision = new Gauge({
      name: 'osfleet_applied_revision_info',
      help: 'The revision currently applied from each FleetSource (value is always 1).',
      labelNames: ['fleetsource', 'revision'],
      registers,
    });
    this.objectsApplied = new Counter({
      name: 'osfleet_objects_applied_total',
      help: 'Objects written with server-side apply (unchanged objects are not counted: they are not written).',
      labelNames: ['fleetsource'],
      registers,
    });
    this.objectsPruned = new Counter({
      name: 'osfleet_objects_pruned_total',
      help: 'Objects deleted because the applied revision no longer renders them.',
      labelNames: ['fleetsource'],
      registers,
    });
    this.reconcileErrors = new Counter({
      name: 'osfleet_reconcile_errors_total',
      help: 'FleetSource reconciles that ended in a failure, by condition reason.',
      labelNames: ['fleetsource', 'reason'],
      registers,
    });
    this.reconcileDuration = new Histogram({
      name: 'osfleet_reconcile_duration_seconds',
      help: 'Duration of a FleetSource reconcile (fetch, render, apply, prune, status).',
      labelNames: ['fleetsource'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.webhookRequests = new Counter({
      name: 'osfleet_webhook_requests_total',
      help: 'Webhook requests by result; anything but "accepted" fetched nothing.',
      labelNames: ['result'],
      registers,
    });
    this.apiWrites = new Counter({
      name: 'osfleet_api_writes_total',
      help: 'Writes the controller sent to the Kubernetes API, by verb and kind.',
      labelNames: ['verb', 'kind'],
      registers,
    });
    this.isLeader = new Gauge({
      name: 'osfleet_leader',
      help: '1 while this controller process holds the leader Lease.',
      registers,
    });
    this.fleetSourceReady = new Gauge({
      name: 'osfleet_fleetsource_ready',
      help: "1 while the FleetSource's Ready condition is True, 0 otherwise (set by the leader).",
      labelNames: ['fleetsource'],
      registers,
    });
    this.fleetSourceSuspended = new Gauge({
      name: 'osfleet_fleetsource_suspended',
      help: '1 while the FleetSource has spec.suspend: true (not fetched on purpose).',
      labelNames: ['fleetsource'],
      registers,
    });
    this.fleetSourceLastFetch = new Gauge({
      name: 'osfleet_fleetsource_last_fetch_timestamp_seconds',
      help: 'Unix time of the last successful check of the remote (fetched, unchanged or cached).',
      labelNames: ['fleetsource'],
      registers,
    });
    this.fleetSourceInterval = new Gauge({
      name: 'osfleet_fleetsource_interval_seconds',
      help: "The FleetSource's polling interval (spec.interval, or the controller default).",
      labelNames: ['fleetsource'],
      registers,
    });
    this.fleetSourceNextReconcile = new Gauge({
      name: 'osfleet_fleetsource_next_reconcile_timestamp_seconds',
      help: 'Unix time of the next poll or retry this replica has scheduled; 0 when none is (suspended, or not leading).',
      labelNames: ['fleetsource'],
      registers,
    });
    this.reconcilesPending = new Gauge({
      name: 'osfleet_reconciles_pending',
      help: "The FleetSource's reconciles queued or running on this replica (0, 1 or 2: one queued behind one running).",
      labelNames: ['fleetsource'],
      registers,
    });
  }

  setFleetSourceState(fleetsource: string, state: { ready: boolean; suspended: boolean }): void {
    this.fleetSourceReady.set({ fleetsource }, state.ready ? 1 : 0);
    this.fleetSourceSuspended.set({ fleetsource }, state.suspended ? 1 : 0);
  }

  setAppliedRevision(fleetsource: string, revision: string): void {
    const old = this.revisions.get(fleetsource);
    if (old === revision) return;
    if (old !== undefined) this.appliedRevision.remove({ fleetsource, revision: old });
    this.appliedRevision.set({ fleetsource, revision }, 1);
    this.revisions.set(fleetsource, revision);
  }

  forget(fleetsource: string): void {
    const old = this.revisions.get(fleetsource);
    if (old !== undefined) this.appliedRevision.remove({ fleetsource, revision: old });
    this.revisions.delete(fleetsource);
    for (const g of [this.fleetSourceReady, this.fleetSourceSuspended, this.fleetSourceLastFetch, this.fleetSourceInterval, this.fleetSourceNextReconcile, this.reconcilesPending]) g.remove({ fleetsource });
  }
}
