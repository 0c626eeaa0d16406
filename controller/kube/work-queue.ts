// A keyed, coalescing work queue: adding a key that is already waiting does nothing, a key being
// processed is never processed twice at once (it is marked dirty and runs again afterwards), and a
// failed key comes back with a per-key exponential back-off. Watches feed it; reconcilers drain it.

export interface WorkQueueOptions {
  /** Keys processed at once (default 4). */
  concurrency?: number;
  /** First retry delay after a failure (default 200 ms), doubled per consecutive failure. */
  baseRetryMs?: number;
  /** Longest retry delay (default 60 s). */
  maxRetryMs?: number;
  /** Called when processing a key throws; the key is retried. */
  onError?: (key: string, err: unknown, attempt: number) => void;
}

/** What a reconcile may ask for: run again after a delay (e.g. waiting for a timeout), without counting as a failure. */
export interface ReconcileResult {
  requeueAfterMs?: number;
}

export type Reconcile = (key: string) => Promise<ReconcileResult | void>;

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
  private readonly active = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly delayed = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private readonly failures = new Map<string, number>();
  private running = 0;
  private stopped = false;
  private idleWaiters: Array<() => void> = [];
  private readonly concurrency: number;

  constructor(
    private readonly reconcile: Reconcile,
    private readonly opts: WorkQueueOptions = {},
  ) {
    this.concurrency = opts.concurrency ?? 4;
  }

  add(key: string): void {
    if (this.stopped) return;
    if (this.active.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.queue.push(key);
    this.pump();
  }

  /** Adds the key after `ms`; an earlier pending delay for the same key wins. */
  addAfter(key: string, ms: number): void {
    if (this.stopped) return;
    if (ms <= 0) return this.add(key);
    const at = Date.now() + ms;
    const pending = this.delayed.get(key);
    if (pending && pending.at <= at) return;
    if (pending) clearTimeout(pending.timer);
    const timer = setTimeout(() => {
      this.delayed.delete(key);
      this.add(key);
    }, ms);
    timer.unref?.();
    this.delayed.set(key, { at, timer });
  }

  /** Forgets a key's failure count (after it succeeded elsewhere). */
  forget(key: string): void {
    this.failures.delete(key);
  }

  get length(): number {
    return this.queue.length;
  }

  get busy(): boolean {
    return this.queue.length > 0 || this.running > 0;
  }

  /** Resolves when nothing is queued or running (delayed keys do not count). */
  idle(): Promise<void> {
    if (!this.busy) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  stop(): void {
    this.stopped = true;
    for (const d of this.delayed.values()) clearTimeout(d.timer);
    this.delayed.clear();
    this.queue.length = 0;
    this.queued.clear();
    this.dirty.clear();
    this.notifyIdle();
  }

  private pump(): void {
    while (!this.stopped && this.running < this.concurrency && this.queue.length > 0) {
      const key = this.queue.shift() as string;
      this.queued.delete(key);
      this.active.add(key);
      this.running++;
      void this.process(key);
    }
    this.notifyIdle();
  }

  private async process(key: string): Promise<void> {
    let retryMs: number | undefined;
    try {
      const res = await this.reconcile(key);
      this.failures.delete(key);
      if (res && res.requeueAfterMs !== undefined) retryMs = Math.max(0, res.requeueAfterMs);
    } catch (err) {
      const attempt = (this.failures.get(key) ?? 0) + 1;
      this.failures.set(key, attempt);
      this.opts.onError?.(key, err, attempt);
      retryMs = Math.min(this.opts.maxRetryMs ?? 60_000, (this.opts.baseRetryMs ?? 200) * 2 ** Math.min(attempt - 1, 16));
    } finally {
      this.active.delete(key);
      this.running--;
    }
    if (this.dirty.delete(key)) this.add(key);
    else if (retryMs !== undefined) this.addAfter(key, retryMs);
    this.pump();
  }

  private notifyIdle(): void {
    if (this.busy && !this.stopped) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}
