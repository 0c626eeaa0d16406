// Owns the FleetSource reconcile loop: level-triggered, one run at a time per FleetSource,
// fetch → render → apply → prune joined by the revision, status and Events as the only output.
// A revision that fails validation changes nothing in the cluster. Watches (kube/watch-cache.ts)
// feed one keyed work queue (kube/work-queue.ts), like the rollout executor's.
import type { KubeConfig, KubernetesObject, V1Secret } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import {
  ANNOTATION_FETCH_REQUESTED,
  API_VERSION,
  GROUP,
  LABEL_FLEETSOURCE,
  LABEL_MANAGED_BY,
  MANAGED_BY_VALUE,
  VERSION,
  type FleetSourceSpec,
  type FleetSourceStatus,
  type InventoryEntry,
} from '../api/index.js';
import { conditionChanged, findCondition, setCondition, type ConditionInput } from '../api/conditions.js';
import { formatDiagnostic, type Diagnostic } from '../render/diagnostics.js';
import type { LoadResult } from '../render/load.js';
import { Applier, canonicalJson, formatRef, refKey, type LiveObjects } from './apply.js';
import { parseDuration } from '../api/duration.js';
import { GitSource, GitSourceError, type GitCredentials, type RemoteRevision } from './git-source.js';
import type { ControllerMetrics } from './metrics.js';
import type { RepositoryLimits } from './repository-limits.js';
import { assertSecretAllows, assertUrlSafe, assertWebhookSecretStrong, SourceTrustError } from './source-trust.js';
import type { TriggerOutcome } from './webhook.js';
import { apiPath, CONTENT, isNotFound, KubeClient } from './kube/client.js';
import { WatchCache, type ObjectMeta } from './kube/watch-cache.js';
import { WorkQueue } from './kube/work-queue.js';
import { EventRecorder } from './kube/events.js';

/** A FleetSource as the API server sends it. */
export interface FleetSource {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta & { generation?: number; annotations?: Record<string, string> };
  spec?: FleetSourceSpec;
  status?: FleetSourceStatus;
}

type Watched<T> = T & { metadata: ObjectMeta };

export interface RenderOutput {
  objects: KubernetesObject[];
  errors: Diagnostic[];
  warnings: Diagnostic[];
}

/** The foundation renderer's entry point: repository files of one revision → cluster objects. */
export type Renderer = (source: LoadResult, opts: { revision: string }) => RenderOutput | Promise<RenderOutput>;

export interface ReconcilerOptions {
  kc: KubeConfig;
  /** Namespace of the Secrets that FleetSources reference (the controller's namespace). */
  namespace: string;
  cacheDir: string;
  /** How much of a repository the controller holds (default DEFAULT_REPOSITORY_LIMITS). */
  repositoryLimits?: Partial<RepositoryLimits>;
  render: Renderer;
  metrics: ControllerMetrics;
  logger: Logger;
  identity?: string;
  defaultIntervalMs?: number;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  now?: () => Date;
}

type Reason = 'poll' | 'spec' | 'webhook' | 'secret' | 'drift' | 'leader';

/** Kinds the renderer produces; their live objects are watched (osfleet-managed ones only). */
const MANAGED_KINDS = [
  { kind: 'OS', plural: 'oses' },
  { kind: 'OSConfig', plural: 'osconfigs' },
] as const;

export const CONDITION_READY = 'Ready';
export const CONDITION_FETCHED = 'Fetched';
export const CONDITION_APPLIED = 'Applied';
export const REASON_SUSPENDED = 'Suspended';

const MAX_ERRORS_IN_MESSAGE = 3;

export const DEFAULT_BACKOFF_BASE_MS = 2000;
export const DEFAULT_BACKOFF_MAX_MS = 5 * 60_000;

/**
 * How long to wait after the `failures`-th failure in a row (1 = the first) before trying again:
 * base, 2·base, 4·base, … capped at max.
 */
