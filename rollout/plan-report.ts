// `osfleet plan` as data: the rendered OS / OSConfig objects of a revision plus a fleet → which nodes
// go in which batch, when, and what reboots. Pure; the CLI reads files, git and clusters around it.
import type { OS, OSConfig } from '../api/resources.js';
import { toPolicy } from './policy.js';
import { mergeConfigs, settingsNeedReboot, type MergedConfig } from './merge.js';
import { selectorMatcher } from './selector.js';
import { simulate, type SimNode, type SimPolicy } from './simulate.js';

/** A node of the fleet file (`nodes: [{name, labels, osVersion}]`) or of a live cluster. */
export interface PlanNode {
  name: string;
  labels: Record<string, string>;
  /** The OS version the node runs now. */
  osVersion: string;
  /** The osfleet settings the node carries now; absent = none (or take them from `before`). */
  appliedConfig?: Pick<MergedConfig, 'sysctl' | 'kernelArgs'>;
}

export interface PlanInput {
  /** Objects rendered from the revision to roll out. */
  objects: ReadonlyArray<OS | OSConfig>;
  /** Objects rendered from the revision the fleet runs now (`--from`): nodes are assumed to carry its settings. */
  before?: ReadonlyArray<OS | OSConfig>;
  nodes: readonly PlanNode[];
  now: number;
  isRebootSysctl: (key: string) => boolean;
  horizonMs?: number;
}

export interface PlannedPolicy extends SimPolicy {
  version: string;
  selected: number;
  /** Nodes whose OS version changes. */
  versionChanges: number;
  /** Nodes whose settings change, and how many of those changes need a reboot (kernel args, boot-time sysctls). */
  settingsChanges: number;
  settingsReboots: number;
  maintenanceWindows: OS['spec']['maintenanceWindows'];
  denyWindows: OS['spec']['denyWindows'];
}

export interface PlanReport {
  now: string;
  policies: PlannedPolicy[];
  /** Nodes no OS selects: osfleet leaves their OS alone. */
  unmanagedNodes: string[];
  /** Nodes two OS objects select: left alone until one selector is narrowed. */
  conflicts: Array<{ node: string; policies: string[] }>;
}

const isOS = (o: OS | OSConfig): o is OS => o.kind === 'OS';
const isConfig = (o: OS | OSConfig): o is OSConfig => o.kind === 'OSConfig';

function configsFor(objects: ReadonlyArray<OS | OSConfig>) {
  return objects.filter(isConfig).map((c) => ({ name: c.metadata.name, spec: c.spec, match: selectorMatcher(c.spec.nodeSelector) }));
}

function mergedFor(configs: ReturnType<typeof configsFor>, labels: Record<string, string>): MergedConfig | undefined {
  const hits = configs.filter((c) => c.match(labels));
  return hits.length ? mergeConfigs(hits) : undefined;
}

export function buildPlan(input: PlanInput): PlanReport {
  const oses = input.objects.filter(isOS);
  const after = configsFor(input.objects);
  const before = input.before ? configsFor(input.before) : undefined;
  const osMatchers = oses.map((o) => ({ name: o.metadata.name, match: selectorMatcher(o.spec.nodeSelector) }));

  const simNodes: SimNode[] = input.nodes.map((n) => {
    const desired = mergedFor(after, n.labels);
    const current = n.appliedConfig ?? (before ? mergedFor(before, n.labels) : undefined);
    const sim: SimNode = { name: n.name, labels: n.labels, osVersion: n.osVersion };
    if (current) sim.appliedConfigHash = mergeConfigs([{ name: 'current', spec: { priority: 0, ...current } }]).hash;
    if (desired) sim.desiredConfig = { hash: desired.hash, needsReboot: settingsNeedReboot(current, desired, input.isRebootSysctl) };
    return sim;
  });

  const policies = oses.map((o) => toPolicy(o));
  const sim = simulate(simNodes, policies, input.now, input.horizonMs !== undefined ? { horizonMs: input.horizonMs } : {});

  const conflicts: PlanReport['conflicts'] = [];
  const unmanagedNodes: string[] = [];
  for (const n of input.nodes) {
    const hits = osMatchers.filter((m) => m.match(n.labels)).map((m) => m.name);
    if (hits.length === 0) unmanagedNodes.push(n.name);
    else if (hits.length > 1) conflicts.push({ node: n.name, policies: hits });
  }

  return {
    now: new Date(input.now).toISOString(),
    unmanagedNodes,
    conflicts,
    policies: sim.policies.map((p, i) => {
      const os = oses[i]!;
      const selected = input.nodes.filter((n) => osMatchers[i]!.match(n.labels));
      return {
        ...p,
        version: os.spec.osVersion.version,
        selected: selected.length,
        versionChanges: selected.filter((n) => n.osVersion !== os.spec.osVersion.version).length,
        ...settingsCounts(simNodes.filter((n) => osMatchers[i]!.match(n.labels))),
        maintenanceWindows: os.spec.maintenanceWindows,
        denyWindows: os.spec.denyWindows,
      };
    }),
  };
}

function settingsCounts(nodes: readonly SimNode[]): { settingsChanges: number; settingsReboots: number } {
  const changed = nodes.filter((n) => n.desiredConfig && n.desiredConfig.hash !== n.appliedConfigHash);
  return { settingsChanges: changed.length, settingsReboots: changed.filter((n) => n.desiredConfig!.needsReboot).length };
}

/** The JSON the CLI prints: the documented shape first, the details after. */
export function planToJson(report: PlanReport): unknown {
  return {
    now: report.now,
    policies: report.policies.map((p) => ({
      name: p.name,
      version: p.version,
      timeZone: p.timeZone,
      // `start: null`: the batch does not start within the simulated horizon (halted, or no window).
      batches: p.batches.map((b) => ({ index: b.index, nodes: b.nodes, start: b.start, startLocal: b.startLocal, reboot: b.reboot, liveSettingsOnly: b.liveSettingsOnly })),
      selected: p.selected,
      versionChanges: p.versionChanges,
      settingsChanges: p.settingsChanges,
      settingsReboots: p.settingsReboots,
      finishedAt: p.finishedAt,
      notUpdated: p.notUpdated,
      problem: p.problem,
    })),
    unmanagedNodes: report.unmanagedNodes,
    conflicts: report.conflicts,
  };
}
