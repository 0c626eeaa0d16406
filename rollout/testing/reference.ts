// Test-only oracles for windows and batches, written from the README's rules alone (section
// "Rollout semantics"), sharing no code with rollout/: cron matched field by field, zones through
// Intl, every wall-clock minute enumerated. Slow on purpose; the planner's tests compare against it.

const MIN = 60_000;

export interface RefWindow {
  schedule: string;
  duration: string;
  timeZone: string;
}

/** "4h", "90m", "1h30m", "24h": the subset of Go durations the tests use. */
function durationMs(text: string): number {
  const re = /(\d+)(h|m|s)/g;
  let ms = 0;
  let seen = '';
  for (let m = re.exec(text); m; m = re.exec(text)) {
    ms += Number(m[1]) * (m[2] === 'h' ? 3_600_000 : m[2] === 'm' ? MIN : 1000);
    seen += m[0];
  }
  if (seen !== text) throw new Error(`reference: unsupported duration ${text}`);
  return ms;
}

/** One cron field as the set of values it allows: `*`, `a`, `a-b`, `*\/n`, `a-b/n`, `a/n`, lists. */
function cronField(text: string, min: number, max: number): { any: boolean; values: Set<number> } {
  const values = new Set<number>();
  for (const part of text.split(',')) {
    const [range, stepText] = part.split('/') as [string, string | undefined];
    const step = stepText === undefined ? 1 : Number(stepText);
    let lo: number;
    let hi: number;
    if (range === '*') [lo, hi] = [min, max];
    else if (range.includes('-')) [lo, hi] = range.split('-').map(Number) as [number, number];
    else [lo, hi] = [Number(range), stepText === undefined ? Number(range) : max];
    for (let v = lo; v <= hi; v += step) values.add(v);
  }
  return { any: text === '*', values };
}

interface Cron {
  matches(w: Wall): boolean;
}

function parseCron(expr: string): Cron {
  const [mi, h, dom, mon, dow] = expr.trim().split(/\s+/) as [string, string, string, string, string];
  const f = { mi: cronField(mi, 0, 59), h: cronField(h, 0, 23), dom: cronField(dom, 1, 31), mon: cronField(mon, 1, 12), dow: cronField(dow, 0, 7) };
  if (f.dow.values.has(7)) f.dow.values.add(0); // 0 and 7 are both Sunday
  return {
    matches(w) {
      if (!f.mi.values.has(w.minute) || !f.h.values.has(w.hour) || !f.mon.values.has(w.month)) return false;
      const domOk = f.dom.values.has(w.day);
      const dowOk = f.dow.values.has(w.weekday);
      // Both restricted: either matches (Vixie cron); otherwise the restricted one decides.
      if (!f.dom.any && !f.dow.any) return domOk || dowOk;
      return domOk && dowOk;
    },
  };
}

interface Wall {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  weekday: number;
  /** The wall time as minutes since 1970-01-01 00:00 of that calendar: a sortable key. */
  key: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** The wall clock in `zone` at instant `ms`, read through Intl. */
export function wallAt(zone: string, ms: number): Wall {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric' });
    formatters.set(zone, f);
  }
  const p = Object.fromEntries(f.formatToParts(ms).map((x) => [x.type, x.value])) as Record<string, string>;
  return wallOf(Number(p.year), Number(p.month), Number(p.day), Number(p.hour), Number(p.minute));
}

function wallOf(year: number, month: number, day: number, hour: number, minute: number): Wall {
  const key = Date.UTC(year, month - 1, day, hour, minute) / MIN;
  return { year, month, day, hour, minute, weekday: new Date(key * MIN).getUTCDay(), key };
}

function wallFromKey(key: number): Wall {
  const d = new Date(key * MIN);
  return wallOf(d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes());
}

/**
 * The instant a start at wall time `w` opens: the first instant showing that wall time (a time
 * that happens twice opens once, at the first); when the wall time does not exist (clocks jump
 * forward) the first instant after it.
 */
const starts = new Map<string, number>();

function startInstant(zone: string, w: Wall): number {
  const memo = `${zone}\u0000${w.key}`;
  const hit = starts.get(memo);
  if (hit !== undefined) return hit;
  const s = scanStart(zone, w);
  starts.set(memo, s);
  return s;
}

function scanStart(zone: string, w: Wall): number {
  // Every instant whose wall clock reads w lies within ±15 h of w read as UTC. Scan that range by
  // the minute for the first instant at or past w (wall clocks only move back at a fall-back,
  // where the first occurrence is the one wanted).
  const guess = w.key * MIN;
  for (let t = guess - 15 * 60 * MIN; t <= guess + 15 * 60 * MIN; t += MIN) {
    if (wallAt(zone, t).key >= w.key) return t;
  }
  throw new Error('reference: no instant found');
}

/** Is one window open at instant `at` (minute precision)? Starts up to its duration back count. */
function windowOpen(w: RefWindow, at: number): boolean {
  const d = durationMs(w.duration);
  const cron = parseCron(w.schedule);
  const atMin = Math.floor(at / MIN) * MIN;
  // Wall minutes that could have started a window still open at `at`: from (at - d) read on the
  // wall clock, minus a margin for an offset change inside the range, up to the wall time of `at`.
  const from = wallAt(w.timeZone, atMin - d).key - 180;
  const to = wallAt(w.timeZone, atMin).key + 180;
  for (let k = from; k <= to; k++) {
    const wall = wallFromKey(k);
    if (!cron.matches(wall)) continue;
    const s = startInstant(w.timeZone, wall);
    if (s <= at && at < s + d) return true;
  }
  return false;
}

/** README: no maintenance windows means any time; deny windows are subtracted and win. */
export function referenceIsOpen(maintenance: readonly RefWindow[], deny: readonly RefWindow[], at: number): boolean {
  const inMaintenance = maintenance.length === 0 || maintenance.some((w) => windowOpen(w, at));
  return inMaintenance && !deny.some((w) => windowOpen(w, at));
}

export interface RefNode {
  name: string;
  zone?: string;
}

/**
 * README "Batches, order and the canary": zones sorted by name take turns, nodes by name within a
 * zone, nodes without a zone after the named zones; batches are cumulative counts, percentages of
 * the selected nodes rounded up, clamped to the fleet; a last batch short of all is extended.
 */
export function referenceBatches(nodes: readonly RefNode[], batches: readonly (number | string)[]): string[][] {
  const zones = [...new Set(nodes.map((n) => n.zone ?? ''))].sort((a, b) => (a === '' ? 1 : b === '' ? -1 : a < b ? -1 : a > b ? 1 : 0));
  const queues = zones.map((z) => nodes.filter((n) => (n.zone ?? '') === z).map((n) => n.name).sort());
  const order: string[] = [];
  while (queues.some((q) => q.length > 0)) for (const q of queues) if (q.length > 0) order.push(q.shift()!);
  const total = order.length;
  const out: string[][] = [];
  let done = 0;
  batches.forEach((b, i) => {
    let upTo = typeof b === 'number' ? b : Math.ceil((Number(b.slice(0, -1)) * total) / 100);
    upTo = Math.min(Math.max(upTo, done), total);
    if (i === batches.length - 1) upTo = total;
    out.push(order.slice(done, upTo));
    done = upTo;
  });
  return out;
}
