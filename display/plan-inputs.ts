// Whether a watched change can change the planned timeline: the simulation reads OS and OSConfig
// specs and rollout memory, Node labels, and what each node runs; an agent's message, a download's
// progress or an Event cannot move it, and re-running a seconds-long simulation for them would
// only burn CPU. Pure.
import type { FleetKind } from './live-fleet.js';

interface Obj {
  metadata: { name: string; generation?: number; labels?: Record<string, string> };
  spec?: unknown;
  status?: { bootedVersion?: string; appliedConfigHash?: string; phase?: string; rollout?: unknown; slots?: unknown };
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

export function changesPlan(kind: FleetKind, obj: unknown, old: unknown): boolean {
  const n = obj as Obj;
  const o = old as Obj | undefined;
  if (!o) return kind !== 'events' && kind !== 'sources';
  switch (kind) {
    case 'events':
    case 'sources':
      return false;
    case 'nodes':
      return !same(n.metadata.labels, o.metadata.labels);
    case 'oses':
      return !same(n.spec, o.spec) || !same(n.status?.rollout, o.status?.rollout);
    case 'configs':
      return !same(n.spec, o.spec);
    case 'osnodes':
      return (
        !same(n.spec, o.spec) ||
        n.status?.bootedVersion !== o.status?.bootedVersion ||
        n.status?.appliedConfigHash !== o.status?.appliedConfigHash ||
        n.status?.phase !== o.status?.phase
      );
  }
}
