import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from './duration.js';

describe('parseDuration', () => {
  it.each([
    ['90s', 90_000],
    ['30m', 1_800_000],
    ['4h', 14_400_000],
    ['1h30m', 5_400_000],
    ['500ms', 500],
    ['1.5h', 5_400_000],
    ['336h', 336 * 3_600_000],
    ['0', 0],
    ['-1m', -60_000],
  ])('reads the Go duration %s as %d ms', (text, ms) => {
    expect(parseDuration(text)).toEqual({ ok: true, ms });
  });

  it.each(['', '4', '4 hours', 'h', '1d', 'abc', '1h30', '--1h'])('refuses %j with an error that shows valid forms', (text) => {
    const r = parseDuration(text);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(/90s|24h/);
  });

  it('tells people that days are not a unit', () => {
    const r = parseDuration('2d');
    expect(r.ok === false && r.error).toContain('24h');
  });

  it('round-trips through formatDuration', () => {
    expect(formatDuration(5_400_000)).toBe('1h30m');
    expect(formatDuration(90_000)).toBe('1m30s');
  });
});
