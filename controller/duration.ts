// Owns parsing Go-style durations ("1m", "30s", "1h30m", "250ms") as used in FleetSource.spec.interval.
const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Milliseconds, or undefined when `text` is not a Go-style duration. */
export function parseDuration(text: string): number | undefined {
  const s = text.trim();
  if (s === '' || s === '0') return s === '0' ? 0 : undefined;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;
  let total = 0;
  let pos = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s)) !== null) {
    total += Number(m[1]) * UNITS[m[2]!]!;
    pos = re.lastIndex;
  }
  return pos === s.length ? total : undefined;
}
