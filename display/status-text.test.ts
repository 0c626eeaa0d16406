import { describe, expect, it } from 'vitest';
import type { FleetView, OSView } from './fleet-view.js';
import { bar, statusLines } from './status-text.js';

const now = Date.parse('2026-11-25T12:00:00Z');
const os: OSView = {
  name: 'workers', version: '2.0', source: 'prod', total: 10, updated: 4, inProgress: 1, pending: 4, failed: 1, batch: 2, totalBatches: 4,
  failureBudget: 1, failureBudgetLeft: 0, windowOpen: false, windowCloses: null, nextWindow: '2026-11-26T00:00:00.000Z',
  state: 'Halted', reason: 'FailureBudgetReached', message: '1 node failed: w-3', failedNodes: ['w-3'],
};
const view: FleetView = {
  sources: [{ name: 'prod', url: 'http://127.0.0.1/x.git', ref: 'main', appliedRevision: 'main@sha1:abc', fetchedRevision: 'main@sha1:abc', ready: true, reason: 'Succeeded', message: 'applied', suspended: false }],
  oses: [os],
  nodes: [
    { name: 'w-1', os: 'workers', phase: 'Done', bootedSlot: 'B', bootedVersion: '2.0', slotA: '1.0', slotB: '2.0', targetVersion: '2.0', download: null, message: '' },
    { name: 'w-2', os: 'workers', phase: 'Downloading', bootedSlot: 'A', bootedVersion: '1.0', slotA: '1.0', slotB: null, targetVersion: '2.0', download: 0.5, message: '' },
    { name: 'w-3', os: 'workers', phase: 'Failed', bootedSlot: 'A', bootedVersion: '1.0', slotA: '1.0', slotB: '2.0', targetVersion: '2.0', download: null, message: 'checksum mismatch' },
  ],
  events: [],
};

describe('osfleet status text', () => {
  it('piped: one key=value line per source, OS and busy node, no escape codes', () => {
    const lines = statusLines(view, { tty: false, now });
    expect(lines.join('\n')).not.toMatch(/\u001b/);
    expect(lines).toEqual([
      'fleetsource prod ready=true reason=Succeeded applied=main@sha1:abc message="applied"',
      'os workers version=2.0 state=Halted updated=4/10 inProgress=1 failed=1 batch=2/4 budgetLeft=0/1 window="next window in 12h 0m (2026-11-26T00:00:00.000Z)" reason=FailureBudgetReached message="1 node failed: w-3"',
      'node w-2 os=workers phase=Downloading slots=A:*1.0 B:- booted=1.0 download=50%',
      'node w-3 os=workers phase=Failed slots=A:*1.0 B:2.0 booted=1.0',
    ]);
  });

  it('on a terminal: a progress bar, the state in colour, the download as a bar', () => {
    const text = statusLines(view, { tty: true, columns: 80, now }).join('\n');
    expect(text).toContain(`${bar(0.4, 20)} 4/10 updated, 1 in progress, 1 failed`);
    expect(text).toContain('\u001b[1;31mHalted\u001b[0m');
    expect(text).toContain(`w-2  Downloading  A:*1.0 B:-  booted 1.0  ${bar(0.5, 10)} 50%`);
    expect(bar(0.4, 10)).toBe('████░░░░░░');
  });
});
