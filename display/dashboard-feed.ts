// Turns watch events into page patches: a change schedules one flush (coalescing bursts), the flush
// rebuilds the view and sends each subscriber what changed. The planned timeline is a simulation
// that takes seconds for a large fleet: it runs in a worker thread, at most every few seconds, and
// its result arrives as a patch of its own.
import { Worker } from 'node:worker_threads';
import type { Timeline } from '../rollout/timeline.js';
import { fleetView, type FleetView } from './fleet-view.js';
import type { LiveFleet } from './live-fleet.js';
import { changesPlan } from './plan-inputs.js';
import type { TimelineJob } from './timeline-worker.js';
import { diffView, emptySent, type SentState, type ViewPatch } from './view-patch.js';

export interface FeedOptions {
  /** The clock views are computed at (the controller's, when it runs on an injected one). */
  now?: () => number;
  /** Coalescing delay after a change (default 25 ms). */
  flushMs?: number;
  /** Least time between two timeline simulations (default 3 s). */
  timelineMs?: number;
}

type Subscriber = (patch: ViewPatch) => void;

export class DashboardFeed {
  private readonly now: () => number;
  private sent: SentState = emptySent();
  private timelines: Timeline[] = [];
  private timelineAt = 0;
  private timelineDirty = true;
  private timer: NodeJS.Timeout | undefined;
  private timelineTimer: NodeJS.Timeout | undefined;
  private readonly subscribers = new Set<Subscriber>();
  private view: FleetView | undefined;
  private worker: Worker | undefined;
  private busy = false;

  constructor(
    private readonly live: LiveFleet,
    private readonly opts: FeedOptions = {},
  ) {
    this.now = opts.now ?? Date.now;
    live.onChange((kind, obj, old) => {
      if (changesPlan(kind, obj, old)) this.timelineDirty = true;
      this.schedule();
    });
  }

  /** The current view, computed now (for `osfleet status` and the first page load). */
  current(): { view: FleetView; timelines: Timeline[]; now: number } {
    const now = this.now();
    this.view = fleetView(
      {
        sources: this.live.sources.values(),
        oses: this.live.oses.values(),
        osnodes: this.live.osnodes.values(),
        events: this.live.events.values(),
        nodeLabels: (name) => this.live.nodes.get(name)?.metadata.labels,
      },
      now,
    );
    if (this.timelineDirty) this.refreshTimelines(now);
    return { view: this.view, timelines: this.timelines, now };
  }

  /** Adds a subscriber; it gets the whole state first, then patches. Returns the unsubscribe function. */
  subscribe(fn: Subscriber): () => void {
    const { view, timelines, now } = this.current();
    fn(diffView(emptySent(), { view, timelines }, now, true).patch);
    this.subscribers.add(fn);
    return () => this.subscribers.delete(fn);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.timelineTimer) clearTimeout(this.timelineTimer);
    this.subscribers.clear();
    void this.worker?.terminate();
    this.worker = undefined;
  }

  private startWorker(): Worker {
    // From dist/ the worker is a .js file. From the sources (tests, `npm run sandbox`) it is a .ts
    // file, which a worker thread loads only after registering tsx itself.
    const w = import.meta.url.endsWith('.ts')
      ? new Worker(
          `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))})` +
            `.then((api) => { api.register(); return import(${JSON.stringify(new URL('./timeline-worker.ts', import.meta.url).href)}); });`,
          { eval: true },
        )
      : new Worker(new URL('./timeline-worker.js', import.meta.url));
    w.unref();
    w.on('message', (m: { ok: boolean; timelines?: Timeline[] }) => {
      this.busy = false;
      // An OS the planner cannot read (a bad window) leaves the last timelines; the rest of the page still works.
      if (m.ok && m.timelines) this.timelines = m.timelines;
      this.schedule();
    });
    w.on('error', (err) => {
      process.stderr.write(`osfleet dashboard: the timeline worker failed: ${err.message}\n`);
      this.busy = false;
      this.worker = undefined;
    });
    return w;
  }

  private refreshTimelines(now: number): void {
    if (this.busy) return;
    const min = this.opts.timelineMs ?? 3000;
    const wall = Date.now();
    if (wall - this.timelineAt < min) {
      this.timelineTimer ??= setTimeout(() => {
        this.timelineTimer = undefined;
        this.schedule();
      }, min - (wall - this.timelineAt));
      return;
    }
    this.timelineAt = wall;
    this.timelineDirty = false;
    this.busy = true;
    this.worker ??= this.startWorker();
    const job: TimelineJob = {
      oses: this.live.oses.list(),
      configs: this.live.configs.list(),
      nodes: this.live.nodes.list(),
      osnodes: this.live.osnodes.list(),
      now,
    };
    this.worker.postMessage(job);
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, this.opts.flushMs ?? 25);
  }

  private flush(): void {
    if (this.subscribers.size === 0) return;
    const { view, timelines, now } = this.current();
    const { patch, sent, empty } = diffView(this.sent, { view, timelines }, now);
    this.sent = sent;
    if (empty) return;
    for (const s of this.subscribers) s(patch);
  }
}
