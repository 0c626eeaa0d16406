// The planned timeline of a live fleet: the `osfleet plan` simulation from now, over the cluster's
// own OS and OSConfig objects and what each node runs. Pure; the dashboard calls it, throttled.
import type { OS, OSConfig, OSNode } from '../api/resources.js';
import { buildPlan, type PlanNode } from '../rollout/plan-report.js';
import { buildTimeline, type Timeline } from '../rollout/timeline.js';

export interface NodeLabels {
  metadata: { name: string; labels?: Record<string, string> };
}

export function fleetTimelines(
  input: { oses: readonly OS[]; configs: readonly OSConfig[]; nodes: readonly NodeLabels[]; osnodes: ReadonlyMap<string, OSNode> },
  now: number,
  isRebootSysctl: (key: string) => boolean,
): Timeline[] {
  const nodes: PlanNode[] = input.nodes.map((n) => {
    const o = input.osnodes.get(n.metadata.name);
    const node: PlanNode = { name: n.metadata.name, labels: n.metadata.labels ?? {}, osVersion: o?.status?.bootedVersion ?? '' };
    const cfg = o?.spec.config;
    if (cfg && o?.status?.appliedConfigHash === cfg.hash) node.appliedConfig = { sysctl: cfg.sysctl, kernelArgs: cfg.kernelArgs };
    return node;
  });
  const report = buildPlan({ objects: [...input.oses, ...input.configs], nodes, now, isRebootSysctl });
  return report.policies.map((p) => buildTimeline(p, now));
}