export function backoffDelayMs(failures: number, baseMs = DEFAULT_BACKOFF_BASE_MS, maxMs = DEFAULT_BACKOFF_MAX_MS): number {
  const n = Math.max(1, Math.floor(failures));
  // 2 ** n overflows to Infinity for large n, which Math.min turns into the cap.
  return Math.min(maxMs, baseMs * 2 ** (n - 1));
}

export class FleetSourceReconciler {
  private readonly applier: Applier;
  private readonly log: Logger;
  private readonly client: KubeClient;
  /** Events about FleetSources, written in the background; repeats within ten minutes bump a count. */
  private readonly events: EventRecorder;
  private readonly fleetSources: WatchCache<FleetSource>;
  private readonly secrets: WatchCache<Watched<V1Secret>>;
  private readonly managed = new Map<string, WatchCache<Watched<KubernetesObject>>>();
  private queue: WorkQueue;
  private leading = false;
  private started = false;
  /** Why each queued FleetSource is queued (a drift-only run may skip the git round trip). */
  private readonly pending = new Map<string, Set<Reason>>();
  private readonly running = new Set<Promise<void>>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /** FleetSources whose reconcile is running (the queue runs one at a time per name). */
  private readonly runningNames = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly sources = new Map<string, { key: string; src: GitSource }>();
  /** Status this process last wrote, newer than the informer's copy until the watch catches up. */
  private readonly written = new Map<string, { generation: number | undefined; status: FleetSourceStatus }>();
  /** The fetch-requested annotation of each FleetSource as last seen: a change is a forwarded webhook. */
  private readonly fetchRequests = new Map<string, string | undefined>();
  private readonly now: () => Date;

  constructor(private readonly opts: ReconcilerOptions) {
    this.applier = new Applier({ kc: opts.kc, logger: opts.logger, metrics: opts.metrics });
    this.log = opts.logger.child({ component: 'fleetsource-reconciler' });
    this.now = opts.now ?? (() => new Date());
    this.client = new KubeClient(opts.kc, { maxSockets: 4 });
    this.events = new EventRecorder({ client: this.client, logger: this.log, component: 'osfleet-controller', concurrency: 2 });
    const common = { kubeConfig: opts.kc, client: this.client, logger: this.log };
    this.fleetSources = new WatchCache<FleetSource>({ ...common, path: `/apis/${GROUP}/${VERSION}/fleetsources`, name: 'fleetsources' });
    this.secrets = new WatchCache<Watched<V1Secret>>({ ...common, path: `/api/v1/namespaces/${opts.namespace}/secrets`, name: 'secrets' });
    for (const k of MANAGED_KINDS) {
      // The applier reads managedFields (who changed a field by hand): keep them.
      const cache = new WatchCache<Watched<KubernetesObject>>({
        ...common,
        path: `/apis/${GROUP}/${VERSION}/${k.plural}`,
        labelSelector: `${LABEL_MANAGED_BY}=${MANAGED_BY_VALUE}`,
        transform: (raw) => raw as Watched<KubernetesObject>,
        name: k.plural,
      });
      this.managed.set(k.kind, cache);
    }
    this.queue = this.newQueue();
    this.route();
  }

