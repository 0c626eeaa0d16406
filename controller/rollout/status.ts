// OS and OSConfig status from what the planner reported: conditions keep their lastTransitionTime
// while their status stays the same, and a status is written only when it differs from what the
// object already carries.
import type { Condition } from '../../api/common.js';
import type { OSConfigStatus, OSStatus } from '../../api/resources.js';
import type { PolicyStatus } from '../../rollout/types.js';
import { memoryToStatus } from '../../rollout/memory.js';

export interface WindowFacts {
  windowOpen: boolean;
  /** ISO 8601: the next instant a window opens (after the current one, when one is open). */
  nextWindow?: string;
}

export function mergeConditions(prev: readonly Condition[] | undefined, next: readonly Omit<Condition, 'lastTransitionTime'>[], now: Date): Condition[] {
  const nowIso = now.toISOString().replace(/\.\d{3}Z$/, 'Z');
  return next.map((c) => {
    const old = prev?.find((p) => p.type === c.type);
    const lastTransitionTime = old && old.status === c.status && old.lastTransitionTime ? old.lastTransitionTime : nowIso;
    return { ...c, lastTransitionTime };
  });
}

export function buildOSStatus(
  ps: PolicyStatus,
  prev: OSStatus | undefined,
  generation: number,
  win: WindowFacts,
  now: Date,
): OSStatus {
  const complete = ps.counts.total > 0 && ps.counts.updated === ps.counts.total;
  const untouched = ps.memory.currentBatch === 0 && !ps.memory.batchWorked && ps.counts.inProgress === 0 && ps.counts.updated < ps.counts.total;
  const status: OSStatus = {
    observedGeneration: generation,
    counts: {
      total: ps.counts.total,
      updated: ps.counts.updated,
      inProgress: ps.counts.inProgress,
      pending: ps.counts.pending,
      failed: ps.counts.failed,
    },
    // 1-based in status; 0 before the first batch started.
    currentBatch: complete ? ps.totalBatches : untouched ? 0 : Math.min(ps.currentBatch + 1, ps.totalBatches),
    totalBatches: ps.totalBatches,
    windowOpen: win.windowOpen,
    failedNodes: [...ps.failedNodes],
    conflictNodes: [...ps.conflictedNodes],
    rollout: memoryToStatus(ps.memory),
    conditions: mergeConditions(prev?.conditions, ps.conditions, now),
  };
  if (win.nextWindow) status.nextWindow = win.nextWindow;
  return status;
}

/** Deep equality of two JSON values, ignoring key order. */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((x, i) => sameJson(x, bb[i]));
  }
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  const ak = Object.keys(ao).filter((k) => ao[k] !== undefined);
  const bk = Object.keys(bo).filter((k) => bo[k] !== undefined);
  return ak.length === bk.length && ak.every((k) => sameJson(ao[k], bo[k]));
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * A merge patch that turns `prev` into `next` (removed keys become null). A merge patch merges
 * nested objects, so keys removed inside one (e.g. rollout.batchCompletedAt when a soak ends) are
 * nulled too; otherwise they would stay on the object and be read back as current.
 */
export function statusPatch(prev: object | undefined, next: object): Record<string, unknown> {
  const patch: Record<string, unknown> = { ...(next as Record<string, unknown>) };
  const old = (prev ?? {}) as Record<string, unknown>;
  for (const k of Object.keys(old)) {
    if (!(k in next) || (next as Record<string, unknown>)[k] === undefined) patch[k] = null;
    else if (isPlainObject(old[k]) && isPlainObject(patch[k])) patch[k] = statusPatch(old[k] as object, patch[k] as object);
  }
  return patch;
}

export function buildOSConfigStatus(generation: number, matched: number, applied: number, prev: OSConfigStatus | undefined, now: Date): OSConfigStatus {
  const ready = matched > 0 && applied === matched;
  return {
    observedGeneration: generation,
    matchedNodes: matched,
    appliedNodes: applied,
    conditions: mergeConditions(
      prev?.conditions,
      [
        matched === 0
          ? { type: 'Ready', status: 'False', reason: 'NoNodes', message: 'The node selector matches no node.', observedGeneration: generation }
          : ready
            ? { type: 'Ready', status: 'True', reason: 'Applied', message: `Applied on all ${matched} node(s).`, observedGeneration: generation }
            : {
                type: 'Ready',
                status: 'False',
                reason: 'RollingOut',
                message: `Applied on ${applied} of ${matched} node(s); the rest follow their OS rollout policy.`,
                observedGeneration: generation,
              },
      ],
      now,
    ),
  };
}
