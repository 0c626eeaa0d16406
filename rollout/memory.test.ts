import { describe, expect, it } from 'vitest';
import type { RolloutMemory } from './types.js';
import { memoryFromStatus, memoryToStatus } from './memory.js';

describe('rollout memory in OS.status', () => {
  it('survives the round trip through the CRD fields', () => {
    const m: RolloutMemory = {
      revision: 'abc123',
      currentBatch: 2,
      batchWorked: true,
      soakUntil: '2026-03-29T01:30:00.000Z',
      halted: { reason: 'FailureBudgetReached', generation: 4, nodes: ['n1', 'n2'], pausedSeen: true },
      attempt: 3,
    };
    expect(memoryFromStatus({ rollout: memoryToStatus(m) })).toEqual(m);
  });

  it('is absent for an OS that never had a plan', () => {
    expect(memoryFromStatus(undefined)).toBeUndefined();
    expect(memoryFromStatus({})).toBeUndefined();
  });
});
