import { describe, expect, it } from 'vitest';
import { simulate, type SimNode } from './simulate.js';
import type { RolloutPolicy } from './types.js';

const fleet: SimNode[] = Array.from({ length: 6 }, (_, i) => ({
  name: `worker-${i}`,
  labels: { 'node-role.kubernetes.io/worker': '', 'topology.kubernetes.io/zone': i % 2 ? 'b' : 'a' },
  osVersion: '24.03',
}));

const workers: RolloutPolicy = {
  name: 'workers',
  generation: 1,
  selector: { matchLabels: { 'node-role.kubernetes.io/worker': '' } },
  target: { version: '24.03-SP1', image: { url: 'https://images.example.com/root.img', sha256: 'a'.repeat(64) } },
  strategy: { batches: [1, '50%', '100%'], maxUnavailable: 1, soakMs: 30 * 60_000, failureBudget: 1, stageOutsideWindows: true },
  maintenanceWindows: [{ schedule: '0 2 * * 1-5', duration: '4h', timeZone: 'Europe/Berlin' }],
  denyWindows: [{ schedule: '0 0 20 12 *', duration: '336h', timeZone: 'UTC' }],
  paused: false,
};

describe('simulate (osfleet plan)', () => {
  it('lists each batch with its nodes and when it starts, in UTC and the policy zone', () => {
    const report = simulate(fleet, [workers], Date.parse('2026-03-27T12:00:00Z')); // Friday before Berlin's DST change
    const p = report.policies[0]!;
    expect(p.batches.map((b) => [b.index, b.nodes, b.start, b.startLocal])).toEqual([
      [0, ['worker-0'], '2026-03-30T00:00:00.000Z', '2026-03-30T02:00:00+02:00'],
      [1, ['worker-1', 'worker-2'], '2026-03-30T00:30:00.000Z', '2026-03-30T02:30:00+02:00'],
      [2, ['worker-3', 'worker-4', 'worker-5'], '2026-03-30T01:00:00.000Z', '2026-03-30T03:00:00+02:00'],
    ]);
    expect(p.batches.flatMap((b) => b.reboot)).toHaveLength(6);
    expect(p.notUpdated).toEqual([]);
    expect(p.problem).toBeNull();
    // The JSON shape the CLI promises.
    const json = JSON.parse(JSON.stringify({ policies: report.policies.map((x) => ({ name: x.name, batches: x.batches.map(({ index, nodes, start }) => ({ index, nodes, start })) })) }));
    expect(json.policies[0].batches[0]).toEqual({ index: 0, nodes: ['worker-0'], start: '2026-03-30T00:00:00.000Z' });
  });

  it('waits out a deny window', () => {
    const p = simulate(fleet, [workers], Date.parse('2026-12-19T12:00:00Z')).policies[0]!;
    expect(p.batches[0]!.start).toBe('2027-01-04T01:00:00.000Z');
  });

  it('reports a policy that never gets a window within the simulated time', () => {
    const never: RolloutPolicy = { ...workers, denyWindows: [{ schedule: '0 0 * * *', duration: '48h', timeZone: 'UTC' }] };
    const p = simulate(fleet, [never], Date.parse('2026-06-01T00:00:00Z')).policies[0]!;
    expect(p.finishedAt).toBeNull();
    expect(p.notUpdated).toHaveLength(6);
    expect(p.problem?.reason).toBe('NoWindowScheduled');
  });
});
