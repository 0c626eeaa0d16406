import { describe, expect, it } from 'vitest';
import { statusPatch } from './status.js';

describe('statusPatch', () => {
  it('nulls keys removed inside nested objects, so a finished soak does not linger in rollout.soakUntil', () => {
    const prev = { rollout: { revision: 'r', currentBatch: 1, batchWorked: true, attempt: 0, soakUntil: '2026-01-05T00:10:00.000Z' }, counts: { total: 5 } };
    const next = { rollout: { revision: 'r2', currentBatch: 0, batchWorked: false, attempt: 0 }, counts: { total: 5 } };
    expect(statusPatch(prev, next)).toEqual({ rollout: { revision: 'r2', currentBatch: 0, batchWorked: false, attempt: 0, soakUntil: null }, counts: { total: 5 } });
  });

  it('nulls removed top-level keys and leaves arrays to be replaced whole', () => {
    expect(statusPatch({ nextWindow: 'x', failedNodes: ['a'] }, { failedNodes: [] })).toEqual({ nextWindow: null, failedNodes: [] });
  });
});
