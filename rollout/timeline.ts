// A policy's rollout as bars in time: maintenance and deny windows, batches and soaks, from the plan's
// simulation. Pure data; the PR comment draws it as a Mermaid gantt chart, the dashboard as HTML.
import { compileWindow, windowIntervals, type Interval, type WindowSpec } from './windows.js';

export type TimelineRow = 'maintenance' | 'deny' | 'batch' | 'soak';

export interface TimelineBar {
  row: TimelineRow;
  label: string;
  /** Epoch ms, inclusive. */
  start: number;
  /** Epoch ms, exclusive; at least `start` plus the chart's smallest visible bar. */
  end: number;
  /** Batch bars: the batch number (0 = canary). */
  batch?: number;
}

export interface Timeline {
  policy: string;
  version: string;
  /** The zone the chart's times are drawn in: the policy's (its first maintenance window's). */
  timeZone: string;
  from: number;
  to: number;
  bars: TimelineBar[];
}

type WindowInput = Omit<WindowSpec, 'timeZone'> & { timeZone?: string | undefined };

/** What a timeline needs of a planned policy (`PlannedPolicy` of plan-report.ts has it). */
export interface TimelineInput {
  name: string;
  version: string;
  timeZone: string;
  batches: ReadonlyArray<{ index: number; nodes: readonly string[]; start: string | null; end: string | null }>;
  soaks: ReadonlyArray<{ start: string; end: string }>;
  /** Windows as OS objects carry them: no zone means UTC. */
  maintenanceWindows: ReadonlyArray<WindowInput>;
  denyWindows: ReadonlyArray<WindowInput>;
  finishedAt: string | null;
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** With nothing planned, the chart shows this much of the windows ahead. */
const EMPTY_SPAN_MS = 7 * DAY;
/** Window openings drawn per row at most; a long rollout shows those around its batches. */
const MAX_WINDOW_BARS = 24;

/** Batches of instantly succeeding nodes take no time; they are drawn at least this wide. */
function minBar(span: number): number {
  return Math.max(10 * 60_000, Math.round(span / 200));
}

function windowBars(row: 'maintenance' | 'deny', specs: ReadonlyArray<WindowInput>, from: number, to: number, focus: readonly number[]): TimelineBar[] {
  if (specs.length === 0) return [];
  const compiled = specs.map((w) => compileWindow({ schedule: w.schedule, duration: w.duration, timeZone: w.timeZone ?? 'UTC' }, row));
  let list: Interval[] = windowIntervals(compiled, from, to);
  if (list.length > MAX_WINDOW_BARS) {
    // Keep the openings next to something that happens, then the first ones, in time order.
    const near = (iv: Interval) => focus.some((t) => iv.start - DAY <= t && t <= iv.end + DAY);
    const keep = new Set(list.filter(near).slice(0, MAX_WINDOW_BARS));
    for (const iv of list) if (keep.size < MAX_WINDOW_BARS) keep.add(iv);
    list = list.filter((iv) => keep.has(iv));
  }
  const label = row === 'maintenance' ? 'window' : 'deny';
  return list.map((iv) => ({ row, label, start: iv.start, end: iv.end }));
}

/** The timeline of one planned policy as seen from `now` (epoch ms). */
export function buildTimeline(p: TimelineInput, now: number): Timeline {
  const times: number[] = [];
  for (const b of p.batches) {
    if (b.start !== null) times.push(Date.parse(b.start));
    if (b.end !== null) times.push(Date.parse(b.end));
  }
  for (const s of p.soaks) times.push(Date.parse(s.end));
  if (p.finishedAt) times.push(Date.parse(p.finishedAt));
  const last = times.length ? Math.max(...times) : now + EMPTY_SPAN_MS;
  const from = now;
  const to = Math.max(last + HOUR, now + DAY);
  const min = minBar(to - from);

  const bars: TimelineBar[] = [
    ...windowBars('maintenance', p.maintenanceWindows, from, to, times),
    ...windowBars('deny', p.denyWindows, from, to, times),
  ];
  for (const b of p.batches) {
    if (b.start === null) continue;
    const start = Date.parse(b.start);
    const end = Math.max(b.end === null ? start : Date.parse(b.end), start + min);
    const n = b.nodes.length;
    bars.push({ row: 'batch', label: `batch ${b.index + 1}${b.index === 0 ? ' canary' : ''}, ${n} node${n === 1 ? '' : 's'}`, start, end, batch: b.index });
  }
  for (const s of p.soaks) bars.push({ row: 'soak', label: 'soak', start: Date.parse(s.start), end: Math.max(Date.parse(s.end), Date.parse(s.start) + min) });
  return { policy: p.name, version: p.version, timeZone: p.timeZone, from, to, bars };
}
