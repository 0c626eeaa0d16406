// IANA time-zone arithmetic on top of Intl: the UTC offset at an instant, and the instant at which
// a local wall-clock time happens, with osfleet's DST rules (a skipped time opens at the first
// valid instant after it; a repeated time opens once, at its first occurrence).

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(zone, f);
  }
  return f;
}

/** Whether the runtime knows this IANA zone name. */
export function isKnownZone(zone: string): boolean {
  if (typeof zone !== 'string' || zone === '') return false;
  try {
    formatter(zone);
    return true;
  } catch {
    return false;
  }
}

export interface LocalTime {
  year: number;
  month: number; // 1-12
  day: number;
  hour: number;
  minute: number;
  second: number;
}

/** The wall-clock reading in `zone` at the instant `ms`. */
export function localTime(zone: string, ms: number): LocalTime {
  const parts = formatter(zone).formatToParts(new Date(ms));
  const out: LocalTime = { year: 0, month: 0, day: 0, hour: 0, minute: 0, second: 0 };
  for (const p of parts) {
    switch (p.type) {
      case 'year':
        out.year = Number(p.value);
        break;
      case 'month':
        out.month = Number(p.value);
        break;
      case 'day':
        out.day = Number(p.value);
        break;
      case 'hour':
        out.hour = Number(p.value);
        break;
      case 'minute':
        out.minute = Number(p.value);
        break;
      case 'second':
        out.second = Number(p.value);
        break;
    }
  }
  return out;
}

// Offsets are memoised per zone and whole second; windows ask for the same instants again and again.
const offsetCache = new Map<string, Map<number, number>>();

/** UTC offset of `zone` at instant `ms`, in milliseconds (Berlin in summer: +7_200_000). */
export function offsetAt(zone: string, ms: number): number {
  const key = Math.floor(ms / 1000);
  let cache = offsetCache.get(zone);
  if (!cache) {
    cache = new Map();
    offsetCache.set(zone, cache);
  }
  const hit = cache.get(key);
  if (hit !== undefined) return hit;
  const t = localTime(zone, key * 1000);
  const asUtc = Date.UTC(t.year, t.month - 1, t.day, t.hour, t.minute, t.second);
  const off = asUtc - key * 1000;
  if (cache.size > 50_000) cache.clear();
  cache.set(key, off);
  return off;
}

const DAY = 86_400_000;

/**
 * The instant at which the wall time `wall` (a local time written as if it were UTC milliseconds)
 * happens in `zone`. A repeated wall time gives its first occurrence; a skipped one gives the
 * transition instant, i.e. the first valid instant after it.
 */
export function wallToInstant(zone: string, wallMs: number): number {
  const wall = Math.floor(wallMs / 1000) * 1000;
  const before = offsetAt(zone, wall - DAY);
  const after = offsetAt(zone, wall + DAY);
  const a = wall - before;
  const b = wall - after;
  const aOk = a + offsetAt(zone, a) === wall;
  const bOk = b + offsetAt(zone, b) === wall;
  if (aOk && bOk) return Math.min(a, b);
  if (aOk) return a;
  if (bOk) return b;
  // In a gap: the transition lies between the two candidates. Search it to the second.
  let lo = Math.min(a, b);
  let hi = Math.max(a, b);
  const offLo = offsetAt(zone, lo);
  while (hi - lo > 1000) {
    const mid = lo + Math.max(1000, Math.floor((hi - lo) / 2000) * 1000);
    if (offsetAt(zone, mid) === offLo) lo = mid;
    else hi = mid;
  }
  return hi;
}

/** Formats an instant as local ISO 8601 with offset in `zone`, e.g. 2026-03-29T03:00:00+02:00. */
export function formatLocal(zone: string, ms: number): string {
  const t = localTime(zone, ms);
  const off = offsetAt(zone, ms);
  const sign = off < 0 ? '-' : '+';
  const abs = Math.abs(off) / 60_000;
  const p2 = (n: number) => String(n).padStart(2, '0');
  return (
    `${t.year}-${p2(t.month)}-${p2(t.day)}T${p2(t.hour)}:${p2(t.minute)}:${p2(t.second)}` +
    `${sign}${p2(Math.floor(abs / 60))}:${p2(abs % 60)}`
  );
}
