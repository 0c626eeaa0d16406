// Records core/v1 Events about objects, as `kubectl describe` shows them. Repeats of the same reason
// and message on the same object within ten minutes bump the count of the existing Event instead of
// creating a new one. Writes are asynchronous and bounded, so a burst never stalls a reconcile.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { apiPath, isNotFound, type KubeClient } from './client.js';

export interface InvolvedObject {
  apiVersion: string;
  kind: string;
  name: string;
  namespace?: string;
  uid?: string;
}

export type EventType = 'Normal' | 'Warning';

export interface EventRecorderOptions {
  client: KubeClient;
  logger: Logger;
  component: string;
  /** Namespace for Events about cluster-scoped objects (default "default", where kubectl looks). */
  clusterScopedNamespace?: string;
  /** Writes in flight at once (default 8). */
  concurrency?: number;
  /** Writes waiting beyond this are dropped, oldest first (default 10 000). */
  maxPending?: number;
}

interface Seen {
  name: string;
  namespace: string;
  count: number;
  firstTimestamp: string;
  at: number;
}

const REPEAT_WINDOW_MS = 10 * 60_000;
const MAX_REMEMBERED = 2_000;

export class EventRecorder {
  private readonly seen = new Map<string, Seen>();
  private readonly queue: Array<() => Promise<void>> = [];
  private inFlight = 0;
  private drainWaiters: Array<() => void> = [];
  private readonly instance = `${process.pid}-${randomBytes(3).toString('hex')}`;
  /** Events written (created or bumped); read by tests and benchmarks. */
  written = 0;
  dropped = 0;
  private closed = false;

  constructor(private readonly opts: EventRecorderOptions) {}

  record(obj: InvolvedObject, type: EventType, reason: string, message: string): void {
    const namespace = obj.namespace ?? this.opts.clusterScopedNamespace ?? 'default';
    const k = `${obj.kind}/${obj.namespace ?? ''}/${obj.name}/${obj.uid ?? ''}/${type}/${reason}/${message}`;
    const now = Date.now();
    const prior = this.seen.get(k);
    const ts = new Date(now).toISOString();
    if (prior && now - prior.at < REPEAT_WINDOW_MS) {
      prior.count++;
      prior.at = now;
      const count = prior.count;
      this.enqueue(async () => {
        try {
          await this.opts.client.patch(apiPath('v1', 'events', { namespace: prior.namespace, name: prior.name }), {
            count,
            lastTimestamp: ts,
          });
        } catch (err) {
          if (!isNotFound(err)) throw err;
        }
      });
      return;
    }
    const name = `${obj.name}.${now.toString(16)}${randomBytes(3).toString('hex')}`.slice(0, 253);
    this.remember(k, { name, namespace, count: 1, firstTimestamp: ts, at: now });
    this.enqueue(async () => {
      await this.opts.client.post(apiPath('v1', 'events', { namespace }), {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name, namespace },
        involvedObject: { apiVersion: obj.apiVersion, kind: obj.kind, name: obj.name, namespace: obj.namespace, uid: obj.uid },
        reason,
        message: message.length > 1024 ? `${message.slice(0, 1021)}...` : message,
        type,
        count: 1,
        firstTimestamp: ts,
        lastTimestamp: ts,
        source: { component: this.opts.component },
        reportingComponent: this.opts.component,
        reportingInstance: this.instance,
      });
    });
  }

  /** Drops what is still queued (on shutdown) and returns how many Events were dropped. */
  close(): number {
    this.closed = true;
    const n = this.queue.length;
    this.queue.length = 0;
    this.dropped += n;
    return n;
  }

  get pending(): number {
    return this.queue.length + this.inFlight;
  }

  /** Resolves when every queued write has been attempted. */
  flush(): Promise<void> {
    if (this.inFlight === 0 && this.queue.length === 0) return Promise.resolve();
    return new Promise((r) => this.drainWaiters.push(r));
  }

  private remember(k: string, s: Seen): void {
    // Repeats come close together; the oldest entries (a Map keeps insertion order) go first.
    if (this.seen.size >= MAX_REMEMBERED) {
      let drop = this.seen.size - MAX_REMEMBERED + 1;
      for (const key of this.seen.keys()) {
        if (drop-- <= 0) break;
        this.seen.delete(key);
      }
    }
    this.seen.set(k, s);
  }

  private enqueue(write: () => Promise<void>): void {
    if (this.closed) return;
    if (this.queue.length >= (this.opts.maxPending ?? 10_000)) {
      this.queue.shift();
      this.dropped++;
    }
    this.queue.push(write);
    this.pump();
  }

  private pump(): void {
    while (this.inFlight < (this.opts.concurrency ?? 8) && this.queue.length > 0) {
      const write = this.queue.shift() as () => Promise<void>;
      this.inFlight++;
      write()
        .then(() => {
          this.written++;
        })
        .catch((err: unknown) => {
          if (!this.closed) this.opts.logger.warn({ err: String(err) }, 'could not write an Event');
        })
        .finally(() => {
          this.inFlight--;
          this.pump();
          if (this.inFlight === 0 && this.queue.length === 0) {
            const waiters = this.drainWaiters;
            this.drainWaiters = [];
            for (const w of waiters) w();
          }
        });
    }
  }
}
