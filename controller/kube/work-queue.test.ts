import { describe, expect, it } from 'vitest';
import { WorkQueue } from './work-queue.js';

const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));

describe('WorkQueue', () => {
  it('coalesces adds of a waiting key into one run', async () => {
    const runs: string[] = [];
    const q = new WorkQueue(async (k) => {
      runs.push(k);
      if (k === 'busy') await tick(20);
    }, { concurrency: 1 });
    q.add('busy');
    q.add('a');
    q.add('b');
    q.add('a');
    q.add('b');
    await q.idle();
    expect(runs).toEqual(['busy', 'a', 'b']);
  });

  it('never runs one key twice at once, and runs it again when it was added while running', async () => {
    let running = 0;
    let maxRunning = 0;
    let runs = 0;
    const q = new WorkQueue(async () => {
      running++;
      runs++;
      maxRunning = Math.max(maxRunning, running);
      await tick(20);
      running--;
    }, { concurrency: 4 });
    q.add('k');
    await tick();
    q.add('k');
    q.add('k');
    await tick(60);
    await q.idle();
    expect(maxRunning).toBe(1);
    expect(runs).toBe(2);
  });

  it('retries a failing key with back-off and reports each failure', async () => {
    const attempts: number[] = [];
    let n = 0;
    const q = new WorkQueue(async () => {
      n++;
      if (n < 3) throw new Error('boom');
    }, { baseRetryMs: 10, onError: (_k, _e, attempt) => attempts.push(attempt) });
    q.add('x');
    await tick(100);
    expect(n).toBe(3);
    expect(attempts).toEqual([1, 2]);
    q.stop();
  });

  it('requeues after the delay a reconcile asks for', async () => {
    let n = 0;
    const q = new WorkQueue(async () => (++n === 1 ? { requeueAfterMs: 20 } : undefined));
    q.add('x');
    await tick(5);
    expect(n).toBe(1);
    await tick(50);
    expect(n).toBe(2);
    q.stop();
  });
});
