// Maps the planner's RolloutMemory onto OS.status.rollout and back. The CRD field has a fixed shape
// (targetKey, batchCompletedAt, completedBatches, halted*), so the planner's extra bits travel inside
// targetKey ("<revision>;a<attempt>;w<batchWorked>"), and the soak deadline is stored as
// the instant the batch completed (soakUntil - soak), which is what a person reading status expects.
import type { OSStatus } from '../../api/resources.js';
import type { HaltReason, RolloutMemory } from '../../rollout/types.js';

type StatusRollout = NonNullable<OSStatus['rollout']>;

export function memoryToStatus(m: RolloutMemory, soakMs: number): StatusRollout {
  const out: StatusRollout = {
    targetKey: `${m.revision};a${m.attempt};w${m.batchWorked ? 1 : 0}`,
    completedBatches: m.currentBatch,
  };
  if (m.soakUntil) out.batchCompletedAt = new Date(Date.parse(m.soakUntil) - soakMs).toISOString();
  if (m.halted) {
    out.haltedReason = m.halted.reason;
    out.haltedGeneration = m.halted.generation;
    out.haltedPaused = m.halted.pausedSeen;
  }
  return out;
}

/** The memory a previous plan persisted; undefined for a fresh OS (or one written by an unknown version). */
export function memoryFromStatus(status: OSStatus | undefined, soakMs: number): RolloutMemory | undefined {
  const r = status?.rollout;
  if (!r?.targetKey) return undefined;
  const m = /^(.*);a(-?\d+);w([01])$/.exec(r.targetKey);
  const mem: RolloutMemory = {
    revision: m ? m[1]! : r.targetKey,
    currentBatch: r.completedBatches ?? 0,
    batchWorked: m ? m[3] === '1' : true,
    attempt: m ? Number(m[2]) : 0,
  };
  if (r.batchCompletedAt) mem.soakUntil = new Date(Date.parse(r.batchCompletedAt) + soakMs).toISOString();
  if (r.haltedReason) {
    mem.halted = {
      reason: r.haltedReason as HaltReason,
      generation: r.haltedGeneration ?? 0,
      nodes: [...(status?.failedNodes ?? [])],
      pausedSeen: r.haltedPaused ?? false,
    };
  }
  return mem;
}
