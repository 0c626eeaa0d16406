import { describe, expect, it } from 'vitest';
import { matchesSelector, validateSelector } from './selector.js';

const worker = { 'node-role.kubernetes.io/worker': '', zone: 'a', gpu: 'a100' };

describe('LabelSelector matching (Kubernetes semantics)', () => {
  it('an empty selector selects every node; an absent one selects none', () => {
    expect(matchesSelector({}, worker)).toBe(true);
    expect(matchesSelector(undefined, worker)).toBe(false);
  });
  it('matchLabels needs every pair, including empty values', () => {
    expect(matchesSelector({ matchLabels: { 'node-role.kubernetes.io/worker': '' } }, worker)).toBe(true);
    expect(matchesSelector({ matchLabels: { 'node-role.kubernetes.io/worker': '', zone: 'b' } }, worker)).toBe(false);
    expect(matchesSelector({ matchLabels: { missing: '' } }, worker)).toBe(false);
  });
  it('In needs the key and one of the values; NotIn also matches nodes without the key', () => {
    expect(matchesSelector({ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a', 'b'] }] }, worker)).toBe(true);
    expect(matchesSelector({ matchExpressions: [{ key: 'rack', operator: 'In', values: ['a'] }] }, worker)).toBe(false);
    expect(matchesSelector({ matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['a'] }] }, worker)).toBe(false);
    expect(matchesSelector({ matchExpressions: [{ key: 'rack', operator: 'NotIn', values: ['a'] }] }, worker)).toBe(true);
  });
  it('Exists and DoesNotExist look only at the key', () => {
    expect(matchesSelector({ matchExpressions: [{ key: 'gpu', operator: 'Exists' }] }, worker)).toBe(true);
    expect(matchesSelector({ matchExpressions: [{ key: 'gpu', operator: 'DoesNotExist' }] }, worker)).toBe(false);
    expect(matchesSelector({ matchExpressions: [{ key: 'toString', operator: 'Exists' }] }, worker)).toBe(false);
  });
  it('matchLabels and matchExpressions are ANDed', () => {
    const sel = { matchLabels: { zone: 'a' }, matchExpressions: [{ key: 'gpu', operator: 'NotIn' as const, values: ['a100'] }] };
    expect(matchesSelector(sel, worker)).toBe(false);
  });
  it('reports operators used wrongly, and refuses to match with them', () => {
    expect(validateSelector({ matchExpressions: [{ key: 'a', operator: 'In', values: [] }] })[0]).toContain('needs at least one value');
    expect(validateSelector({ matchExpressions: [{ key: 'a', operator: 'Exists', values: ['x'] }] })[0]).toContain('takes no values');
    expect(() => matchesSelector({ matchExpressions: [{ key: 'a', operator: 'Gt' as never, values: ['1'] }] }, worker)).toThrow(/unknown/);
  });
});
