import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fastNow, startFastClock } from '../sandbox/fast-clock.js';

describe('the sandbox fast clock', () => {
  it('runs `speed` times faster than real time from its start', () => {
    const start = Date.parse('2026-11-25T23:50:00Z');
    expect(fastNow(start, 600, 1000)).toBe(Date.parse('2026-11-26T00:00:00Z'));
    expect(fastNow(start, 1, 1000)).toBe(start + 1000);
  });

  it('keeps an ISO 8601 instant in its file that moves forward', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'osfleet-clock-'));
    const clock = startFastClock(join(dir, 'clock'), Date.parse('2026-01-01T00:00:00Z'), 3600, 20);
    try {
      const first = Date.parse(readFileSync(clock.file, 'utf8'));
      await new Promise((r) => setTimeout(r, 200));
      const later = Date.parse(readFileSync(clock.file, 'utf8'));
      // 200 ms at ×3600 is 12 minutes of clock time (less the last tick).
      expect(later - first).toBeGreaterThan(5 * 60_000);
      expect(later - first).toBeLessThan(60 * 60_000);
    } finally {
      clock.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
