// The planner's RolloutMemory lives in OS.status.rollout as is (the CRD schema has the same shape),
// so a restarted controller resumes from cluster state alone.
import type { OSStatus } from '../api/resources.js';
import type { HaltReason, RolloutMemory } from './types.js';

type StatusRollout = NonNullable<OSStatus['rollout']>;

export function memoryToStatus(m: RolloutMemory): StatusRollout {
  return {
    revision: m.revision,
    currentBatch: m.currentBatch,
    batchWorked: m.batchWorked,
    attempt: m.attempt,
    ...(m.soakUntil ? { soakUntil: m.soakUntil } : {}),
    ...(m.halted ? { halted: { ...m.halted, nodes: [...m.halted.nodes] } } : {}),
  };
}

/** The memory a previous plan persisted; undefined for a fresh OS. */
export function memoryFromStatus(status: OSStatus | undefined): RolloutMemory | undefined {
  const r = status?.rollout;
  if (!r?.revision) return undefined;
  return {
    revision: r.revision,
    currentBatch: r.currentBatch,
    batchWorked: r.batchWorked,
    attempt: r.attempt,
    ...(r.soakUntil ? { soakUntil: r.soakUntil } : {}),
    ...(r.halted ? { halted: { ...r.halted, reason: r.halted.reason as HaltReason, nodes: [...r.halted.nodes] } } : {}),
  };
}
