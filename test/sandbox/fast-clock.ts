// The sandbox's clock: a file holding an ISO 8601 instant that runs `speed` times faster than real
// time. The controller (--clock-file) and the dashboard read it, so windows and soaks pass quickly.
import { renameSync, writeFileSync } from 'node:fs';

/** The instant shown `elapsedMs` of real time after `start`, at `speed`. Pure. */
export function fastNow(start: number, speed: number, elapsedMs: number): number {
  return Math.round(start + elapsedMs * speed);
}

export interface FastClock {
  file: string;
  now(): number;
  stop(): void;
}

/** Writes the clock file every `tickMs` (atomically: a reader never sees half an instant). */
export function startFastClock(file: string, start: number, speed: number, tickMs = 100): FastClock {
  const t0 = Date.now();
  const now = () => fastNow(start, speed, Date.now() - t0);
  const write = () => {
    writeFileSync(`${file}.tmp`, new Date(now()).toISOString());
    renameSync(`${file}.tmp`, file);
  };
  write();
  const timer = setInterval(write, tickMs);
  return { file, now, stop: () => clearInterval(timer) };
}
