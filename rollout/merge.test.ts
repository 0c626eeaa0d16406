import { describe, expect, it } from 'vitest';
import { configHash, mergeConfigs, settingsNeedReboot } from './merge.js';

const cfg = (name: string, priority: number, sysctl: Record<string, string> = {}, add: string[] = [], remove: string[] = []) => ({
  name,
  spec: { priority, sysctl, kernelArgs: { add, remove } },
});

describe('mergeConfigs', () => {
  it('lets the higher priority win a sysctl key and lists sources highest first', () => {
    const m = mergeConfigs([cfg('base', 0, { 'vm.swappiness': '60', 'net.core.somaxconn': '1024' }), cfg('gpu', 10, { 'vm.swappiness': '10' })]);
    expect(m.sysctl).toEqual({ 'net.core.somaxconn': '1024', 'vm.swappiness': '10' });
    expect(m.sources).toEqual(['gpu', 'base']);
  });

  it('breaks a tie at equal priority by name, deterministically', () => {
    const a = mergeConfigs([cfg('b', 0, { k: '2' }), cfg('a', 0, { k: '1' })]);
    const b = mergeConfigs([cfg('a', 0, { k: '1' }), cfg('b', 0, { k: '2' })]);
    expect(a.sysctl.k).toBe('1');
    expect(a).toEqual(b);
  });

  it('decides a kernel argument by name at the highest priority that mentions it', () => {
    const m = mergeConfigs([
      cfg('base', 0, {}, ['transparent_hugepage=always', 'quiet']),
      cfg('db', 5, {}, ['transparent_hugepage=never'], ['quiet']),
    ]);
    expect(m.kernelArgs).toEqual({ add: ['transparent_hugepage=never'], remove: ['quiet'] });
  });

  it('hashes equal settings equally regardless of key order, and different settings differently', () => {
    expect(configHash({ a: '1', b: '2' }, { add: ['x'], remove: [] })).toBe(configHash({ b: '2', a: '1' }, { add: ['x'], remove: [] }));
    expect(configHash({ a: '1' }, { add: [], remove: [] })).not.toBe(configHash({ a: '2' }, { add: [], remove: [] }));
    expect(mergeConfigs([]).hash).toMatch(/^sha256:[a-f0-9]{64}$/);
  });
});

describe('settingsNeedReboot', () => {
  const reboot = (k: string) => k === 'vm.nr_hugepages';
  const m = (sysctl: Record<string, string>, add: string[] = []) => ({ sysctl, kernelArgs: { add, remove: [] } });
  it('keeps a sysctl-only change live on a node that already carries its kernel args', () => {
    expect(settingsNeedReboot(m({ a: '1' }, ['iommu=pt']), m({ a: '2' }, ['iommu=pt']), reboot)).toBe(false);
  });
  it('needs a reboot for changed kernel args or a changed boot-time sysctl', () => {
    expect(settingsNeedReboot(m({}, ['iommu=pt']), m({}, ['iommu=on']), reboot)).toBe(true);
    expect(settingsNeedReboot(m({ 'vm.nr_hugepages': '0' }), m({ 'vm.nr_hugepages': '1024' }), reboot)).toBe(true);
  });
  it('treats a node never managed as having no kernel args', () => {
    expect(settingsNeedReboot(undefined, m({ a: '1' }), reboot)).toBe(false);
    expect(settingsNeedReboot(undefined, m({}, ['x=1']), reboot)).toBe(true);
  });
});
