// Go-style durations ("90s", "30m", "4h", "1h30m", "500ms"): RolloutPolicy documents, controller flags and agent health-check timeouts.

export type DurationResult = { ok: true; ms: number } | { ok: false; error: string };

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  'µs': 1e-3,
  'μs': 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

const PART = /([0-9]*\.?[0-9]*)(ns|us|µs|μs|ms|s|m|h)/y;

const HINT = 'write a number with a unit, like 90s, 30m, 4h or 1h30m (units: ms, s, m, h)';

/** Parses a Go duration string into milliseconds. A leading sign is accepted, as in Go. */
export function parseDuration(input: unknown): DurationResult {
  if (typeof input !== 'string') {
    return { ok: false, error: `a duration must be a string; ${HINT}` };
  }
  const s = input.trim();
  if (s === '') return { ok: false, error: `the duration is empty; ${HINT}` };
  let i = 0;
  let sign = 1;
  if (s[0] === '-' || s[0] === '+') {
    sign = s[0] === '-' ? -1 : 1;
    i = 1;
  }
  if (s.slice(i) === '0') return { ok: true, ms: 0 };
  let total = 0;
  let parts = 0;
  while (i < s.length) {
    PART.lastIndex = i;
    const m = PART.exec(s);
    const num = m?.[1];
    const unit = m?.[2];
    if (!m || num === undefined || unit === undefined || num === '' || num === '.') {
      const rest = s.slice(i);
      if (/^[0-9.]+d\b/.test(rest) || /^[0-9.]+\s*(d|day|days)$/.test(rest)) {
        return { ok: false, error: `"${input}" is not a duration: days are not a unit, use hours (24h per day)` };
      }
      if (/^[0-9.]+$/.test(rest)) {
        return { ok: false, error: `"${input}" is not a duration: "${rest}" has no unit; ${HINT}` };
      }
      return { ok: false, error: `"${input}" is not a duration; ${HINT}` };
    }
    total += Number(num) * (UNIT_MS[unit] ?? NaN);
    parts++;
    i = PART.lastIndex;
  }
  if (parts === 0 || !Number.isFinite(total)) return { ok: false, error: `"${input}" is not a duration; ${HINT}` };
  return { ok: true, ms: sign * total };
}

/** Formats milliseconds the way people write them in policies ("1h30m", "90s" stays "1m30s"). */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  const sign = ms < 0 ? '-' : '';
  let rest = Math.abs(ms);
  const h = Math.floor(rest / 3_600_000);
  rest -= h * 3_600_000;
  const m = Math.floor(rest / 60_000);
  rest -= m * 60_000;
  const s = Math.floor(rest / 1000);
  rest -= s * 1000;
  let out = '';
  if (h) out += `${h}h`;
  if (m) out += `${m}m`;
  if (s) out += `${s}s`;
  if (rest) out += `${Math.round(rest * 1000) / 1000}ms`;
  return sign + out;
}