  /** What each watched change asks for. */
  private route(): void {
    this.fleetSources.onChange((type, fs) => {
      const name = fs.metadata.name;
      if (type === 'delete') return this.forget(name);
      const requested = fs.metadata.annotations?.[ANNOTATION_FETCH_REQUESTED];
      if (type === 'add') {
        this.fetchRequests.set(name, requested);
        return this.enqueue(name, 'spec');
      }
      // Our own status writes come back as updates: only a spec change (generation) is news, or a
      // webhook another replica received and handed on through the annotation.
      if (requested !== undefined && requested !== this.fetchRequests.get(name)) {
        this.fetchRequests.set(name, requested);
        this.enqueue(name, 'webhook');
      }
      const seen = this.written.get(name);
      if (!seen || seen.generation !== fs.metadata.generation) this.enqueue(name, 'spec');
    });
    this.secrets.onChange((type, s) => {
      if (type === 'delete') return;
      for (const fs of this.fleetSources.values()) {
        if (fs.spec?.secretRef?.name === s.metadata.name || fs.spec?.webhookSecretRef?.name === s.metadata.name) {
          this.enqueue(fs.metadata.name, 'secret');
        }
      }
    });
    for (const cache of this.managed.values()) {
      // Someone changed or deleted an object we manage: reconcile its FleetSource (no git round trip).
      cache.onChange((type, o) => {
        if (type === 'add') return;
        const owner = o.metadata.labels?.[LABEL_FLEETSOURCE];
        if (owner) this.enqueue(owner, 'drift');
      });
    }
  }

  /** One reconcile at a time per FleetSource; a key queued while it runs runs again afterwards. */
  private newQueue(): WorkQueue {
    return new WorkQueue((name) => this.process(name), { concurrency: 4 });
  }

  /** Starts the watches (FleetSources, the Secrets of the namespace, managed objects); resolves once each has listed. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    await Promise.all([this.fleetSources.start(), this.secrets.start(), ...[...this.managed.values()].map((c) => c.start())]);
  }

  /** Stops watches and timers; waits (bounded) for reconciles in flight. */
  async stop(timeoutMs = 3000): Promise<void> {
    this.leading = false;
    this.started = false;
    this.clearTimers();
    this.pending.clear();
    this.countPending();
    this.queue.stop();
    this.queue = this.newQueue(); // a stopped queue stays stopped; a later start() gets this one
    for (const c of [this.fleetSources, this.secrets, ...this.managed.values()]) c.stop();
    await Promise.race([Promise.allSettled([...this.running]), new Promise((r) => setTimeout(r, timeoutMs).unref())]);
    // Events still queued get a short moment to land before the connections close.
    await Promise.race([this.events.flush(), new Promise((r) => setTimeout(r, 1000).unref())]);
    if (this.events.pending > 0) this.log.warn({ pending: this.events.pending }, 'Events still being written at shutdown');
    this.client.close();
  }

