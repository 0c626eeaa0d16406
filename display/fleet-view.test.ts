import { describe, expect, it } from 'vitest';
import type { FleetSource, OS, OSNode } from '../api/resources.js';
import { fleetView, osView, nodeView, sourceView } from './fleet-view.js';
import { diffView, emptySent } from './view-patch.js';

const now = Date.parse('2026-11-25T12:00:00Z'); // Wednesday

function os(over: { status?: OS['status']; failureBudget?: number | string; windows?: OS['spec']['maintenanceWindows'] } = {}): OS {
  return {
    apiVersion: 'osfleet.dev/v1alpha1',
    kind: 'OS',
    metadata: { name: 'workers', labels: { 'osfleet.dev/fleetsource': 'prod' } },
    spec: {
      osVersion: { name: 'v2', version: '2.0', image: { url: 'https://img.example/2.0', sha256: 'a'.repeat(64) } },
      nodeSelector: {},
      strategy: { batches: [1, '50%', '100%'], maxUnavailable: 1, soak: '1h', failureBudget: over.failureBudget ?? '20%', stageOutsideWindows: false },
      maintenanceWindows: over.windows ?? [{ schedule: '0 1 * * *', duration: '4h', timeZone: 'Europe/Berlin' }],
      denyWindows: [],
      drain: { timeout: '10m', onTimeout: 'fail', deleteEmptyDirData: false, ignoreDaemonSets: true },
      healthChecks: [],
      paused: false,
    },
    ...(over.status ? { status: over.status } : {}),
  } as unknown as OS;
}

describe('the fleet view', () => {
  it('shows a halted rollout as Halted with the controller reason, and the failure budget spent', () => {
    const v = osView(
      os({
        status: {
          counts: { total: 10, updated: 3, inProgress: 0, pending: 5, failed: 2 },
          currentBatch: 2,
          totalBatches: 3,
          failedNodes: ['w-4', 'w-5'],
          rollout: { revision: 'r', currentBatch: 1, batchWorked: true, attempt: 0, halted: { reason: 'FailureBudgetReached', generation: 1, nodes: ['w-4', 'w-5'], pausedSeen: false } },
          conditions: [{ type: 'Paused', status: 'True', reason: 'FailureBudgetReached', message: '2 nodes failed (budget 2): w-4, w-5', observedGeneration: 1, lastTransitionTime: '2026-11-25T11:00:00Z' }],
        },
      }),
      now,
    );
    expect(v).toMatchObject({ state: 'Halted', reason: 'FailureBudgetReached', message: '2 nodes failed (budget 2): w-4, w-5', failureBudget: 2, failureBudgetLeft: 0, batch: 2, totalBatches: 3, source: 'prod' });
  });

  it('counts down to the next window in the policy zone, and knows when an open one closes', () => {
    // 01:00-05:00 Berlin; at 12:00 UTC the next opens Thursday 00:00 UTC.
    expect(osView(os(), now)).toMatchObject({ windowOpen: false, nextWindow: '2026-11-26T00:00:00.000Z', windowCloses: null });
    expect(osView(os(), Date.parse('2026-11-26T01:00:00Z'))).toMatchObject({ windowOpen: true, windowCloses: '2026-11-26T04:00:00.000Z', nextWindow: '2026-11-27T00:00:00.000Z' });
    expect(osView(os({ windows: [] }), now)).toMatchObject({ windowOpen: true, nextWindow: null });
  });

  it('reads a node: phase, slots, booted version and download progress', () => {
    const n = nodeView({
      apiVersion: 'osfleet.dev/v1alpha1', kind: 'OSNode', metadata: { name: 'w-1' },
      spec: { nodeName: 'w-1', target: { osName: 'workers', version: '2.0', image: { url: 'https://img.example/2.0', sha256: 'a'.repeat(64) } } },
      status: { phase: 'Downloading', bootedSlot: 'A', bootedVersion: '1.0', slots: { A: { version: '1.0' } }, download: { bytesDone: 250, bytesTotal: 1000 } },
    } as unknown as OSNode);
    expect(n).toMatchObject({ os: 'workers', phase: 'Downloading', bootedSlot: 'A', slotA: '1.0', slotB: null, bootedVersion: '1.0', targetVersion: '2.0', download: 0.25 });
  });

  it('shows a FleetSource error with its file:line', () => {
    const s = sourceView({
      apiVersion: 'osfleet.dev/v1alpha1', kind: 'FleetSource', metadata: { name: 'prod' },
      spec: { url: 'http://127.0.0.1:1/fleet.git', ref: { branch: 'main' } },
      status: { lastAppliedRevision: 'main@sha1:abc', conditions: [{ type: 'Ready', status: 'False', reason: 'ValidationFailed', message: 'rollout/workers.yaml:7:3: error: …', observedGeneration: 1, lastTransitionTime: '2026-11-25T11:00:00Z' }] },
    } as unknown as FleetSource);
    expect(s).toMatchObject({ ready: false, reason: 'ValidationFailed', message: 'rollout/workers.yaml:7:3: error: …', ref: 'main', appliedRevision: 'main@sha1:abc' });
  });
});

describe('nodes and their OS', () => {
  it('puts a node without a target yet under the OS whose selector matches its labels', () => {
    const o = { ...os(), spec: { ...os().spec, nodeSelector: { matchLabels: { pool: 'a' } } } } as OS;
    const osnode = (name: string) => ({ apiVersion: 'osfleet.dev/v1alpha1', kind: 'OSNode', metadata: { name }, spec: { nodeName: name }, status: { phase: 'Idle' } }) as unknown as OSNode;
    const labels: Record<string, Record<string, string>> = { 'in-a': { pool: 'a' }, 'in-b': { pool: 'b' } };
    const v = fleetView({ sources: [], oses: [o], osnodes: [osnode('in-a'), osnode('in-b')], events: [], nodeLabels: (n) => labels[n] }, now);
    expect(v.nodes.map((n) => [n.name, n.os])).toEqual([['in-a', 'workers'], ['in-b', null]]);
  });
});

describe('page patches', () => {
  it('send a changed node row alone, and removals', () => {
    const node = (name: string, phase: string) =>
      ({ apiVersion: 'osfleet.dev/v1alpha1', kind: 'OSNode', metadata: { name }, spec: { nodeName: name }, status: { phase } }) as unknown as OSNode;
    const view = (nodes: OSNode[]) => fleetView({ sources: [], oses: [os()], osnodes: nodes, events: [] }, now);
    const first = diffView(emptySent(), { view: view([node('a', 'Idle'), node('b', 'Idle'), node('c', 'Idle')]), timelines: [] }, now, true);
    expect(first.patch.nodes!.set.map((n) => n.name)).toEqual(['a', 'b', 'c']);
    const second = diffView(first.sent, { view: view([node('a', 'Idle'), node('b', 'Downloading')]), timelines: [] }, now);
    expect(second.patch.nodes).toEqual({ set: [expect.objectContaining({ name: 'b', phase: 'Downloading' })], remove: ['c'] });
    expect(second.patch.oses).toBeUndefined();
    const third = diffView(second.sent, { view: view([node('a', 'Idle'), node('b', 'Downloading')]), timelines: [] }, now);
    expect(third.empty).toBe(true);
  });
});
