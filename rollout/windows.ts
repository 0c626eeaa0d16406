// Maintenance and deny windows: cron start + duration + IANA zone, and the questions the planner
// asks of them (is a new reboot allowed now, when next, until when). Deny windows win.
// DST: a start whose local time is skipped opens at the first valid instant after it; a start whose
// local time happens twice opens once, at the first occurrence (see zone.ts).

import { parseCron, dayMatches, type CronSchedule } from './cron.js';
import { parseDuration } from '../api/duration.js';
import { editDistance } from '../api/suggest.js';
import { isKnownZone, localTime, wallToInstant } from './zone.js';

export interface WindowSpec {
  /** 5-field cron: when the window opens, in `timeZone`. */
  schedule: string;
  /** Go-style duration: how long it stays open, e.g. "4h". */
  duration: string;
  /** IANA zone name, e.g. "Europe/Berlin" or "UTC". */
  timeZone: string;
}

export interface Interval {
  /** Epoch milliseconds, inclusive. */
  start: number;
  /** Epoch milliseconds, exclusive. */
  end: number;
}

export interface CompiledWindow {
  spec: WindowSpec;
  cron: CronSchedule;
  durationMs: number;
  zone: string;
}

export type WindowKind = 'maintenance' | 'deny';

export interface WindowProblem {
  field: 'schedule' | 'duration' | 'timeZone';
  message: string;
}

/** A maintenance window may last at most a week; windows are looked up this far back. */
export const MAX_MAINTENANCE_MS = 168 * 3_600_000;
const DAY = 86_400_000;
/** How far ahead `nextOpen` looks before it gives up: four years covers a 29 February schedule. */
export const DEFAULT_HORIZON_MS = (4 * 365 + 1) * DAY;

let zoneNames: string[] | undefined;

function closestZone(name: string): string | undefined {
  zoneNames ??= (Intl as unknown as { supportedValuesOf?: (k: string) => string[] }).supportedValuesOf?.('timeZone') ?? [];
  let best: string | undefined;
  let bestScore = Infinity;
  for (const z of zoneNames) {
    const d = editDistance(name, z);
    if (d < bestScore) {
      bestScore = d;
      best = z;
    }
  }
  return bestScore <= Math.max(2, Math.floor(name.length / 4)) ? best : undefined;
}

/** Every problem with one window, as sentences for people, tagged with the field they concern. */
export function validateWindow(w: Partial<WindowSpec>, kind: WindowKind = 'maintenance'): WindowProblem[] {
  const problems: WindowProblem[] = [];
  const cron = parseCron(w.schedule);
  if (!cron.ok) problems.push({ field: 'schedule', message: cron.error });
  if (typeof w.timeZone !== 'string' || !isKnownZone(w.timeZone)) {
    const guess = typeof w.timeZone === 'string' ? closestZone(w.timeZone) : undefined;
    problems.push({
      field: 'timeZone',
      message:
        `time zone ${JSON.stringify(w.timeZone ?? '')} is unknown; use an IANA name like Europe/Berlin or UTC` +
        (guess ? ` (did you mean ${guess}?)` : ''),
    });
  }
  const d = parseDuration(w.duration);
  if (!d.ok) problems.push({ field: 'duration', message: d.error });
  else if (d.ms <= 0) problems.push({ field: 'duration', message: `duration "${w.duration}" must be longer than zero, like 4h` });
  else if (kind === 'maintenance' && d.ms > MAX_MAINTENANCE_MS) {
    problems.push({
      field: 'duration',
      message: `a maintenance window may last at most 168h (one week), not "${w.duration}"; shorten it or use a schedule that opens more often`,
    });
  }
  return problems;
}

const compiled = new Map<string, CompiledWindow>();

/** Parses a window once (memoised); throws with every problem when it is invalid. */
export function compileWindow(w: WindowSpec, kind: WindowKind = 'maintenance'): CompiledWindow {
  const key = `${kind}\u0000${w.schedule}\u0000${w.duration}\u0000${w.timeZone}`;
  const hit = compiled.get(key);
  if (hit) return hit;
  const problems = validateWindow(w, kind);
  const cron = parseCron(w.schedule);
  const d = parseDuration(w.duration);
  if (problems.length > 0 || !cron.ok || !d.ok) {
    throw new Error(`invalid ${kind} window: ${problems.map((p) => p.message).join('; ')}`);
  }
  const cw: CompiledWindow = { spec: w, cron: cron.schedule, durationMs: d.ms, zone: w.timeZone };
  compiled.set(key, cw);
  return cw;
}

