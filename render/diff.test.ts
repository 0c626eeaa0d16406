// diffRenders: the report model of a change, from two renders (no git involved).
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { diffRenders, describeWindow } from './diff.js';
import { formatDiffMarkdown } from './diff-markdown.js';
import { loadDirectory, validateAndRender, type SourceFile } from './index.js';

const examples = join(dirname(fileURLToPath(import.meta.url)), '../examples/gitrepo');
const enc = new TextEncoder();
const dec = new TextDecoder();

async function edited(edits: Record<string, (text: string) => string | null>): Promise<SourceFile[]> {
  const { files } = await loadDirectory(examples);
  return files.flatMap((f) => {
    const edit = edits[f.path];
    if (!edit) return [f];
    const text = edit(dec.decode(f.bytes));
    return text === null ? [] : [{ path: f.path, bytes: enc.encode(text) }];
  });
}

describe('diffRenders', () => {
  it('reports nothing but the revision change for identical content', async () => {
    const { files } = await loadDirectory(examples);
    const r = diffRenders(validateAndRender(files, { revision: 'a' }), validateAndRender(files, { revision: 'b' }));
    expect(r).toMatchObject({ from: 'a', to: 'b', objects: [], versions: [], settings: [], policies: [], reboots: [], hasChanges: false });
    expect(formatDiffMarkdown(r)).toContain('_Nothing to roll out._');
  });

  it('reports a version bump, settings per selector with reboot needs, pace and window changes, removals', async () => {
    const before = validateAndRender((await loadDirectory(examples)).files, { revision: 'base' });
    const after = validateAndRender(
      await edited({
        'rollout/control-plane.yaml': (t) => t.replace('osVersion: openeuler-24.03-sp1', 'osVersion: openeuler-24.03-sp2'),
        'rollout/workers.yaml': (t) => t.replace('soak: 30m', 'soak: 1h').replace('"0 1 * * 1-5", duration: 4h', '"0 0 * * 1-4", duration: 5h'),
        'rollout/edge.yaml': () => null,
        'settings/gpu-a100.yaml': (t) => t.replace('vm.nr_hugepages: 1024', 'vm.nr_hugepages: 2048').replace('- iommu=pt', '- iommu=pt\n      - isolcpus=2-7'),
        'settings/workers.yaml': (t) => t.replace('net.core.somaxconn: "16384"', 'net.core.somaxconn: "32768"\n    net.ipv4.tcp_fastopen: "3"'),
      }),
      { revision: 'head' },
    );
    const r = diffRenders(before, after);
    expect(r.objects.map((o) => `${o.change} ${o.kind}/${o.name}`)).toEqual([
      'changed OS/control-plane',
      'removed OS/edge-tokyo',
      'changed OS/workers',
      'changed OSConfig/gpu-a100',
      'changed OSConfig/workers',
    ]);
    expect(r.versions.map((v) => [v.policy, v.from?.version, v.to?.version])).toEqual([
      ['control-plane', '24.03-SP1', '24.03-SP2'],
      ['edge-tokyo', '24.03-SP2', undefined],
    ]);
    const gpu = r.settings.find((s) => s.config === 'gpu-a100')!;
    expect(gpu.selector).toBe('node.example.com/hardware-class=gpu-a100');
    expect(gpu.settings.map((s) => [s.kind, s.key, s.before, s.after, s.reboot])).toEqual([
      ['sysctl', 'vm.nr_hugepages', '1024', '2048', true],
      ['kernelArg', 'isolcpus=2-7', undefined, 'added', true],
    ]);
    const workers = r.settings.find((s) => s.config === 'workers')!;
    expect(workers.needsReboot).toBe(false);
    expect(r.unknownSettings).toEqual([{ config: 'workers', kind: 'sysctl', key: 'net.ipv4.tcp_fastopen' }]);
    expect(r.policies).toEqual([
      {
        policy: 'workers',
        selector: 'node-role.kubernetes.io/worker=, !node-role.kubernetes.io/control-plane, node.example.com/tier notin (edge)',
        pace: [{ field: 'soak', before: '30m', after: '1h' }],
        windows: [{ field: 'maintenanceWindows', before: 'Mon–Fri at 01:00 for 4h (Europe/Berlin)', after: 'Mon–Thu at 00:00 for 5h (Europe/Berlin)' }],
        other: [],
      },
    ]);
    expect(r.reboots.map((b) => `${b.kind}/${b.name}: ${b.reason}`)).toEqual([
      'OS/control-plane: OS 24.03-SP1 → 24.03-SP2',
      'OSConfig/gpu-a100: vm.nr_hugepages, kernel argument isolcpus=2-7',
    ]);
  });

  it('puts the new revision\'s validation errors first in the Markdown', async () => {
    const files = await edited({ 'settings/base.yaml': (t) => t.replace('net.ipv4.ip_forward: "1"', 'net.ipv4.ip_forward: "0"') });
    const md = formatDiffMarkdown(diffRenders(validateAndRender((await loadDirectory(examples)).files, { revision: 'a' }), validateAndRender(files, { revision: 'b', partial: true })));
    expect(md).toMatch(/\*\*Summary:\*\* \*\*1 validation error\*\* — the controller will not apply this revision until fixed\.\n/);
    expect(md).toContain('| not rendered (validation errors) | OSConfig | `base` |');
    expect(md).not.toContain('(removed)');
    expect(md).toContain('settings/base.yaml:11:26: error: spec.sysctl["net.ipv4.ip_forward"]: net.ipv4.ip_forward=0 is unsafe');
  });

  it('describes simple windows in words and others by their cron', () => {
    expect(describeWindow({ schedule: '0 3 * * 0', duration: '4h', timeZone: 'Europe/Berlin' })).toBe('Sun at 03:00 for 4h (Europe/Berlin)');
    expect(describeWindow({ schedule: '0 0 15 12 *', duration: '504h' })).toBe('every 15 Dec at 00:00 for 504h (UTC)');
    expect(describeWindow({ schedule: '*/15 2-4 * * *', duration: '10m', timeZone: 'UTC' })).toBe('cron "*/15 2-4 * * *" for 10m (UTC)');
  });
});
