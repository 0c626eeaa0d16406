import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { RolloutMetrics } from './metrics.js';

const series = async (r: Registry, name: string) => (await r.getSingleMetric(name)!.get()).values.map((v) => ({ ...v.labels, value: v.value }));

describe('rollout metrics the alerts read', () => {
  it('keep one phase-since series per busy node, restart it on a phase change, and drop it at Idle or Done', async () => {
    const r = new Registry();
    const m = new RolloutMetrics(r);
    m.setNodePhases([{ name: 'a', phase: 'Rebooting' }, { name: 'b', phase: 'Done' }], 100);
    m.setNodePhases([{ name: 'a', phase: 'Rebooting' }, { name: 'b', phase: 'Done' }], 160);
    expect(await series(r, 'osfleet_osnode_phase_since_timestamp_seconds')).toEqual([{ node: 'a', phase: 'Rebooting', value: 100 }]);
    m.setNodePhases([{ name: 'a', phase: 'Verifying' }], 200);
    expect(await series(r, 'osfleet_osnode_phase_since_timestamp_seconds')).toEqual([{ node: 'a', phase: 'Verifying', value: 200 }]);
    m.setNodePhases([{ name: 'a', phase: 'Done' }], 300);
    expect(await series(r, 'osfleet_osnode_phase_since_timestamp_seconds')).toEqual([]);
  });

  it('mark a halted or paused OS with its reason, and clear it on resume or when the OS goes', async () => {
    const r = new Registry();
    const m = new RolloutMetrics(r);
    m.setPaused('workers', 'FailureBudgetReached');
    expect(await series(r, 'osfleet_rollout_paused')).toEqual([{ os: 'workers', reason: 'FailureBudgetReached', value: 1 }]);
    m.setPaused('workers', 'PausedByUser');
    expect(await series(r, 'osfleet_rollout_paused')).toEqual([{ os: 'workers', reason: 'PausedByUser', value: 1 }]);
    m.setPaused('workers', null);
    expect(await series(r, 'osfleet_rollout_paused')).toEqual([]);
    m.setPaused('edge', 'CanaryFailed');
    m.retainOS(new Set());
    expect(await series(r, 'osfleet_rollout_paused')).toEqual([]);
  });
});
