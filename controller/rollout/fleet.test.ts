import { describe, expect, it } from 'vitest';
import type { Action } from '../../rollout/types.js';
import { desiredOwnedFields, windowFacts, type OwnedFields } from './fleet.js';
import type { NodeObj, OSObj } from './objects.js';
import type { NodeSelection } from './selection.js';

const SHA = 'b'.repeat(64);
const node: NodeObj = { metadata: { name: 'n1', uid: 'uid-1', labels: { pool: 'a' } }, spec: {}, status: {} };
const os = (name: string, windows: OSObj['spec']['maintenanceWindows'] = []): OSObj => ({
  metadata: { name, generation: 1 },
  spec: {
    osVersion: { name: 'v2', version: '2.0', image: { url: 'https://x/2.img', sha256: SHA } },
    nodeSelector: { matchLabels: { pool: 'a' } },
    strategy: { batches: ['100%'], maxUnavailable: 1, soak: '0s', failureBudget: 1, stageOutsideWindows: false },
    maintenanceWindows: windows,
    denyWindows: [],
    drain: {},
    healthChecks: [],
    paused: false,
  },
});
const config = { hash: 'sha256:c1', sysctl: { 'vm.swappiness': '10' }, kernelArgs: { add: [], remove: [] }, sources: ['s'] };
const selected = (o?: OSObj): NodeSelection => ({ os: o, allOS: o ? [o] : [], config, configNeedsReboot: false });
const permit = (token: string, reboot = false) => ({ token, stage: true, applySettings: true, reboot });

describe('desiredOwnedFields', () => {
  it('gives a new OSNode the target of its OS, its merged settings and no permit', () => {
    const d = desiredOwnedFields(node, undefined, selected(os('workers')), false, []);
    expect(d).toEqual({ nodeUid: 'uid-1', target: { osName: 'workers', version: '2.0', image: { url: 'https://x/2.img', sha256: SHA } }, config });
  });

  it('changes the target of a selected node only through setTarget, together with its grant', () => {
    const cur: OwnedFields = { nodeUid: 'uid-1', target: { osName: 'workers', version: '1.0', image: { url: 'u', sha256: SHA } }, permit: permit('t1') };
    expect(desiredOwnedFields(node, cur, selected(os('workers')), false, [])).toEqual(cur);
    const actions: Action[] = [
      { type: 'setTarget', node: 'n1', policy: 'workers', target: { osName: 'workers', version: '2.0', image: { url: 'u2', sha256: SHA } }, configHash: 'sha256:c1' },
      { type: 'grant', node: 'n1', policy: 'workers', permit: permit('t2') },
    ];
    const d = desiredOwnedFields(node, cur, selected(os('workers')), false, actions);
    expect(d.target?.version).toBe('2.0');
    expect(d.config).toEqual(config);
    expect(d.permit?.token).toBe('t2');
  });

  it('records a failure against its token and forgets it with the next grant', () => {
    const cur: OwnedFields = { nodeUid: 'uid-1', permit: permit('t1') };
    const failed = desiredOwnedFields(node, cur, selected(os('w')), false, [
      { type: 'markFailed', node: 'n1', policy: 'w', token: 't1', reason: 'DrainTimeout', message: 'stuck' },
    ]);
    expect(failed.failure).toEqual({ token: 't1', reason: 'DrainTimeout', message: 'stuck' });
    const regranted = desiredOwnedFields(node, failed, selected(os('w')), false, [{ type: 'grant', node: 'n1', policy: 'w', permit: permit('t9') }]);
    expect(regranted.failure).toBeUndefined();
  });

  it('leaves a node two OS objects select as it is', () => {
    const cur: OwnedFields = { nodeUid: 'uid-1', target: { osName: 'a', version: '1.0', image: { url: 'u', sha256: SHA } } };
    expect(desiredOwnedFields(node, cur, { allOS: [os('a'), os('b')], config, configNeedsReboot: false }, true, [])).toEqual(cur);
  });

  it('drops the target of a node no OS selects once nothing is granted, and keeps it while a grant is out', () => {
    const granted: OwnedFields = { nodeUid: 'uid-1', target: { osName: 'a', version: '2.0', image: { url: 'u', sha256: SHA } }, permit: permit('t', true) };
    expect(desiredOwnedFields(node, granted, selected(undefined), false, []).target).toBeDefined();
    const idle = { ...granted, permit: { token: 't', stage: false, applySettings: false, reboot: false } };
    const d = desiredOwnedFields(node, idle, selected(undefined), false, []);
    expect(d.target).toBeUndefined();
    expect(d.config).toEqual(config);
  });
});

describe('windowFacts', () => {
  const now = Date.parse('2026-01-05T12:00:00Z'); // a Monday
  it('is always open without windows', () => {
    expect(windowFacts(os('w'), now)).toEqual({ windowOpen: true });
  });
  it('reports the next opening while closed, and the end as the next change', () => {
    const closed = windowFacts(os('w', [{ schedule: '0 2 * * *', duration: '2h', timeZone: 'UTC' }]), now);
    expect(closed).toEqual({ windowOpen: false, nextWindow: '2026-01-06T02:00:00.000Z', changesAt: Date.parse('2026-01-06T02:00:00Z') });
    const open = windowFacts(os('w', [{ schedule: '0 11 * * *', duration: '2h', timeZone: 'UTC' }]), now);
    expect(open).toEqual({ windowOpen: true, nextWindow: '2026-01-06T11:00:00.000Z', changesAt: Date.parse('2026-01-05T13:00:00Z') });
  });
});
