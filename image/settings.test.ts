import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { bakeSettings, bakeSettingsFromRepository, DEFAULT_KERNEL_ARGS } from './settings.js';
import type { OSConfig } from '../api/resources.js';

const cfg = (name: string, priority: number, sel: Record<string, string>, sysctl: Record<string, string>, kernelArgs?: { add?: string[]; remove?: string[] }): OSConfig =>
  ({ apiVersion: 'osfleet.dev/v1alpha1', kind: 'OSConfig', metadata: { name }, spec: { nodeSelector: { matchLabels: sel }, priority, sysctl, ...(kernelArgs ? { kernelArgs } : {}) } }) as unknown as OSConfig;

describe('settings baked into an image', () => {
  it('merges the NodeSettings that select the labels, highest priority first, as the controller does', () => {
    const b = bakeSettings(
      [cfg('base', 0, {}, { 'net.core.somaxconn': '1024', 'vm.swappiness': '10' }, { add: ['audit=0'], remove: ['console'] }), cfg('gpu', 10, { gpu: 'a100' }, { 'net.core.somaxconn': '4096' }), cfg('edge', 5, { tier: 'edge' }, { 'vm.swappiness': '1' })],
      { gpu: 'a100' },
    );
    expect(b.sources).toEqual(['gpu', 'base']);
    expect(b.sysctlFile).toContain('net.core.somaxconn = 4096');
    expect(b.sysctlFile).toContain('vm.swappiness = 10');
    expect(b.kernelArgs).toEqual(['audit=0']); // console=… removed by key
  });

  it('without matching settings keeps the default console arguments and bakes no sysctl', () => {
    expect(bakeSettings([cfg('x', 0, { a: 'b' }, { 'vm.swappiness': '1' })], {})).toEqual({ sysctlFile: '', kernelArgs: [...DEFAULT_KERNEL_ARGS], sources: [] });
  });

  it('reads a real repository: examples/gitrepo, for a worker node', async () => {
    const b = await bakeSettingsFromRepository(path.join(import.meta.dirname, '../examples/gitrepo'), { 'node-role.kubernetes.io/worker': '' });
    expect(b.sources).toContain('base');
    expect(b.sysctlFile).toMatch(/^net\.ipv4\.ip_forward = 1$/m);
    expect(b.kernelArgs).toContain('systemd.unified_cgroup_hierarchy=1');
  });

  it('an invalid repository fails the build with file:line:col', async () => {
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(path.join(tmpdir(), 'osfleet-bake-'));
    writeFileSync(path.join(dir, 'bad.yaml'), 'apiVersion: osfleet.dev/v1alpha1\nkind: NodeSettings\nmetadata: {name: x}\nspec:\n  sysctl: {"../etc/passwd": "1"}\n');
    await expect(bakeSettingsFromRepository(dir, {})).rejects.toThrow(/bad\.yaml:\d+:\d+/);
  });
});