  /** Leader election drives this: only the leader reconciles. */
  setLeader(leading: boolean): void {
    if (leading === this.leading) return;
    this.leading = leading;
    if (leading) {
      this.written.clear(); // another leader may have written status since
      for (const fs of this.fleetSources.values()) this.enqueue(fs.metadata.name, 'leader');
    } else {
      this.clearTimers();
      this.pending.clear();
      this.countPending();
    }
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /**
   * A valid webhook for `name`. The leader fetches at once; a replica that does not lead hands the
   * request on by annotating the FleetSource (the leader watches it), so no hook is lost to the
   * Service sending it to the other replica.
   */
  async trigger(name: string): Promise<TriggerOutcome> {
    if (this.fleetSources.get(name)?.spec?.suspend) return 'suspended';
    if (this.leading) {
      this.enqueue(name, 'webhook');
      return 'queued';
    }
    this.opts.metrics.apiWrites.inc({ verb: 'patch', kind: 'FleetSource' });
    await this.client.request('PATCH', apiPath(API_VERSION, 'fleetsources', { name }), {
      body: { metadata: { annotations: { [ANNOTATION_FETCH_REQUESTED]: this.now().toISOString() } } },
      contentType: CONTENT.merge,
    });
    return 'forwarded';
  }

  /** The webhook secret of a FleetSource (Secret key `token`), undefined if it has none. */
  async webhookSecret(name: string): Promise<string | undefined> {
    const fs = this.fleetSources.get(name);
    const ref = fs?.spec?.webhookSecretRef?.name;
    if (!ref) return undefined;
    const secret = await this.readSecret(ref);
    if (!secret) return undefined;
    // A Secret that does not name this FleetSource, or a guessable token, is no webhook secret (status says why).
    try {
      return this.webhookToken(name, ref, secret);
    } catch {
      return undefined;
    }
  }

  /** Resolves when nothing is queued or running (tests and benchmarks). */
  async idle(): Promise<void> {
    while (this.queue.busy || this.running.size > 0) {
      await this.queue.idle();
      await Promise.allSettled([...this.running]);
      await new Promise((r) => setImmediate(r));
    }
  }

  // --- queue -------------------------------------------------------------------------------

  private enqueue(name: string, reason: Reason): void {
    if (!this.leading) return;
    const set = this.pending.get(name) ?? new Set<Reason>();
    set.add(reason);
    this.pending.set(name, set);
    this.queue.add(name);
    this.countPending(name);
  }

  /** Queued plus running, for osfleet_reconciles_pending: tests and operators see when a replica has caught up. */
  private countPending(name?: string): void {
    const names = name === undefined ? new Set([...this.fleetSources.values()].map((f) => f.metadata.name)) : [name];
    for (const n of names) {
      if (!this.fleetSources.get(n)) continue;
      this.opts.metrics.reconcilesPending.set({ fleetsource: n }, (this.pending.has(n) ? 1 : 0) + (this.runningNames.has(n) ? 1 : 0));
    }
  }

  /** The queue's worker: a crash is logged, counted and retried with this FleetSource's back-off. */
  private async process(name: string): Promise<void> {
    const reasons = this.pending.get(name);
    this.pending.delete(name);
    if (!reasons || !this.leading) {
      this.countPending(name);
      return;
    }
    const p = this.reconcile(name, reasons).catch((err: unknown) => {
      this.log.error({ err, fleetsource: name }, 'reconcile crashed');
      this.opts.metrics.reconcileErrors.inc({ fleetsource: name, reason: 'InternalError' });
      this.schedule(name, this.backoff(name));
    });
    this.running.add(p);
    this.runningNames.add(name);
    this.countPending(name);
    try {
      await p;
    } finally {
      this.running.delete(p);
      this.runningNames.delete(name);
      this.countPending(name);
    }
  }

  private schedule(name: string, delayMs: number): void {
    this.clearTimer(name);
    if (!this.leading) return;
    const t = setTimeout(() => {
      this.timers.delete(name);
      this.opts.metrics.fleetSourceNextReconcile.set({ fleetsource: name }, 0);
      this.enqueue(name, 'poll');
    }, delayMs);
    t.unref();
    this.timers.set(name, t);
    this.opts.metrics.fleetSourceNextReconcile.set({ fleetsource: name }, (Date.now() + delayMs) / 1000);
  }

  private clearTimer(name: string): void {
    const t = this.timers.get(name);
    if (t) clearTimeout(t);
    this.timers.delete(name);
    this.opts.metrics.fleetSourceNextReconcile.set({ fleetsource: name }, 0);
  }

  private clearTimers(): void {
    for (const name of [...this.timers.keys()]) this.clearTimer(name);
  }

  private backoff(name: string): number {
    const n = (this.failures.get(name) ?? 0) + 1;
    this.failures.set(name, n);
    return backoffDelayMs(n, this.opts.backoffBaseMs, this.opts.backoffMaxMs);
  }

  private forget(name: string): void {
    this.clearTimer(name);
    this.failures.delete(name);
    this.sources.delete(name);
    this.written.delete(name);
    this.fetchRequests.delete(name);
    this.opts.metrics.forget(name);
  }

  // --- reconcile ---------------------------------------------------------------------------

  private async reconcile(name: string, reasons: Set<Reason>): Promise<void> {
    const fs = this.fleetSources.get(name);
    if (!fs) {
      this.forget(name);
      return;
    }
    const log = this.log.child({ fleetsource: name });
    const endTimer = this.opts.metrics.reconcileDuration.startTimer({ fleetsource: name });
    try {
      const base = this.currentStatus(fs);
      const st: FleetSourceStatus = structuredClone(base);
      const gen = fs.metadata.generation;
      const cond = (input: Omit<ConditionInput, 'observedGeneration'>): void => {
        st.conditions = setCondition(st.conditions, { ...input, observedGeneration: gen }, this.now());
      };
      if (fs.spec?.suspend) {
        // No fetch, no apply, no drift repair, no poll timer: un-suspending (a spec change) starts again.
        log.info('suspended: not fetching or applying');
        this.clearTimer(name);
        this.failures.delete(name);
        const kept = base.lastAppliedRevision ? `; ${base.lastAppliedRevision} stays applied` : '; nothing was applied';
        cond({ type: CONDITION_READY, status: 'False', reason: REASON_SUSPENDED, message: `spec.suspend is true: not fetching or applying${kept}` });
        await this.writeStatus(fs, base, st);
        return;
      }
      const intervalMs = this.intervalOf(fs, log);
      this.opts.metrics.fleetSourceInterval.set({ fleetsource: name }, intervalMs / 1000);

      // 1. Fetch.
      const fetchTimer = this.opts.metrics.fetchDuration.startTimer({ fleetsource: name });
      let rev: RemoteRevision;
      let src: GitSource;
      try {
        src = await this.gitSource(fs);
        const driftOnly = [...reasons].every((r) => r === 'drift');
        const cached = driftOnly ? await src.lastFetched() : undefined;
        if (cached && cached.revision === base.lastFetchedRevision) {
          rev = cached;
          fetchTimer({ result: 'cached' });
        } else {
          const res = await src.fetch(await src.checkRemote());
          rev = res;
          fetchTimer({ result: res.downloaded ? 'fetched' : 'unchanged' });
        }
      } catch (err) {
        const reason = err instanceof GitSourceError || err instanceof SourceTrustError ? err.reason : 'GitError';
        fetchTimer({ result: reason });
        const msg = err instanceof Error ? err.message : String(err);
        log.warn({ reason, err: msg }, 'fetch failed');
        this.sources.get(name)?.src.releaseCache();
        // A refused Secret or URL, or an oversized repository, is not the server's fault: say so in the reason.
        const condReason = err instanceof SourceTrustError || (err instanceof GitSourceError && err.reason === 'RepositoryTooLarge') ? err.reason : 'FetchFailed';
        cond({ type: CONDITION_FETCHED, status: 'False', reason: condReason, message: msg });
        cond({ type: CONDITION_READY, status: 'False', reason: condReason, message: msg });
        this.opts.metrics.reconcileErrors.inc({ fleetsource: name, reason: condReason });
        await this.writeStatus(fs, base, st);
        this.schedule(name, this.backoff(name));
        return;
      }
      st.lastFetchedRevision = rev.revision;
      // Wall time, not the injectable clock: alerts compare it with Prometheus' time().
      this.opts.metrics.fleetSourceLastFetch.set({ fleetsource: name }, Date.now() / 1000);
      cond({ type: CONDITION_FETCHED, status: 'True', reason: 'Succeeded', message: `fetched revision ${rev.revision}` });

      // 2. Render.
      st.lastAttemptedRevision = rev.revision;
      let rendered: RenderOutput;
      try {
        const source = await src.readSource(rev.commit, fs.spec?.path ?? '');
        // The renderer reports source.errors (files refused while loading) with its own.
        rendered = await this.opts.render(source, { revision: rev.commit });
      } catch (err) {
        if (err instanceof GitSourceError && err.reason === 'RepositoryTooLarge') {
          const kept = base.lastAppliedRevision ? `; ${base.lastAppliedRevision} stays applied` : '; nothing was applied';
          const msg = `revision ${rev.revision} is not applied${kept}: ${err.message}`;
          log.warn({ revision: rev.revision, err: err.message }, 'repository over the limits: nothing changed in the cluster');
          cond({ type: CONDITION_READY, status: 'False', reason: 'RepositoryTooLarge', message: msg });
          this.opts.metrics.reconcileErrors.inc({ fleetsource: name, reason: 'RepositoryTooLarge' });
          this.failures.delete(name);
          await this.writeStatus(fs, base, st);
          this.schedule(name, intervalMs);
          return;
        }
        if (!(err instanceof GitSourceError && err.reason === 'PathNotFound')) throw err;
        rendered = { objects: [], errors: [{ severity: 'error', path: fs.spec?.path ?? '.', line: 1, col: 1, message: err.message }], warnings: [] };
      } finally {
        // The rendered objects are all this run needs from git: let the packs go.
        src.releaseCache();
      }
      if (rendered.errors.length > 0) {
        const shown = rendered.errors.slice(0, MAX_ERRORS_IN_MESSAGE).map(formatDiagnostic).join('; ');
        const more = rendered.errors.length > MAX_ERRORS_IN_MESSAGE ? ` (and ${rendered.errors.length - MAX_ERRORS_IN_MESSAGE} more)` : '';
        const kept = base.lastAppliedRevision ? `; ${base.lastAppliedRevision} stays applied` : '; nothing was applied';
        const msg = `revision ${rev.revision} is invalid${kept}: ${shown}${more}`;
        log.warn({ revision: rev.revision, errors: rendered.errors.map(formatDiagnostic) }, 'validation failed: nothing changed in the cluster');
        cond({ type: CONDITION_READY, status: 'False', reason: 'ValidationFailed', message: msg });
        this.opts.metrics.reconcileErrors.inc({ fleetsource: name, reason: 'ValidationFailed' });
        this.failures.delete(name);
        await this.writeStatus(fs, base, st);
        this.schedule(name, intervalMs);
        return;
      }

      // 3. Apply and prune.
      const previous = base.inventory ?? [];
      let result;
      try {
        result = await this.applier.apply(rendered.objects, previous, this.liveObjects(), {
          fleetsource: name,
          force: fs.spec?.force === true,
          revision: rev.commit,
        });
      } catch (err) {
        const msg = err instanceof Error ? err.message : String(err);
        log.warn({ err: msg }, 'apply failed');
        // Objects written before the failure must stay in the inventory, or a later prune would miss them.
        st.inventory = mergeInventory(previous, rendered.objects.map((o) => ({ apiVersion: o.apiVersion ?? '', kind: o.kind ?? '', name: o.metadata?.name ?? '' })));
        cond({ type: CONDITION_APPLIED, status: 'False', reason: 'ApplyFailed', message: msg });
        cond({ type: CONDITION_READY, status: 'False', reason: 'ApplyFailed', message: msg });
        this.opts.metrics.reconcileErrors.inc({ fleetsource: name, reason: 'ApplyFailed' });
        await this.writeStatus(fs, base, st);
        this.schedule(name, this.backoff(name));
        return;
      }
      st.inventory = sortInventory(result.inventory);
      if (result.written.length || result.pruned.length) {
        log.info(
          { revision: rev.revision, written: result.written.map(formatRef), pruned: result.pruned.map(formatRef), unchanged: result.unchanged.length },
          'applied',
        );
      }
      if (result.conflicts.length > 0) {
        const msg = `revision ${rev.revision} is not fully applied: ${result.conflicts.map((c) => c.message).slice(0, MAX_ERRORS_IN_MESSAGE).join('; ')}`;
        cond({ type: CONDITION_APPLIED, status: 'False', reason: 'Conflict', message: msg });
        cond({ type: CONDITION_READY, status: 'False', reason: 'Conflict', message: msg });
        this.opts.metrics.reconcileErrors.inc({ fleetsource: name, reason: 'Conflict' });
        this.failures.delete(name);
        await this.writeStatus(fs, base, st);
        this.schedule(name, intervalMs);
        return;
      }
      // Stable wording (no per-run counts): an unchanged state must produce an identical status.
      const msg = `applied revision ${rev.revision}: ${result.inventory.length} object${result.inventory.length === 1 ? '' : 's'}`;
      st.lastAppliedRevision = rev.revision;
      cond({ type: CONDITION_APPLIED, status: 'True', reason: 'Succeeded', message: msg });
      cond({ type: CONDITION_READY, status: 'True', reason: 'Succeeded', message: msg });
      this.opts.metrics.setAppliedRevision(name, rev.revision);
      this.failures.delete(name);
      await this.writeStatus(fs, base, st);
      // Name both commits: after a force push the new one need not descend from the old (a shallow
      // fetch cannot tell), and whoever reads the Events should see what replaced what.
      if (base.lastAppliedRevision && base.lastAppliedRevision !== rev.revision) {
        this.event(fs, 'Normal', 'RevisionApplied', `applied ${rev.revision}, replacing ${base.lastAppliedRevision}`);
      }
      this.schedule(name, intervalMs);
    } finally {
      endTimer();
    }
  }

  private intervalOf(fs: FleetSource, log: Logger): number {
    const raw = fs.spec?.interval;
    if (!raw) return this.opts.defaultIntervalMs ?? 60_000;
    const d = parseDuration(raw);
    const ms = d.ok ? d.ms : undefined;
    if (ms === undefined || ms < 1000) {
      log.warn({ interval: raw }, 'spec.interval is not a duration of at least 1s (e.g. 30s, 5m); using 1m');
      return 60_000;
    }
    return ms;
  }

  private currentStatus(fs: FleetSource): FleetSourceStatus {
    const mine = this.written.get(fs.metadata.name);
    return structuredClone(mine?.status ?? fs.status ?? {});
  }

  private liveObjects(): LiveObjects {
    return {
      get: (ref: InventoryEntry) => {
        if (ref.apiVersion !== API_VERSION) return undefined;
        return this.managed.get(ref.kind)?.get(ref.name);
      },
    };
  }

  private async gitSource(fs: FleetSource): Promise<GitSource> {
    const spec = fs.spec!;
    assertUrlSafe(spec.url, spec.secretRef?.name !== undefined);
    await this.assertWebhookSecretAllowed(fs);
    const credentials = await this.credentials(fs);
    const ref = spec.ref ?? { branch: 'main' };
    const key = canonicalJson({ url: spec.url, ref, credentials });
    const have = this.sources.get(fs.metadata.name);
    if (have && have.key === key) return have.src;
    const src = new GitSource({
      url: spec.url,
      ref,
      cacheDir: this.opts.cacheDir,
      ...(credentials ? { credentials } : {}),
      ...(this.opts.repositoryLimits ? { limits: this.opts.repositoryLimits } : {}),
    });
    this.sources.set(fs.metadata.name, { key, src });
    return src;
  }

  /** A webhook Secret that exists must name the FleetSource and hold a long token; a missing one only disables the webhook. */
  private async assertWebhookSecretAllowed(fs: FleetSource): Promise<void> {
    const name = fs.spec?.webhookSecretRef?.name;
    if (!name) return;
    const secret = await this.readSecret(name);
    if (secret) this.webhookToken(fs.metadata.name, name, secret);
  }

  /** The webhook token of `secret` for FleetSource `fleetSource`; throws SourceTrustError when it may not serve. */
  private webhookToken(fleetSource: string, name: string, secret: V1Secret): string | undefined {
    const where = { namespace: this.opts.namespace, name };
    assertSecretAllows({ ...where, annotations: secret.metadata?.annotations }, fleetSource, 'spec.webhookSecretRef');
    const raw = secret.data?.token;
    if (!raw) return undefined;
    const token = Buffer.from(raw, 'base64').toString('utf8');
    assertWebhookSecretStrong(token, where);
    return token;
  }

  private async credentials(fs: FleetSource): Promise<GitCredentials | undefined> {
    const name = fs.spec?.secretRef?.name;
    if (!name) return undefined;
    const ns = this.opts.namespace;
    const secret = await this.readSecret(name);
    if (!secret) {
      throw new GitSourceError('AuthenticationFailed', `spec.secretRef names Secret ${ns}/${name}, which does not exist`);
    }
    assertSecretAllows({ namespace: ns, name, annotations: secret.metadata?.annotations }, fs.metadata.name, 'spec.secretRef');
    const d = secret.data ?? {};
    const get = (k: string): string | undefined => (d[k] !== undefined ? Buffer.from(d[k]!, 'base64').toString('utf8') : undefined);
    const creds: GitCredentials = { secret: { namespace: ns, name } };
    const bearer = get('bearerToken');
    const token = get('token');
    const username = get('username');
    const password = get('password');
    if (bearer) creds.bearerToken = bearer;
    else if (token) Object.assign(creds, { username: username ?? 'git', password: token });
    else if (username !== undefined || password !== undefined) Object.assign(creds, { username: username ?? '', password: password ?? '' });
    else {
      throw new GitSourceError(
        'AuthenticationFailed',
        `Secret ${ns}/${name} has none of the keys username/password, token or bearerToken`,
      );
    }
    return creds;
  }

  private async readSecret(name: string): Promise<V1Secret | undefined> {
    const cached = this.secrets.get(name, this.opts.namespace);
    if (cached) return cached;
    try {
      return await this.client.get<V1Secret>(apiPath('v1', 'secrets', { namespace: this.opts.namespace, name }));
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** Writes status only when it differs; posts one Event per condition that changed status or reason. */
  private async writeStatus(fs: FleetSource, before: FleetSourceStatus, after: FleetSourceStatus): Promise<void> {
    after.observedGeneration = fs.metadata.generation;
    const name = fs.metadata.name;
    const ready = findCondition(after.conditions, CONDITION_READY);
    this.opts.metrics.setFleetSourceState(name, { ready: ready?.status === 'True', suspended: fs.spec?.suspend === true });
    if (canonicalJson(before) === canonicalJson(after)) return;
    this.opts.metrics.apiWrites.inc({ verb: 'patch-status', kind: 'FleetSource' });
    await this.client.request('PATCH', apiPath(API_VERSION, 'fleetsources', { name, subresource: 'status' }), {
      body: { status: after },
      contentType: CONTENT.merge,
    });
    this.written.set(name, { generation: fs.metadata.generation, status: structuredClone(after) });
    for (const c of after.conditions ?? []) {
      const old = findCondition(before.conditions, c.type);
      if (old && old.status === c.status && old.reason === c.reason) continue;
      if (!conditionChanged(before.conditions, c)) continue;
      // Suspending is an operator's choice, not a failure.
      const warning = c.status === 'False' && c.reason !== REASON_SUSPENDED;
      this.event(fs, warning ? 'Warning' : 'Normal', c.reason, `${c.type}=${c.status}: ${c.message}`);
    }
  }

  private event(fs: FleetSource, type: 'Normal' | 'Warning', reason: string, message: string): void {
    // FleetSource is cluster-scoped: its Events go to the default namespace (the recorder's default).
    this.opts.metrics.apiWrites.inc({ verb: 'create', kind: 'Event' });
    this.events.record({ apiVersion: API_VERSION, kind: 'FleetSource', name: fs.metadata.name, uid: fs.metadata.uid }, type, reason, message);
  }
}

function sortInventory(list: InventoryEntry[]): InventoryEntry[] {
  return [...list].sort((a, b) => (refKey(a) < refKey(b) ? -1 : refKey(a) > refKey(b) ? 1 : 0));
}

function mergeInventory(a: InventoryEntry[], b: InventoryEntry[]): InventoryEntry[] {
  const m = new Map<string, InventoryEntry>();
  for (const e of [...a, ...b]) m.set(refKey(e), e);
  return sortInventory([...m.values()]);
}
