// The order in which a policy's nodes are updated, and how they fall into batches. Both are
// deterministic so a reviewer can predict them: zones (topology.kubernetes.io/zone) sorted by name
// take turns, nodes within a zone go by name; nodes without a zone label form a zone of their own
// that sorts after the named ones.

export const ZONE_LABEL = 'topology.kubernetes.io/zone';

export interface OrderableNode {
  name: string;
  labels: Readonly<Record<string, string>>;
}

const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Nodes round-robin across zones (sorted by zone name), each zone in node-name order. */
export function orderNodes<T extends OrderableNode>(nodes: readonly T[]): T[] {
  const zones = new Map<string, T[]>();
  const unzoned: T[] = [];
  for (const n of nodes) {
    const z = n.labels[ZONE_LABEL];
    if (z === undefined || z === '') {
      unzoned.push(n);
      continue;
    }
    let list = zones.get(z);
    if (!list) zones.set(z, (list = []));
    list.push(n);
  }
  const groups = [...zones.keys()].sort(byName).map((z) => zones.get(z)!);
  if (unzoned.length > 0) groups.push(unzoned);
  for (const g of groups) g.sort((a, b) => byName(a.name, b.name));
  if (groups.length === 1) return groups[0]!;
  const out: T[] = [];
  const longest = Math.max(0, ...groups.map((g) => g.length));
  for (let i = 0; i < longest; i++) {
    for (const g of groups) {
      const n = g[i];
      if (n !== undefined) out.push(n);
    }
  }
  return out;
}

export type BatchStep = number | string;

export type ShareResult = { ok: true; count: number } | { ok: false; error: string };

/** An int or "N%" of `total`; percentages round up (`ceil`) or down (`floor`). */
export function resolveShare(v: BatchStep, total: number, round: 'ceil' | 'floor'): ShareResult {
  if (typeof v === 'number') {
    if (!Number.isInteger(v) || v < 0) return { ok: false, error: `${v} must be a whole number of nodes or a percentage like "10%"` };
    return { ok: true, count: v };
  }
  const m = /^\s*([0-9]+(?:\.[0-9]+)?)\s*%\s*$/.exec(v);
  if (!m) {
    if (/^\s*[0-9]+\s*$/.test(v)) return { ok: true, count: Number(v) };
    return { ok: false, error: `"${v}" must be a whole number of nodes or a percentage like "10%"` };
  }
  const pct = Number(m[1]);
  if (pct < 0 || pct > 100) return { ok: false, error: `"${v}" must be between 0% and 100%` };
  const exact = (pct * total) / 100;
  // Guard against 0.1 * 30 = 3.0000000000000004 rounding up to 4.
  const rounded = Math.round(exact * 1e9) / 1e9;
  return { ok: true, count: round === 'ceil' ? Math.ceil(rounded) : Math.floor(rounded) };
}

/**
 * Cumulative node counts per batch for `total` selected nodes: batch i holds ordered nodes
 * [counts[i-1], counts[i]). Counts are clamped to `total`, never decrease, and the last is `total`
 * (the validator insists on "100%" last; a policy that forgets still finishes here).
 */
export function batchBoundaries(batches: readonly BatchStep[], total: number): number[] {
  const out: number[] = [];
  let prev = 0;
  for (const b of batches) {
    const r = resolveShare(b, total, 'ceil');
    const c = r.ok ? Math.min(total, Math.max(prev, r.count)) : prev;
    out.push(c);
    prev = c;
  }
  if (out.length === 0) out.push(total);
  else if (out[out.length - 1]! < total) out[out.length - 1] = total;
  return out;
}

/** Splits ordered nodes into batches (some may be empty when the fleet is small). */
export function splitBatches<T>(ordered: readonly T[], batches: readonly BatchStep[]): T[][] {
  const bounds = batchBoundaries(batches, ordered.length);
  const out: T[][] = [];
  let prev = 0;
  for (const b of bounds) {
    out.push(ordered.slice(prev, b));
    prev = b;
  }
  return out;
}