/** Start instants of one window with from <= start < to, ascending and without repeats. */
export function windowStarts(cw: CompiledWindow, from: number, to: number): number[] {
  const out: number[] = [];
  if (!(to > from)) return out;
  const first = localTime(cw.zone, from);
  const last = localTime(cw.zone, to);
  // Walk local calendar days; begin a day early because a skipped time can move into the next day.
  let day = Date.UTC(first.year, first.month - 1, first.day) - DAY;
  const lastDay = Date.UTC(last.year, last.month - 1, last.day);
  const { hours, minutes } = cw.cron;
  for (; day <= lastDay; day += DAY) {
    const date = new Date(day);
    if (!dayMatches(cw.cron, date.getUTCMonth() + 1, date.getUTCDate(), date.getUTCDay())) continue;
    for (const h of hours) {
      for (const m of minutes) {
        const at = wallToInstant(cw.zone, day + h * 3_600_000 + m * 60_000);
        if (at < from || at >= to) continue;
        if (out.length > 0 && out[out.length - 1]! >= at) continue; // skipped times collapse onto one instant
        out.push(at);
      }
    }
  }
  return out;
}

function union(list: Interval[]): Interval[] {
  list.sort((a, b) => a.start - b.start || a.end - b.end);
  const out: Interval[] = [];
  for (const iv of list) {
    const tail = out[out.length - 1];
    if (tail && iv.start <= tail.end) tail.end = Math.max(tail.end, iv.end);
    else out.push({ start: iv.start, end: iv.end });
  }
  return out;
}

/** The union of the windows' open intervals that overlap [from, to). */
export function windowIntervals(windows: CompiledWindow[], from: number, to: number): Interval[] {
  const list: Interval[] = [];
  for (const cw of windows) {
    for (const s of windowStarts(cw, from - cw.durationMs, to)) {
      if (s + cw.durationMs > from) list.push({ start: s, end: s + cw.durationMs });
    }
  }
  return union(list);
}

/** a minus b, both sorted and disjoint. */
function subtract(a: Interval[], b: Interval[]): Interval[] {
  const out: Interval[] = [];
  let j = 0;
  for (const iv of a) {
    let start = iv.start;
    while (j < b.length && b[j]!.end <= start) j++;
    let k = j;
    while (k < b.length && b[k]!.start < iv.end) {
      const d = b[k]!;
      if (d.start > start) out.push({ start, end: d.start });
      start = Math.max(start, d.end);
      k++;
    }
    if (start < iv.end) out.push({ start, end: iv.end });
  }
  return out;
}

function compileAll(windows: readonly WindowSpec[] | readonly CompiledWindow[], kind: WindowKind): CompiledWindow[] {
  return windows.map((w) => ('cron' in w ? w : compileWindow(w, kind)));
}

export type Windows = readonly WindowSpec[] | readonly CompiledWindow[];

/**
 * The intervals within [from, to) in which a new reboot may start: inside some maintenance window
 * and inside no deny window. No maintenance windows at all means "any time" (minus deny windows).
 */
export function openIntervals(maintenance: Windows, deny: Windows, from: number, to: number): Interval[] {
  const m = compileAll(maintenance, 'maintenance');
  const d = compileAll(deny, 'deny');
  const base = m.length === 0 ? [{ start: from, end: to }] : windowIntervals(m, from, to);
  const open = d.length === 0 ? base : subtract(base, windowIntervals(d, from, to));
  return open.filter((iv) => iv.end > from);
}

/**
 * The open interval containing `at`, or else the first one after it; null when none begins within
 * the horizon. `start` is never earlier than `at` minus a week; an interval that runs to the end of
 * the horizon reports `end` as +Infinity when no maintenance windows limit it.
 */
export function openIntervalAt(
  maintenance: Windows,
  deny: Windows,
  at: number,
  horizonMs: number = DEFAULT_HORIZON_MS,
): Interval | null {
  const m = compileAll(maintenance, 'maintenance');
  const d = compileAll(deny, 'deny');
  for (const span of [8 * DAY, 64 * DAY, horizonMs]) {
    const to = at + Math.min(span, horizonMs);
    const list = openIntervals(m, d, at, to);
    const iv = list.find((x) => x.end > at);
    const last = span >= horizonMs;
    if (iv && (iv.end < to || last)) {
      if (m.length === 0 && iv.end >= to) return { start: iv.start, end: d.length === 0 ? Infinity : iv.end };
      return iv;
    }
    if (last) return iv ?? null;
  }
  return null;
}

/** Whether a new reboot may start at `at`. */
export function isOpen(maintenance: Windows, deny: Windows, at: number): boolean {
  const iv = openIntervalAt(maintenance, deny, at, 8 * DAY);
  return iv !== null && iv.start <= at;
}

/** The first instant >= `at` at which a new reboot may start, or null within the horizon. */
export function nextOpen(maintenance: Windows, deny: Windows, at: number, horizonMs?: number): number | null {
  const iv = openIntervalAt(maintenance, deny, at, horizonMs);
  return iv === null ? null : Math.max(iv.start, at);
}

/** When the open period containing `at` ends (deny windows cut it short); null when closed at `at`. */
export function currentWindowEnd(maintenance: Windows, deny: Windows, at: number, horizonMs?: number): number | null {
  const iv = openIntervalAt(maintenance, deny, at, horizonMs);
  return iv !== null && iv.start <= at ? iv.end : null;
}
