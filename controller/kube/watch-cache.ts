// A list-then-watch cache of one resource (an informer): keeps the objects in memory, tells handlers
// what changed, resumes the watch from the last resourceVersion and relists when that is too old.
// A transform trims each object as it arrives (managedFields are most of an object's bytes), which is
// what keeps a controller's memory flat with ten thousand nodes.
import type { KubeConfig } from '@kubernetes/client-node';
import { Watch } from '../../api/client-node.js';
import type { Logger } from 'pino';
import type { KubeClient } from './client.js';

export interface ObjectMeta {
  name: string;
  namespace?: string;
  resourceVersion?: string;
  uid?: string;
  [k: string]: unknown;
}
export interface CachedObject {
  metadata: ObjectMeta;
}

export type ChangeType = 'add' | 'update' | 'delete';
export type ChangeHandler<T> = (type: ChangeType, obj: T, old: T | undefined) => void;

export interface WatchCacheOptions<T> {
  kubeConfig: KubeConfig;
  client: KubeClient;
  /** Collection path, e.g. /api/v1/nodes or /apis/osfleet.dev/v1alpha1/osnodes. */
  path: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Trims or reshapes each object before it is stored; must keep metadata.name/namespace/resourceVersion. */
  transform?: (raw: unknown) => T;
  logger: Logger;
  /** Human name for logs (default: the path). */
  name?: string;
  /**
   * A watch that delivers nothing (no event, no bookmark) for this long is presumed dead and
   * replaced, resuming from the last resourceVersion (default 90 s). A half-open connection
   * otherwise leaves the cache stale until TCP gives up, which can take many minutes. The
   * apiserver sends a bookmark about every minute on a quiet watch, so a live one is never cut.
   */
  idleTimeoutMs?: number;
}

export const DEFAULT_WATCH_IDLE_TIMEOUT_MS = 90_000;

const key = (namespace: string | undefined, name: string) => (namespace ? `${namespace}/${name}` : name);

/** Drops metadata.managedFields (and the last-applied annotation), which the controller never reads. */
export function stripManagedFields<T>(raw: unknown): T {
  const o = raw as { metadata?: { managedFields?: unknown; annotations?: Record<string, string> } };
  if (o.metadata) {
    delete o.metadata.managedFields;
    if (o.metadata.annotations) delete o.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration'];
  }
  return raw as T;
}

export class WatchCache<T extends CachedObject> {
  private store = new Map<string, T>();
  private readonly handlers: ChangeHandler<T>[] = [];
  private resourceVersion = '';
  private stopped = true;
  private abort: AbortController | undefined;
  private timer: NodeJS.Timeout | undefined;
  private failures = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  /** Watches replaced because they went quiet (tests and logs). */
  idleRestarts = 0;
  private syncedOnce = false;
  private resolveSynced!: () => void;
  /** Resolves once the first list has been stored and handlers have seen it. */
  readonly synced: Promise<void>;
  private readonly transform: (raw: unknown) => T;
  private readonly label: string;

  constructor(private readonly opts: WatchCacheOptions<T>) {
    this.synced = new Promise((r) => (this.resolveSynced = r));
    this.transform = opts.transform ?? ((raw) => stripManagedFields<T>(raw));
    this.label = opts.name ?? opts.path;
  }

  onChange(handler: ChangeHandler<T>): void {
    this.handlers.push(handler);
  }

  get(name: string, namespace?: string): T | undefined {
    return this.store.get(key(namespace, name));
  }

  list(): T[] {
    return [...this.store.values()];
  }

  values(): IterableIterator<T> {
    return this.store.values();
  }

  get size(): number {
    return this.store.size;
  }

  get hasSynced(): boolean {
    return this.syncedOnce;
  }

  /** Writes an object the controller has just written into the cache ahead of the watch event (read-your-writes). */
  observe(raw: unknown): void {
    const obj = this.transform(raw);
    const k = key(obj.metadata.namespace, obj.metadata.name);
    const old = this.store.get(k);
    if (old && newer(old.metadata.resourceVersion, obj.metadata.resourceVersion)) return;
    this.store.set(k, obj);
    this.emit(old ? 'update' : 'add', obj, old);
  }

  start(): Promise<void> {
    if (!this.stopped) return this.synced;
    this.stopped = false;
    void this.relist();
    return this.synced;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    this.abort?.abort();
    this.abort = undefined;
  }

  private emit(type: ChangeType, obj: T, old: T | undefined): void {
    for (const h of this.handlers) {
      try {
        h(type, obj, old);
      } catch (err) {
        this.opts.logger.error({ err, cache: this.label }, 'watch handler failed');
      }
    }
  }

