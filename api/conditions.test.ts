import { describe, expect, it } from 'vitest';
import { conditionChanged, setCondition } from './conditions.js';

const t0 = new Date('2026-01-01T00:00:00Z');
const t1 = new Date('2026-01-01T01:00:00Z');

describe('setCondition', () => {
  it('keeps lastTransitionTime when only reason or message change', () => {
    const a = setCondition([], { type: 'Ready', status: 'False', reason: 'FetchFailed', message: 'x' }, t0);
    const b = setCondition(a, { type: 'Ready', status: 'False', reason: 'ValidationFailed', message: 'y' }, t1);
    expect(b[0]?.lastTransitionTime).toBe(t0.toISOString());
    expect(b[0]?.reason).toBe('ValidationFailed');
  });
  it('moves lastTransitionTime when the status flips, and keeps other types sorted', () => {
    const a = setCondition([], { type: 'Ready', status: 'False', reason: 'R', message: '' }, t0);
    const b = setCondition(a, { type: 'Fetched', status: 'True', reason: 'Succeeded', message: '' }, t0);
    const c = setCondition(b, { type: 'Ready', status: 'True', reason: 'Succeeded', message: '' }, t1);
    expect(c.map((x) => x.type)).toEqual(['Fetched', 'Ready']);
    expect(c[1]?.lastTransitionTime).toBe(t1.toISOString());
  });
  it('reports whether a condition would change', () => {
    const a = setCondition([], { type: 'Ready', status: 'True', reason: 'Succeeded', message: 'm', observedGeneration: 2 }, t0);
    expect(conditionChanged(a, { type: 'Ready', status: 'True', reason: 'Succeeded', message: 'm', observedGeneration: 2 })).toBe(false);
    expect(conditionChanged(a, { type: 'Ready', status: 'True', reason: 'Succeeded', message: 'm', observedGeneration: 3 })).toBe(true);
  });
});
