import { describe, expect, it } from 'vitest';
import { batchBoundaries, orderNodes, splitBatches } from './order.js';

const node = (name: string, zone?: string): { name: string; labels: Record<string, string> } => ({
  name,
  labels: zone ? { 'topology.kubernetes.io/zone': zone } : {},
});

describe('node order', () => {
  it('takes turns across zones sorted by name, nodes by name within a zone, unzoned last', () => {
    const nodes = [node('c', 'z2'), node('a', 'z2'), node('b', 'z1'), node('d', 'z1'), node('e', 'z3'), node('x'), node('f', 'z1')];
    expect(orderNodes(nodes).map((n) => n.name)).toEqual(['b', 'a', 'e', 'x', 'd', 'c', 'f']);
  });
  it('does not depend on the input order', () => {
    const nodes = [node('n3', 'b'), node('n1', 'a'), node('n2', 'b'), node('n0', 'a')];
    expect(orderNodes(nodes).map((n) => n.name)).toEqual(orderNodes([...nodes].reverse()).map((n) => n.name));
  });
});

describe('batches', () => {
  it('are cumulative shares: 1 node, then ceil(10%), then 50%, then all', () => {
    expect(batchBoundaries([1, '10%', '50%', '100%'], 30)).toEqual([1, 3, 15, 30]);
    expect(batchBoundaries([1, '10%', '50%', '100%'], 95)).toEqual([1, 10, 48, 95]);
  });
  it('clamp to the fleet and leave empty batches when the fleet is small', () => {
    expect(splitBatches(['a', 'b'], [1, '10%', '100%'])).toEqual([['a'], [], ['b']]);
  });
  it('always end with every node, even when the last share is short of 100%', () => {
    expect(batchBoundaries([1, '50%'], 10)).toEqual([1, 10]);
  });
});