  private retryLater(fn: () => void): void {
    if (this.stopped) return;
    const delay = Math.min(30_000, 250 * 2 ** Math.min(this.failures, 7));
    this.failures++;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      fn();
    }, delay);
  }

  private async relist(): Promise<void> {
    if (this.stopped) return;
    try {
      const { items, resourceVersion } = await this.opts.client.list<T>(
        this.opts.path,
        { labelSelector: this.opts.labelSelector, fieldSelector: this.opts.fieldSelector },
        500,
        this.transform,
      );
      if (this.stopped) return;
      const next = new Map<string, T>();
      for (const obj of items) next.set(key(obj.metadata.namespace, obj.metadata.name), obj);
      const prev = this.store;
      this.store = next;
      for (const [k, old] of prev) if (!next.has(k)) this.emit('delete', old, old);
      for (const [k, obj] of next) {
        const old = prev.get(k);
        if (!old) this.emit('add', obj, undefined);
        else if (old.metadata.resourceVersion !== obj.metadata.resourceVersion) this.emit('update', obj, old);
      }
      this.resourceVersion = resourceVersion;
      if (!this.syncedOnce) {
        this.syncedOnce = true;
        this.resolveSynced();
      }
      this.failures = 0;
      void this.watch();
    } catch (err) {
      this.opts.logger.warn({ err: String(err), cache: this.label }, 'list failed; retrying');
      this.retryLater(() => void this.relist());
    }
  }

  private async watch(): Promise<void> {
    if (this.stopped) return;
    let expired = false;
    let finished = false;
    let idled = false;
    const idleMs = this.opts.idleTimeoutMs ?? DEFAULT_WATCH_IDLE_TIMEOUT_MS;
    const armIdle = (): void => {
      if (this.idleTimer) clearTimeout(this.idleTimer);
      this.idleTimer = setTimeout(() => {
        this.idleTimer = undefined;
        if (finished || this.stopped) return;
        idled = true;
        this.idleRestarts++;
        this.opts.logger.warn({ cache: this.label, idleMs }, 'watch delivered nothing for too long; replacing it');
        const ctl = this.abort;
        done(null);
        ctl?.abort();
      }, idleMs);
      this.idleTimer.unref?.();
    };
    const done = (err: unknown) => {
      if (finished) return;
      finished = true;
      if (this.idleTimer) clearTimeout(this.idleTimer);
      this.idleTimer = undefined;
      this.abort = undefined;
      if (this.stopped) return;
      if (idled) {
        void this.watch();
        return;
      }
      const status = (err as { statusCode?: number; code?: number } | null)?.statusCode ?? (err as { code?: number } | null)?.code;
      if (expired || status === 410) {
        this.relistSoon();
        return;
      }
      if (err && !isIdleTimeout(err)) {
        this.opts.logger.warn({ err: String(err), cache: this.label }, 'watch ended with an error; resuming');
        this.retryLater(() => void this.watch());
        return;
      }
      // The server closes watches after its request timeout, and the client library ends one that
      // has been silent for 30 s (a quiet resource, not a failure): resume at once from where we were.
      void this.watch();
    };
    // Armed before the request too: a connection that never answers is as stale as a quiet one.
    armIdle();
    try {
      this.abort = await new Watch(this.opts.kubeConfig).watch(
        this.opts.path,
        {
          resourceVersion: this.resourceVersion,
          allowWatchBookmarks: true,
          labelSelector: this.opts.labelSelector,
          fieldSelector: this.opts.fieldSelector,
        },
        (type: string, raw: unknown) => {
          if (this.stopped || finished) return;
          armIdle();
          if (type === 'ERROR') {
            const code = (raw as { code?: number }).code;
            if (code === 410) expired = true;
            this.opts.logger.debug({ cache: this.label, code }, 'watch error event');
            return;
          }
          const rv = (raw as CachedObject).metadata?.resourceVersion;
          if (type === 'BOOKMARK') {
            if (rv) this.resourceVersion = rv;
            return;
          }
          this.failures = 0;
          const obj = this.transform(raw);
          const k = key(obj.metadata.namespace, obj.metadata.name);
          const old = this.store.get(k);
          if (type === 'DELETED') {
            this.store.delete(k);
            this.emit('delete', obj, old);
          } else if (!old || old.metadata.resourceVersion !== obj.metadata.resourceVersion) {
            this.store.set(k, obj);
            this.emit(old ? 'update' : 'add', obj, old);
          }
          if (rv) this.resourceVersion = rv;
        },
        done,
      );
      if (this.stopped) this.abort?.abort();
      else if (!finished) armIdle();
    } catch (err) {
      done(err);
    }
  }

  private relistSoon(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.relist();
    }, 100);
  }
}

/** The client library's inactivity timeout on a watch (no bytes for 30 s), which a quiet resource hits by design. */
export function isIdleTimeout(err: unknown): boolean {
  return (err as { name?: unknown } | null)?.name === 'TimeoutError';
}

/** Whether resourceVersion a is newer than b (they are opaque, but etcd's are integers; compare only when both are). */
function newer(a: string | undefined, b: string | undefined): boolean {
  if (!a || !b || !/^\d+$/.test(a) || !/^\d+$/.test(b)) return false;
  return a.length > b.length || (a.length === b.length && a > b);
}
