// Settings baked in at build time: the NodeSettings of a repository that select a node with the
// given labels, merged as the controller merges them, as a sysctl.d file for the slot and the base
// kernel arguments for the disk's environment block. Pure apart from reading the repository.
import { loadAndRender } from '../render/index.js';
import { formatDiagnostic } from '../render/diagnostics.js';
import { mergeConfigs } from '../rollout/merge.js';
import { matchesSelector, type Labels } from '../rollout/selector.js';
import { effectiveKernelArgs } from '../agent/kernel-args.js';
import { renderSysctlFile } from '../agent/sysctl.js';
import type { OSConfig } from '../api/resources.js';

export interface BakedSettings {
  /** Content of the slot's image-level sysctl file (empty when no settings). */
  sysctlFile: string;
  /** Kernel arguments every slot of a disk boots with (before the agent applies live settings). */
  kernelArgs: string[];
  /** NodeSettings that contributed, highest priority first. */
  sources: string[];
}

/** Kernel arguments of every osfleet disk: the console on the first serial port and the screen. */
export const DEFAULT_KERNEL_ARGS: readonly string[] = ['console=tty0', 'console=ttyS0,115200'];

export function bakeSettings(configs: readonly OSConfig[], labels: Labels, base: readonly string[] = DEFAULT_KERNEL_ARGS): BakedSettings {
  const selected = configs.filter((c) => matchesSelector(c.spec.nodeSelector, labels));
  if (selected.length === 0) return { sysctlFile: '', kernelArgs: [...base], sources: [] };
  const merged = mergeConfigs(selected.map((c) => ({ name: c.metadata.name, spec: c.spec })));
  return {
    sysctlFile: Object.keys(merged.sysctl).length ? renderSysctlFile(merged.sysctl) : '',
    kernelArgs: effectiveKernelArgs(base, merged.kernelArgs),
    sources: merged.sources,
  };
}

/** Read, validate and bake a repository's settings; an invalid repository fails the build with its errors. */
export async function bakeSettingsFromRepository(dir: string, labels: Labels): Promise<BakedSettings> {
  const r = await loadAndRender(dir);
  if (r.errors.length > 0) {
    throw new Error(`--settings ${dir} is not a valid osfleet repository:\n${r.errors.map(formatDiagnostic).join('\n')}`);
  }
  const configs = r.objects.filter((o): o is OSConfig => o.kind === 'OSConfig');
  return bakeSettings(configs, labels);
}
