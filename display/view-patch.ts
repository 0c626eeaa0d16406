// What changed between two views, as the message the page applies: whole sections when they
// changed, node rows one by one (a fleet of thousands changes a few rows at a time). Pure.
import type { FleetView, NodeView } from './fleet-view.js';
import type { Timeline } from '../rollout/timeline.js';

export interface PageState {
  view: FleetView;
  timelines: Timeline[];
}

export interface ViewPatch {
  /** The server's clock (epoch ms): countdowns and "now" are drawn from it, not the browser's. */
  now: number;
  sources?: FleetView['sources'];
  oses?: FleetView['oses'];
  events?: FleetView['events'];
  timelines?: Timeline[];
  nodes?: { set: NodeView[]; remove: string[] };
}

/** Serialized sections and rows of what the page was last sent. */
export interface SentState {
  sources: string;
  oses: string;
  events: string;
  timelines: string;
  nodes: Map<string, string>;
}

export function emptySent(): SentState {
  return { sources: '', oses: '', events: '', timelines: '', nodes: new Map() };
}

/** The patch from `sent` to `next`, and the new sent state; `full` sends everything. */
export function diffView(sent: SentState, next: PageState, now: number, full = false): { patch: ViewPatch; sent: SentState; empty: boolean } {
  const patch: ViewPatch = { now };
  const out: SentState = { sources: '', oses: '', events: '', timelines: '', nodes: new Map() };
  let empty = true;
  const section = <K extends 'sources' | 'oses' | 'events' | 'timelines'>(key: K, value: ViewPatch[K]) => {
    const json = JSON.stringify(value);
    out[key] = json;
    if (full || json !== sent[key]) {
      (patch as unknown as Record<string, unknown>)[key] = value;
      empty = false;
    }
  };
  section('sources', next.view.sources);
  section('oses', next.view.oses);
  section('events', next.view.events);
  section('timelines', next.timelines);
  const set: NodeView[] = [];
  for (const n of next.view.nodes) {
    const json = JSON.stringify(n);
    out.nodes.set(n.name, json);
    if (full || sent.nodes.get(n.name) !== json) set.push(n);
  }
  const remove = full ? [] : [...sent.nodes.keys()].filter((k) => !out.nodes.has(k));
  if (set.length || remove.length || full) {
    patch.nodes = { set, remove };
    empty = false;
  }
  return { patch, sent: out, empty };
}
