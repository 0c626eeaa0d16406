// Owns leader election on a coordination.k8s.io/v1 Lease, with client-go's semantics:
// a candidate takes the Lease only when its record has not changed for a full lease
// duration (measured on the candidate's own clock, so clock skew between hosts does not
// matter), every write carries the resourceVersion it read (optimistic concurrency), and a
// leader that cannot renew within the renew deadline stops leading before anyone else may start.
import type { KubeConfig, V1Lease } from '@kubernetes/client-node';
import { CoordinationV1Api, V1MicroTime } from '../api/client-node.js';
import type { Logger } from 'pino';

export interface LeaderElectionOptions {
  kc: KubeConfig;
  namespace: string;
  name: string;
  /** Unique per process, e.g. `<pod name>_<random>`. */
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  onStartedLeading: () => void;
  onStoppedLeading: () => void;
  onNewLeader?: (identity: string) => void;
  logger?: Logger;
  /** Injectable monotonic clock in milliseconds. */
  now?: () => number;
}

export const DEFAULT_LEASE_DURATION_MS = 15_000;
export const DEFAULT_RENEW_DEADLINE_MS = 10_000;
export const DEFAULT_RETRY_PERIOD_MS = 2_000;

interface Observed {
  holder: string;
  renewTime: string;
  leaseDurationSeconds: number;
  /** Local time at which this record was first seen. */
  at: number;
}

export class LeaderElector {
  private readonly api: CoordinationV1Api;
  private readonly leaseMs: number;
  private readonly renewMs: number;
  private readonly retryMs: number;
  private readonly now: () => number;
  private observed: Observed | undefined;
  private lastLease: V1Lease | undefined;
  private leading = false;
  private stopped = false;
  private wake: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  private lastLeader = '';

