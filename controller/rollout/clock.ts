// The rollout's notion of time: soak ends, window boundaries and drain timeouts are read from and
// scheduled on an injectable clock, so a test can jump a week ahead without waiting for it.

export interface Clock {
  now(): Date;
  /** Calls fn at (or soon after) `at`; returns a cancel function. */
  setTimer(at: Date, fn: () => void): () => void;
}

// setTimeout cannot wait longer than 2^31-1 ms (~24.8 days); longer waits are chained.
const MAX_DELAY = 2 ** 31 - 1;

export const systemClock: Clock = {
  now: () => new Date(),
  setTimer(at, fn) {
    let handle: NodeJS.Timeout | undefined;
    let cancelled = false;
    const arm = () => {
      if (cancelled) return;
      const delay = at.getTime() - Date.now();
      if (delay <= 0) {
        handle = undefined;
        fn();
        return;
      }
      handle = setTimeout(arm, Math.min(delay, MAX_DELAY));
      handle.unref?.();
    };
    arm();
    return () => {
      cancelled = true;
      if (handle) clearTimeout(handle);
    };
  },
};

/** A clock that moves only when told to: `advance(ms)` or `set(date)` fires every timer that comes due. */
export class ManualClock implements Clock {
  private t: number;
  private timers: Array<{ at: number; fn: () => void; id: number }> = [];
  private nextId = 0;

  constructor(start: Date | string | number = Date.UTC(2026, 0, 5, 12, 0, 0)) {
    this.t = new Date(start).getTime();
  }

  now(): Date {
    return new Date(this.t);
  }

  setTimer(at: Date, fn: () => void): () => void {
    const id = this.nextId++;
    const when = at.getTime();
    if (when <= this.t) {
      queueMicrotask(fn);
      return () => undefined;
    }
    this.timers.push({ at: when, fn, id });
    return () => {
      this.timers = this.timers.filter((x) => x.id !== id);
    };
  }

  advance(ms: number): void {
    this.set(this.t + ms);
  }

  set(to: Date | string | number): void {
    const target = new Date(to).getTime();
    if (target < this.t) throw new Error('ManualClock cannot go backwards');
    this.t = target;
    const due = this.timers.filter((x) => x.at <= target).sort((a, b) => a.at - b.at);
    this.timers = this.timers.filter((x) => x.at > target);
    for (const x of due) x.fn();
  }

  get pendingTimers(): number {
    return this.timers.length;
  }
}
