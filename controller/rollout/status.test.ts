import { describe, expect, it } from 'vitest';
import { statusPatch } from './status.js';

describe('statusPatch', () => {
  it('nulls keys removed inside nested objects, so a finished soak does not linger in rollout.batchCompletedAt', () => {
    const prev = { rollout: { targetKey: 'r;a0;w1', completedBatches: 1, batchCompletedAt: '2026-01-05T00:10:00.000Z' }, counts: { total: 5 } };
    const next = { rollout: { targetKey: 'r2;a0;w0', completedBatches: 0 }, counts: { total: 5 } };
    expect(statusPatch(prev, next)).toEqual({ rollout: { targetKey: 'r2;a0;w0', completedBatches: 0, batchCompletedAt: null }, counts: { total: 5 } });
  });

  it('nulls removed top-level keys and leaves arrays to be replaced whole', () => {
    expect(statusPatch({ nextWindow: 'x', failedNodes: ['a'] }, { failedNodes: [] })).toEqual({ nextWindow: null, failedNodes: [] });
  });
});
