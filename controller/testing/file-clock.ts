// A test seam for whole-process tests: the rollout reads "now" from a file holding an ISO 8601
// instant, so an end-to-end test can move a controller process through a week of windows in seconds.
// Lives under testing/, which the build leaves out: production cannot reach it (controller/testing/main-with-clock.ts).
import { readFileSync } from 'node:fs';
import type { Clock } from '../rollout/clock.js';

export class FileClock implements Clock {
  private timers = new Map<number, { at: number; fn: () => void }>();
  private nextId = 0;
  private readonly poll: NodeJS.Timeout;

  constructor(private readonly path: string, pollMs = 100) {
    this.read(); // fail fast on a missing or unreadable file
    this.poll = setInterval(() => this.fireDue(), pollMs);
    this.poll.unref();
  }

  private read(): number {
    const text = readFileSync(this.path, 'utf8').trim();
    const t = Date.parse(text);
    if (Number.isNaN(t)) throw new Error(`clock file ${this.path} holds ${JSON.stringify(text)}, not an ISO 8601 instant`);
    return t;
  }

  now(): Date {
    return new Date(this.read());
  }

  setTimer(at: Date, fn: () => void): () => void {
    const id = this.nextId++;
    this.timers.set(id, { at: at.getTime(), fn });
    return () => void this.timers.delete(id);
  }

  private fireDue(): void {
    if (this.timers.size === 0) return;
    let now: number;
    try {
      now = this.read();
    } catch {
      return; // the test is rewriting the file; the next poll reads it
    }
    for (const [id, t] of [...this.timers]) {
      if (t.at <= now) {
        this.timers.delete(id);
        t.fn();
      }
    }
  }

  stop(): void {
    clearInterval(this.poll);
    this.timers.clear();
  }
}
