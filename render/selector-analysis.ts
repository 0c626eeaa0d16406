// Static reasoning about label selectors, without any nodes: a canonical form (to find two policies with
// the same selector however it is written), and whether two selectors can ever match the same node.
// (Matching a selector against a node's labels lives in rollout/selector.ts.)
import type { LabelSelector } from '../api/common.js';

interface KeyConstraint {
  /** true: the key must exist; false: must not exist; undefined: either. */
  exists?: boolean;
  /** The value must be one of these (implies exists). */
  in?: Set<string>;
  /** The value must not be one of these (a node without the key also passes). */
  notIn: Set<string>;
}

type Normalised = { never: boolean; keys: Map<string, KeyConstraint> };

function add(keys: Map<string, KeyConstraint>, key: string, op: string, values: readonly string[]): void {
  let c = keys.get(key);
  if (!c) {
    c = { notIn: new Set() };
    keys.set(key, c);
  }
  switch (op) {
    case 'In': {
      const s = new Set(values);
      c.in = c.in ? new Set([...c.in].filter((v) => s.has(v))) : s;
      c.exists = c.exists === false ? false : true;
      if (c.exists === false) c.in = new Set(); // contradiction, caught below
      break;
    }
    case 'NotIn':
      for (const v of values) c.notIn.add(v);
      break;
    case 'Exists':
      c.exists = c.exists === false ? undefined : true;
      if (c.exists === undefined) c.in = new Set(); // Exists and DoesNotExist: contradiction
      break;
    case 'DoesNotExist':
      if (c.exists === true) c.in = new Set();
      else c.exists = false;
      break;
    default:
      break;
  }
}

function settle(keys: Map<string, KeyConstraint>): Normalised {
  let never = false;
  for (const c of keys.values()) {
    if (c.in) {
      c.in = new Set([...c.in].filter((v) => !c.notIn.has(v)));
      c.notIn = new Set();
      c.exists = true;
      if (c.in.size === 0) never = true;
    } else if (c.exists === false) {
      c.notIn = new Set();
    }
  }
  return { never, keys };
}

function text(v: unknown): string {
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : '\u0000';
}

function requirements(sel: LabelSelector | undefined): Array<[string, string, string[]]> {
  const out: Array<[string, string, string[]]> = [];
  if (!sel || typeof sel !== 'object') return out;
  for (const [k, v] of Object.entries(sel.matchLabels && typeof sel.matchLabels === 'object' ? sel.matchLabels : {})) out.push([k, 'In', [text(v)]]);
  for (const e of Array.isArray(sel.matchExpressions) ? sel.matchExpressions : []) {
    if (!e || typeof e !== 'object') continue;
    out.push([text(e.key), text(e.operator), Array.isArray(e.values) ? e.values.map(text) : []]);
  }
  return out;
}

function normalise(...sels: Array<LabelSelector | undefined>): Normalised {
  const keys = new Map<string, KeyConstraint>();
  for (const sel of sels) for (const [k, op, vs] of requirements(sel)) add(keys, k, op, vs);
  return settle(keys);
}

/** A string equal for two selectors exactly when they select the same nodes by the same requirements. */
export function canonicalSelector(sel: LabelSelector | undefined): string {
  const n = normalise(sel);
  if (n.never) return '<never>';
  const parts: string[] = [];
  for (const key of [...n.keys.keys()].sort()) {
    const c = n.keys.get(key)!;
    if (c.in) parts.push(`${key} in (${[...c.in].sort().join(',')})`);
    else if (c.exists === false) parts.push(`!${key}`);
    else {
      if (c.exists === true) parts.push(key);
      if (c.notIn.size > 0) parts.push(`${key} notin (${[...c.notIn].sort().join(',')})`);
    }
  }
  return parts.join(', ');
}

/** True when no node can satisfy the selector (e.g. `a In [x]` together with `a NotIn [x]`). */
export function selectorNeverMatches(sel: LabelSelector | undefined): boolean {
  return normalise(sel).never;
}

/** A selector reduced to per-key constraints, for many pairwise comparisons. */
export type NormalisedSelector = Normalised;

export function normaliseSelector(sel: LabelSelector | undefined): NormalisedSelector {
  return normalise(sel);
}

function constraintsExclude(a: KeyConstraint, b: KeyConstraint): boolean {
  const aExists = a.in ? true : a.exists;
  const bExists = b.in ? true : b.exists;
  if ((aExists === true && bExists === false) || (aExists === false && bExists === true)) return true;
  if (a.in && b.in) {
    for (const v of a.in) if (b.in.has(v)) return false;
    return true;
  }
  if (a.in && b.notIn.size) return [...a.in].every((v) => b.notIn.has(v));
  if (b.in && a.notIn.size) return [...b.in].every((v) => a.notIn.has(v));
  return false;
}

/** Disjointness of two normalised selectors: some key has requirements no label value meets on both sides. */
export function normalisedDisjoint(a: NormalisedSelector, b: NormalisedSelector): boolean {
  if (a.never || b.never) return true;
  const [small, large] = a.keys.size <= b.keys.size ? [a, b] : [b, a];
  for (const [k, c] of small.keys) {
    const o = large.keys.get(k);
    if (o && constraintsExclude(c, o)) return true;
  }
  return false;
}

/** True when no node can be matched by both selectors (provably, from the selectors alone). */
export function selectorsDisjoint(a: LabelSelector | undefined, b: LabelSelector | undefined): boolean {
  return normalisedDisjoint(normalise(a), normalise(b));
}

/** True when the selector selects every node. */
export function selectsEverything(sel: LabelSelector | undefined): boolean {
  return requirements(sel).length === 0;
}

/** Human form of a selector for reports: `node-role.kubernetes.io/worker=, zone in (a,b)` or `all nodes`. */
export function describeSelector(sel: LabelSelector | undefined): string {
  const reqs = requirements(sel);
  if (reqs.length === 0) return 'all nodes';
  return reqs
    .map(([k, op, vs]) => {
      switch (op) {
        case 'In':
          return vs.length === 1 ? `${k}=${vs[0]}` : `${k} in (${vs.join(', ')})`;
        case 'NotIn':
          return `${k} notin (${vs.join(', ')})`;
        case 'Exists':
          return k;
        case 'DoesNotExist':
          return `!${k}`;
        default:
          return `${k} ${op}`;
      }
    })
    .join(', ');
}