  constructor(private readonly opts: LeaderElectionOptions) {
    this.api = opts.kc.makeApiClient(CoordinationV1Api);
    this.leaseMs = opts.leaseDurationMs ?? DEFAULT_LEASE_DURATION_MS;
    this.renewMs = opts.renewDeadlineMs ?? DEFAULT_RENEW_DEADLINE_MS;
    this.retryMs = opts.retryPeriodMs ?? DEFAULT_RETRY_PERIOD_MS;
    this.now = opts.now ?? (() => performance.now());
    if (!(this.leaseMs > this.renewMs && this.renewMs > this.retryMs * 1.2)) {
      throw new Error(
        `leader election needs lease duration > renew deadline > 1.2 × retry period (got ${this.leaseMs} ms, ${this.renewMs} ms, ${this.retryMs} ms)`,
      );
    }
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /** The timings in effect (options or client-go's defaults). */
  get timings(): { leaseDurationMs: number; renewDeadlineMs: number; retryPeriodMs: number } {
    return { leaseDurationMs: this.leaseMs, renewDeadlineMs: this.renewMs, retryPeriodMs: this.retryMs };
  }

  /** Starts campaigning in the background; leads, loses, and campaigns again until stop(). */
  start(): void {
    if (this.loop) return;
    this.loop = this.run().catch((err: unknown) => {
      this.opts.logger?.error({ err }, 'leader election loop crashed');
    });
  }

  /** Stops campaigning; a leader gives the Lease up so another process can take over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loop;
    if (this.leading) {
      this.leading = false;
      this.opts.onStoppedLeading();
    }
    await this.release();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      // Campaign.
      while (!this.stopped && !(await this.tryAcquireOrRenew())) {
        await this.sleep(jitter(this.retryMs));
      }
      if (this.stopped) return;
      this.leading = true;
      this.opts.logger?.info({ lease: `${this.opts.namespace}/${this.opts.name}`, identity: this.opts.identity }, 'became leader');
      this.opts.onStartedLeading();
      // Renew until a renew deadline passes without a successful renewal.
      let lastRenew = this.now();
      while (!this.stopped) {
        await this.sleep(Math.min(this.retryMs, Math.max(0, lastRenew + this.renewMs - this.now())));
        if (this.stopped) break;
        // Every renewal is bounded by what is left of the renew deadline, as in client-go: a call
        // that hangs (a half-open connection, a stalled apiserver) must not keep this process
        // leading past the point where another replica may take the Lease over.
        const left = lastRenew + this.renewMs - this.now();
        if (left <= 0) break;
        if (await withDeadline(this.tryAcquireOrRenew(), left)) {
          lastRenew = this.now();
        } else if (this.now() - lastRenew >= this.renewMs) {
          break;
        }
      }
      if (this.stopped) return;
      this.leading = false;
      this.opts.logger?.warn({ lease: `${this.opts.namespace}/${this.opts.name}` }, 'lost leadership: could not renew the Lease within the renew deadline');
      this.opts.onStoppedLeading();
    }
  }

  /** One attempt; true when this process holds the Lease afterwards. Never throws. */
  async tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, name, identity } = this.opts;
    const nowDate = new V1MicroTime(Date.now());
    let lease: V1Lease;
    try {
      lease = await this.api.readNamespacedLease({ name, namespace });
    } catch (err) {
      if (statusOf(err) !== 404) {
        this.opts.logger?.warn({ err: message(err) }, 'reading the leader Lease failed');
        return false;
      }
      try {
        this.lastLease = await this.api.createNamespacedLease({
          namespace,
          body: {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: { name, namespace },
            spec: {
              holderIdentity: identity,
              leaseDurationSeconds: Math.ceil(this.leaseMs / 1000),
              acquireTime: nowDate,
              renewTime: nowDate,
              leaseTransitions: 0,
            },
          },
        });
        this.observe(this.lastLease);
        return true;
      } catch (createErr) {
        if (statusOf(createErr) !== 409) this.opts.logger?.warn({ err: message(createErr) }, 'creating the leader Lease failed');
        return false;
      }
    }
    this.observe(lease);
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    const iHold = holder === identity;
    if (!iHold && holder !== '' && this.observed && this.now() - this.observed.at < this.observed.leaseDurationSeconds * 1000) {
      return false;
    }
    const body: V1Lease = {
      ...lease,
      spec: {
        ...spec,
        holderIdentity: identity,
        leaseDurationSeconds: Math.ceil(this.leaseMs / 1000),
        renewTime: nowDate,
        acquireTime: iHold ? spec.acquireTime : nowDate,
        leaseTransitions: iHold ? (spec.leaseTransitions ?? 0) : (spec.leaseTransitions ?? 0) + 1,
      },
    };
    try {
      // metadata.resourceVersion from the read makes this a compare-and-swap: a racing candidate gets 409.
      this.lastLease = await this.api.replaceNamespacedLease({ name, namespace, body });
      this.observe(this.lastLease);
      return true;
    } catch (err) {
      if (statusOf(err) !== 409) this.opts.logger?.warn({ err: message(err) }, 'updating the leader Lease failed');
      return false;
    }
  }

  /** Gives the Lease up (empty holder, 1 s duration) if this process still holds it. */
  private async release(): Promise<void> {
    const { namespace, name, identity } = this.opts;
    try {
      const lease = await this.api.readNamespacedLease({ name, namespace });
      if (lease.spec?.holderIdentity !== identity) return;
      const t = new V1MicroTime(Date.now());
      await this.api.replaceNamespacedLease({
        name,
        namespace,
        body: { ...lease, spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: t, acquireTime: t } },
      });
      this.opts.logger?.info({ lease: `${namespace}/${name}` }, 'released the leader Lease');
    } catch (err) {
      this.opts.logger?.warn({ err: message(err) }, 'releasing the leader Lease failed; another process takes over when it expires');
    }
  }

  private observe(lease: V1Lease): void {
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    const renewTime = spec.renewTime ? new Date(spec.renewTime as unknown as string).toISOString() : '';
    if (!this.observed || this.observed.holder !== holder || this.observed.renewTime !== renewTime) {
      this.observed = { holder, renewTime, leaseDurationSeconds: spec.leaseDurationSeconds ?? 15, at: this.now() };
    }
    if (holder !== this.lastLeader) {
      this.lastLeader = holder;
      if (holder) this.opts.onNewLeader?.(holder);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done(): void {
        clearTimeout(t);
        resolve();
      }
      this.wake = done;
    });
  }
}

function jitter(ms: number): number {
  return ms * (1 + Math.random() * 0.2);
}

export function statusOf(err: unknown): number | undefined {
  const e = err as { code?: unknown; statusCode?: unknown; response?: { statusCode?: unknown } };
  if (typeof e?.code === 'number') return e.code;
  if (typeof e?.statusCode === 'number') return e.statusCode;
  return undefined;
}

function message(err: unknown): string {
  const e = err as { body?: unknown; message?: string };
  if (typeof e?.body === 'string') {
    try {
      return (JSON.parse(e.body) as { message?: string }).message ?? e.body;
    } catch {
      return e.body;
    }
  }
  return e?.message ?? String(err);
}

/** The call's result, or false once `ms` have passed (the call is left to finish on its own; its result is ignored). */
function withDeadline(call: Promise<boolean>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  return Promise.race([call, expired]).finally(() => clearTimeout(timer));
}
