// What a person watching a fleet needs to see, derived from the cluster's objects: FleetSources,
// each OS's progress, window and halt, its nodes, recent Events. Pure; the dashboard and
// `osfleet status` both draw it.
import type { FleetSource, OS, OSNode } from '../api/resources.js';
import { resolveShare } from '../rollout/order.js';
import { selectorMatcher } from '../rollout/selector.js';
import { openIntervalAt } from '../rollout/windows.js';

interface Cond {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

export interface SourceView {
  name: string;
  url: string;
  ref: string;
  appliedRevision: string | null;
  fetchedRevision: string | null;
  ready: boolean;
  reason: string;
  /** The Ready condition's message: for a bad revision it names file:line:col. */
  message: string;
  suspended: boolean;
}

export type OSState = 'Done' | 'Progressing' | 'Waiting' | 'Paused' | 'Halted' | 'Unknown';

export interface OSView {
  name: string;
  version: string;
  source: string | null;
  total: number;
  updated: number;
  inProgress: number;
  pending: number;
  failed: number;
  /** 1-based batch in progress (0 before the first) of `totalBatches`. */
  batch: number;
  totalBatches: number;
  failureBudget: number;
  failureBudgetLeft: number;
  windowOpen: boolean;
  /** ISO 8601: when the open window closes (null: no end, or closed). */
  windowCloses: string | null;
  /** ISO 8601: when the next window opens (null: none within four years, or always open). */
  nextWindow: string | null;
  state: OSState;
  /** Why it is paused, halted or waiting, in the controller's words. */
  reason: string;
  message: string;
  failedNodes: string[];
}

export interface NodeView {
  name: string;
  os: string | null;
  phase: string;
  bootedSlot: string | null;
  bootedVersion: string | null;
  slotA: string | null;
  slotB: string | null;
  targetVersion: string | null;
  /** 0..1 while downloading with a known size, else null. */
  download: number | null;
  message: string;
}

export interface EventView {
  time: string;
  type: string;
  reason: string;
  object: string;
  message: string;
  count: number;
}

export interface FleetView {
  sources: SourceView[];
  oses: OSView[];
  nodes: NodeView[];
  events: EventView[];
}

/** The fields of a core/v1 Event the view reads. */
export interface EventObj {
  metadata: { name: string; namespace?: string; creationTimestamp?: string };
  type?: string;
  reason?: string;
  message?: string;
  count?: number;
  lastTimestamp?: string | null;
  eventTime?: string | null;
  firstTimestamp?: string | null;
  series?: { lastObservedTime?: string; count?: number };
  involvedObject?: { kind?: string; name?: string };
  regarding?: { kind?: string; name?: string };
}

const cond = (list: readonly Cond[] | undefined, type: string) => list?.find((c) => c.type === type);

export function sourceView(fs: FleetSource): SourceView {
  const ready = cond(fs.status?.conditions, 'Ready');
  const r = fs.spec.ref;
  return {
    name: fs.metadata.name,
    url: fs.spec.url,
    ref: r?.commit ?? (r?.tag ? `tag ${r.tag}` : (r?.branch ?? 'main')),
    appliedRevision: fs.status?.lastAppliedRevision ?? null,
    fetchedRevision: fs.status?.lastFetchedRevision ?? null,
    ready: ready?.status === 'True',
    reason: ready?.reason ?? 'Unknown',
    message: ready?.message ?? 'not reconciled yet',
    suspended: fs.spec.suspend === true,
  };
}

function windowNow(os: OS, now: number): { open: boolean; closes: string | null; next: string | null } {
  const zone = (w: { schedule: string; duration: string; timeZone?: string | undefined }) => ({ schedule: w.schedule, duration: w.duration, timeZone: w.timeZone ?? 'UTC' });
  const m = os.spec.maintenanceWindows.map(zone);
  const d = os.spec.denyWindows.map(zone);
  if (m.length === 0 && d.length === 0) return { open: true, closes: null, next: null };
  try {
    const iv = openIntervalAt(m, d, now);
    if (!iv) return { open: false, closes: null, next: null };
    if (iv.start > now) return { open: false, closes: null, next: new Date(iv.start).toISOString() };
    if (!Number.isFinite(iv.end)) return { open: true, closes: null, next: null };
    const after = openIntervalAt(m, d, iv.end);
    return { open: true, closes: new Date(iv.end).toISOString(), next: after && after.start >= iv.end ? new Date(after.start).toISOString() : null };
  } catch {
    return { open: false, closes: null, next: null };
  }
}

export function osView(os: OS, now: number): OSView {
  const st = os.status;
  const counts = st?.counts ?? { total: 0, updated: 0, inProgress: 0, pending: 0, failed: 0 };
  const share = resolveShare(os.spec.strategy.failureBudget, counts.total, 'floor');
  const budget = Math.max(1, share.ok ? share.count : 1);
  const paused = cond(st?.conditions, 'Paused');
  const progressing = cond(st?.conditions, 'Progressing');
  const ready = cond(st?.conditions, 'Ready');
  const halted = st?.rollout?.halted;
  let state: OSState = 'Unknown';
  let why: Cond | undefined;
  if (halted) {
    state = 'Halted';
    why = paused?.status === 'True' ? paused : { type: 'Paused', status: 'True', reason: halted.reason, message: `failed: ${halted.nodes.join(', ')}` };
  } else if (paused?.status === 'True') {
    state = 'Paused';
    why = paused;
  } else if (counts.total > 0 && counts.updated === counts.total) {
    state = 'Done';
    why = ready;
  } else if (progressing?.status === 'True') {
    state = 'Progressing';
    why = progressing;
  } else if (progressing) {
    state = 'Waiting';
    why = progressing;
  }
  const w = windowNow(os, now);
  return {
    name: os.metadata.name,
    version: os.spec.osVersion.version,
    source: os.metadata.labels?.['osfleet.dev/fleetsource'] ?? null,
    total: counts.total,
    updated: counts.updated,
    inProgress: counts.inProgress,
    pending: counts.pending,
    failed: counts.failed,
    batch: st?.currentBatch ?? 0,
    totalBatches: st?.totalBatches ?? os.spec.strategy.batches.length,
    failureBudget: budget,
    failureBudgetLeft: Math.max(0, budget - counts.failed),
    windowOpen: w.open,
    windowCloses: w.closes,
    nextWindow: w.next,
    state,
    reason: why?.reason ?? '',
    message: why?.message ?? '',
    failedNodes: st?.failedNodes ?? [],
  };
}

export function nodeView(o: OSNode): NodeView {
  const st = o.status;
  const dl = st?.download;
  return {
    name: o.metadata.name,
    os: o.spec.target?.osName ?? null,
    phase: st?.phase ?? 'Unknown',
    bootedSlot: st?.bootedSlot ?? null,
    bootedVersion: st?.bootedVersion ?? null,
    slotA: st?.slots?.A?.version ?? null,
    slotB: st?.slots?.B?.version ?? null,
    targetVersion: o.spec.target?.version ?? null,
    download: st?.phase === 'Downloading' && dl?.bytesTotal ? Math.min(1, dl.bytesDone / dl.bytesTotal) : null,
    message: st?.message ?? '',
  };
}

export function eventView(e: EventObj): EventView {
  const time = e.series?.lastObservedTime ?? e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? e.metadata.creationTimestamp ?? '';
  const obj = e.involvedObject ?? e.regarding;
  return {
    time,
    type: e.type ?? 'Normal',
    reason: e.reason ?? '',
    object: `${obj?.kind ?? '?'}/${obj?.name ?? '?'}`,
    message: e.message ?? '',
    count: e.series?.count ?? e.count ?? 1,
  };
}

/** The newest `limit` events, newest first. */
export function recentEvents(events: Iterable<EventObj>, limit = 30): EventView[] {
  return [...events].map(eventView).sort((a, b) => (a.time < b.time ? 1 : a.time > b.time ? -1 : 0)).slice(0, limit);
}

const byName = <T extends { name: string }>(a: T, b: T) => a.name.localeCompare(b.name);

export interface FleetInput {
  sources: Iterable<FleetSource>;
  oses: Iterable<OS>;
  osnodes: Iterable<OSNode>;
  events: Iterable<EventObj>;
  /** Node labels: a node the controller has not given a target yet belongs to the OS selecting it. */
  nodeLabels?: (name: string) => Record<string, string> | undefined;
}

export function fleetView(input: FleetInput, now: number): FleetView {
  const oses = [...input.oses];
  const matcher = (o: OS) => {
    try {
      return selectorMatcher(o.spec.nodeSelector);
    } catch {
      return () => false; // an invalid selector selects nothing here, as in the controller
    }
  };
  const matchers = oses.map((o) => ({ name: o.metadata.name, match: matcher(o) }));
  const nodes = [...input.osnodes].map((o) => {
    const v = nodeView(o);
    if (v.os === null && input.nodeLabels) {
      const labels = input.nodeLabels(v.name);
      const hits = labels ? matchers.filter((m) => m.match(labels)) : [];
      if (hits.length === 1) v.os = hits[0]!.name;
    }
    return v;
  });
  return {
    sources: [...input.sources].map(sourceView).sort(byName),
    oses: oses.map((o) => osView(o, now)).sort(byName),
    nodes: nodes.sort(byName),
    events: recentEvents(input.events),
  };
}
