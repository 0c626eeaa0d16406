import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { loadAndRender, defaultCatalogue, sysctlNeedsReboot } from '../render/index.js';
import { readFleetFile } from '../cli/plan.js';
import { buildPlan, planToJson } from './plan-report.js';
import type { OS, OSConfig } from '../api/resources.js';

const repo = fileURLToPath(new URL('../examples/gitrepo', import.meta.url));
const fleetFile = fileURLToPath(new URL('../examples/fleet.yaml', import.meta.url));
const cat = defaultCatalogue();
const isRebootSysctl = (k: string) => sysctlNeedsReboot(cat, k);
const now = Date.parse('2026-11-25T12:00:00Z'); // a Wednesday

describe('buildPlan on the example repository', () => {
  it('puts every selected node in exactly one batch, canary first, windows honoured', async () => {
    const r = await loadAndRender(repo);
    expect(r.errors).toEqual([]);
    const nodes = await readFleetFile(fleetFile);
    const plan = buildPlan({ objects: r.objects, nodes, now, isRebootSysctl });
    const workers = plan.policies.find((p) => p.name === 'workers')!;
    const names = workers.batches.flatMap((b) => b.nodes);
    expect(new Set(names).size).toBe(names.length);
    expect(names.length).toBe(workers.selected);
    expect(workers.batches[0]!.nodes).toHaveLength(1);
    // Weekday window 01:00-05:00 Europe/Berlin: the first start is Thursday 01:00 CET = 00:00 UTC.
    expect(workers.batches[0]!.start).toBe('2026-11-26T00:00:00.000Z');
    for (const b of workers.batches) {
      const h = new Date(b.start!).getUTCHours();
      expect(h >= 0 && h < 4).toBe(true);
    }
    expect(plan.unmanagedNodes).toEqual([]);
    expect(plan.conflicts).toEqual([]);
    const json = planToJson(plan) as { policies: Array<{ name: string; batches: Array<{ index: number; nodes: string[]; start: string }> }> };
    expect(json.policies.map((p) => p.name).sort()).toEqual(['control-plane', 'edge-tokyo', 'workers']);
  });

  it('plans nothing when the fleet already carries the target version and settings', async () => {
    const r = await loadAndRender(repo);
    const versionOf = (policy: string) => (r.objects.find((o) => o.kind === 'OS' && o.metadata.name === policy) as OS).spec.osVersion.version;
    const nodes = (await readFleetFile(fleetFile)).map((n) => ({
      ...n,
      osVersion: versionOf(n.name.startsWith('cp') ? 'control-plane' : n.name.startsWith('edge') ? 'edge-tokyo' : 'workers'),
    }));
    const plan = buildPlan({ objects: r.objects, before: r.objects, nodes, now, isRebootSysctl });
    for (const p of plan.policies) expect(p.batches.filter((b) => b.start !== null)).toEqual([]);
  });

  it('rolls a sysctl-only change out live, without reboots', async () => {
    const r = await loadAndRender(repo);
    const after = r.objects.map((o) =>
      o.kind === 'OSConfig' && o.metadata.name === 'workers'
        ? ({ ...o, spec: { ...(o as OSConfig).spec, sysctl: { ...(o as OSConfig).spec.sysctl, 'net.core.somaxconn': '32768' } } } as OSConfig)
        : o,
    );
    const nodes = (await readFleetFile(fleetFile)).map((n) => ({ ...n, osVersion: n.name.startsWith('cp') ? '24.03-SP1' : '24.03-SP2' }));
    const plan = buildPlan({ objects: after, before: r.objects, nodes, now, isRebootSysctl });
    const workers = plan.policies.find((p) => p.name === 'workers')!;
    const touched = workers.batches.filter((b) => b.start !== null);
    expect(touched.length).toBeGreaterThan(0);
    for (const b of touched) {
      expect(b.reboot).toEqual([]);
      expect(b.liveSettingsOnly).toEqual(b.nodes);
    }
    expect(plan.policies.find((p) => p.name === 'control-plane')!.batches.filter((b) => b.start !== null)).toEqual([]);
  });
});
