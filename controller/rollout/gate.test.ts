import { describe, expect, it } from 'vitest';
import { classifyPod, drainPolicy } from './drain.js';
import { evaluatePodChecks, isUpdated } from './gate.js';
import type { PodObj } from './objects.js';

const pod = (name: string, over: Partial<PodObj['metadata']> = {}, spec: PodObj['spec'] = { nodeName: 'n1' }, ready = true): PodObj => ({
  metadata: { name, namespace: 'kube-system', labels: { app: 'cni' }, ...over },
  spec,
  status: { phase: 'Running', conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
});

describe('drain pod classification', () => {
  const policy = drainPolicy({});
  it('skips DaemonSet and mirror pods and finished pods', () => {
    expect(classifyPod(pod('ds', { ownerReferences: [{ apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'x', uid: 'u', controller: true }] }), policy)).toBe('skip');
    expect(classifyPod(pod('static', { annotations: { 'kubernetes.io/config.mirror': 'abc' } }), policy)).toBe('skip');
    expect(classifyPod({ ...pod('done'), status: { phase: 'Succeeded' } }, policy)).toBe('skip');
  });
  it('evicts ordinary pods, waits for terminating ones, and needs consent for emptyDir', () => {
    expect(classifyPod(pod('web'), policy)).toBe('evict');
    expect(classifyPod(pod('web', { deletionTimestamp: '2026-01-01T00:00:00Z' }), policy)).toBe('terminating');
    const withScratch = pod('cache', {}, { nodeName: 'n1', volumes: [{ name: 'scratch', emptyDir: {} }] });
    expect(classifyPod(withScratch, policy)).toBe('emptyDir');
    expect(classifyPod(withScratch, drainPolicy({ deleteEmptyDirData: true }))).toBe('evict');
  });
  it('defaults to a 10 minute timeout that fails the node', () => {
    expect(drainPolicy(undefined)).toEqual({ timeoutMs: 600_000, onTimeout: 'fail', deleteEmptyDirData: false });
  });
});

describe('health gates', () => {
  it('counts a node updated only with the target booted, the config applied and nothing pending', () => {
    const spec = { nodeName: 'n1', target: { osName: 'w', version: '2.0', image: { url: 'u', sha256: 'b'.repeat(64) } }, config: { hash: 'h', sysctl: {}, kernelArgs: { add: [], remove: [] } } };
    expect(isUpdated(spec, { bootedVersion: '2.0', appliedConfigHash: 'h', phase: 'Done' })).toBe(true);
    expect(isUpdated(spec, { bootedVersion: '2.0', appliedConfigHash: 'h', phase: 'Done', pendingReboot: ['kernelArgs'] })).toBe(false);
    expect(isUpdated(spec, { bootedVersion: '1.0', appliedConfigHash: 'h', phase: 'Done' })).toBe(false);
    expect(isUpdated(spec, { bootedVersion: '2.0', appliedConfigHash: 'h', phase: 'Verifying' })).toBe(false);
  });
  it('waits for matching pods on the node only', () => {
    const checks = [{ namespace: 'kube-system', podSelector: { matchLabels: { app: 'cni' } }, timeout: '2m' }];
    expect(evaluatePodChecks('n1', checks, [pod('cni-1'), pod('cni-2', {}, { nodeName: 'n2' }, false)])).toMatchObject({ ok: true, timeoutMs: 120_000 });
    const r = evaluatePodChecks('n1', checks, [pod('cni-1', {}, { nodeName: 'n1' }, false)]);
    expect(r.ok).toBe(false);
    expect(r.message).toContain('kube-system/cni-1');
  });
});
