// Merges the settings of every OSConfig that selects a node into the one config an OSNode carries, and its hash.
import { createHash } from 'node:crypto';
import type { OSConfigSpec } from '../api/resources.js';
import { kernelArgName } from '../api/settings-syntax.js';

export interface NamedConfig {
  name: string;
  spec: Pick<OSConfigSpec, 'priority' | 'sysctl' | 'kernelArgs'>;
}

export interface MergedConfig {
  hash: string;
  sysctl: Record<string, string>;
  kernelArgs: { add: string[]; remove: string[] };
  /** OSConfig names that contributed, highest priority first. */
  sources: string[];
}

/** Highest priority first; at equal priority by name (the validator refuses real conflicts at equal priority). */
export function orderConfigs<T extends NamedConfig>(configs: T[]): T[] {
  return [...configs].sort((a, b) => b.spec.priority - a.spec.priority || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * sysctl: the highest-priority config that sets a key wins.
 * kernel args are keyed by name: the highest-priority config that adds or removes an argument of that
 * name decides whether (and with which value) it is added or removed.
 */
export function mergeConfigs(configs: NamedConfig[]): MergedConfig {
  const ordered = orderConfigs(configs);
  const sysctl: Record<string, string> = {};
  const args = new Map<string, { op: 'add' | 'remove'; arg: string }>();
  for (const c of ordered) {
    for (const [k, v] of Object.entries(c.spec.sysctl ?? {})) {
      if (!(k in sysctl)) sysctl[k] = String(v);
    }
    for (const arg of c.spec.kernelArgs?.add ?? []) {
      const n = kernelArgName(arg);
      if (!args.has(n)) args.set(n, { op: 'add', arg });
    }
    for (const arg of c.spec.kernelArgs?.remove ?? []) {
      const n = kernelArgName(arg);
      if (!args.has(n)) args.set(n, { op: 'remove', arg });
    }
  }
  const sortedSysctl = Object.fromEntries(Object.keys(sysctl).sort().map((k) => [k, sysctl[k] as string]));
  const add = [...args.values()].filter((a) => a.op === 'add').map((a) => a.arg).sort();
  const remove = [...args.values()].filter((a) => a.op === 'remove').map((a) => a.arg).sort();
  const kernelArgs = { add, remove };
  return { hash: configHash(sortedSysctl, kernelArgs), sysctl: sortedSysctl, kernelArgs, sources: ordered.map((c) => c.name) };
}

/** sha256 over canonical JSON (sorted keys, sorted arg lists); equal settings always give equal hashes. */
export function configHash(sysctl: Record<string, string>, kernelArgs: { add: string[]; remove: string[] }): string {
  const keys = Object.keys(sysctl).sort();
  const canonical = JSON.stringify({
    kernelArgs: { add: [...kernelArgs.add].sort(), remove: [...kernelArgs.remove].sort() },
    sysctl: keys.map((k) => [k, sysctl[k]]),
  });
  return `sha256:${createHash('sha256').update(canonical).digest('hex')}`;
}

/**
 * Whether moving a node from the settings it has (`from`; undefined = never managed by osfleet)
 * to `to` takes a reboot: kernel arguments that differ, or a changed sysctl that only applies at boot.
 * A sysctl-only change on a node that already carries its kernel args stays live.
 */
export function settingsNeedReboot(
  from: Pick<MergedConfig, 'sysctl' | 'kernelArgs'> | undefined,
  to: Pick<MergedConfig, 'sysctl' | 'kernelArgs'>,
  isRebootSysctl: (key: string) => boolean,
): boolean {
  const argsOf = (c: Pick<MergedConfig, 'kernelArgs'> | undefined) =>
    JSON.stringify([[...(c?.kernelArgs.add ?? [])].sort(), [...(c?.kernelArgs.remove ?? [])].sort()]);
  if (argsOf(from) !== argsOf(to)) return true;
  const keys = new Set([...Object.keys(from?.sysctl ?? {}), ...Object.keys(to.sysctl)]);
  for (const k of keys) {
    if (from?.sysctl[k] !== to.sysctl[k] && isRebootSysctl(k)) return true;
  }
  return false;
}
