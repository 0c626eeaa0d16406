// Which OS and which OSConfigs select each node, the merged settings a node should carry, and the
// nodes two OS objects both claim (left alone, reported on both sides). Pure: objects in, data out.
import { defaultCatalogue, sysctlNeedsReboot, type Catalogue } from '../../render/catalogue.js';
import { mergeConfigs, type MergedConfig } from '../../rollout/merge.js';
import { selectorMatcher, type LabelMatcher } from '../../rollout/selector.js';
import type { NodeObj, OSConfigObj, OSObj } from './objects.js';

export interface NodeSelection {
  /** The one OS selecting the node; undefined when none does or when several do. */
  os?: OSObj;
  /** Every OS selecting the node (more than one = conflict). */
  allOS: OSObj[];
  /** Merged settings of the OSConfigs selecting the node; undefined when none does. */
  config?: MergedConfig;
  /** True when applying `config` takes a reboot (kernel args, or sysctls the catalogue marks reboot-only). */
  configNeedsReboot: boolean;
}

export interface Selection {
  byNode: Map<string, NodeSelection>;
  /** Node → names of the OS objects that all select it (only nodes with two or more). */
  conflicts: Map<string, string[]>;
  /** OSConfig name → nodes it selects. */
  configNodes: Map<string, string[]>;
  /** OS name → nodes it selects alone. */
  osNodes: Map<string, string[]>;
}

// Compiled selectors, reused while an object's resourceVersion stays the same.
const compiled = new WeakMap<object, { rv: string | undefined; match: LabelMatcher; error?: string }>();

function matcherFor(obj: { metadata: { resourceVersion?: string }; spec: { nodeSelector: unknown } }): { match: LabelMatcher; error?: string } {
  const hit = compiled.get(obj);
  if (hit && hit.rv === obj.metadata.resourceVersion) return hit;
  let entry: { rv: string | undefined; match: LabelMatcher; error?: string };
  try {
    entry = { rv: obj.metadata.resourceVersion, match: selectorMatcher(obj.spec.nodeSelector as never) };
  } catch (err) {
    entry = { rv: obj.metadata.resourceVersion, match: () => false, error: (err as Error).message };
  }
  compiled.set(obj, entry);
  return entry;
}

export function selectorError(obj: OSObj | OSConfigObj): string | undefined {
  return matcherFor(obj).error;
}

const mergedCache = new Map<string, { config: MergedConfig; needsReboot: boolean }>();

function configNeedsReboot(c: MergedConfig, catalogue: Catalogue): boolean {
  if (c.kernelArgs.add.length > 0 || c.kernelArgs.remove.length > 0) return true;
  return Object.keys(c.sysctl).some((k) => sysctlNeedsReboot(catalogue, k));
}

export function selectNodes(
  nodes: Iterable<NodeObj>,
  oses: readonly OSObj[],
  configs: readonly OSConfigObj[],
  catalogue: Catalogue = defaultCatalogue(),
): Selection {
  const osMatchers = oses.map((o) => ({ os: o, match: matcherFor(o).match }));
  const cfgMatchers = configs.map((c) => ({ cfg: c, match: matcherFor(c).match }));
  const byNode = new Map<string, NodeSelection>();
  const conflicts = new Map<string, string[]>();
  const configNodes = new Map<string, string[]>(configs.map((c) => [c.metadata.name, []]));
  const osNodes = new Map<string, string[]>(oses.map((o) => [o.metadata.name, []]));
  if (mergedCache.size > 10_000) mergedCache.clear();

  for (const node of nodes) {
    const labels = node.metadata.labels ?? {};
    const allOS = osMatchers.filter((m) => m.match(labels)).map((m) => m.os);
    const matched = cfgMatchers.filter((m) => m.match(labels)).map((m) => m.cfg);
    for (const c of matched) configNodes.get(c.metadata.name)!.push(node.metadata.name);
    let config: MergedConfig | undefined;
    let needsReboot = false;
    if (matched.length > 0) {
      // Many nodes share the same set of configs: merge each distinct set once.
      const key = matched.map((c) => `${c.metadata.name}@${c.metadata.resourceVersion ?? ''}`).join(',');
      let hit = mergedCache.get(key);
      if (!hit) {
        const merged = mergeConfigs(matched.map((c) => ({ name: c.metadata.name, spec: c.spec })));
        hit = { config: merged, needsReboot: configNeedsReboot(merged, catalogue) };
        mergedCache.set(key, hit);
      }
      config = hit.config;
      needsReboot = hit.needsReboot;
    }
    const sel: NodeSelection = { allOS, config, configNeedsReboot: needsReboot };
    if (allOS.length === 1) {
      sel.os = allOS[0];
      osNodes.get(allOS[0]!.metadata.name)!.push(node.metadata.name);
    } else if (allOS.length > 1) {
      conflicts.set(node.metadata.name, allOS.map((o) => o.metadata.name).sort());
    }
    byNode.set(node.metadata.name, sel);
  }
  return { byNode, conflicts, configNodes, osNodes };
}

/** The one OS selecting `node`, or undefined when none or several do. */
export function osForNode(node: NodeObj, oses: readonly OSObj[]): OSObj | undefined {
  const labels = node.metadata.labels ?? {};
  let found: OSObj | undefined;
  for (const o of oses) {
    if (o.metadata.deletionTimestamp || !matcherFor(o).match(labels)) continue;
    if (found) return undefined;
    found = o;
  }
  return found;
}
