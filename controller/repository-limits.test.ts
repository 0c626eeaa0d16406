import { describe, expect, it } from 'vitest';
import { mib, parseSize } from './repository-limits.js';

describe('--max-pack-size values and how limits are written in status', () => {
  it('reads bytes and Ki/Mi/Gi, and refuses anything else', () => {
    expect(parseSize('64Mi')).toBe(64 * 1024 * 1024);
    expect(parseSize('1Gi')).toBe(1024 ** 3);
    expect(parseSize('512Ki')).toBe(512 * 1024);
    expect(parseSize('1000')).toBe(1000);
    for (const bad of ['', '0', '64MB', '-1Mi', '1.5Gi', 'lots']) expect(parseSize(bad), bad).toBeUndefined();
  });

  it('writes whole MiB as MiB and small sizes in bytes', () => {
    expect(mib(64 * 1024 * 1024)).toBe('64 MiB');
    expect(mib(100)).toBe('100 bytes');
  });
});
