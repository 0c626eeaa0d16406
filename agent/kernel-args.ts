// Kernel arguments from OSNode config ({add, remove}) into the env block of the slot
// that boots next, and whether they still wait for a reboot. Pure except applyKernelArgs.
import { VAR, bootState } from './bootloader.js';
import { readGrubEnvFile, writeGrubEnvFile } from './grubenv.js';
import type { Slot } from './host.js';
import { BOOT_OWNED_KERNEL_ARGS, kernelArgProblem as syntaxProblem, kernelArgName as argKey } from '../api/settings-syntax.js';

/** Arguments grub.cfg always passes itself; osfleet config may not touch them. */
const RESERVED: readonly string[] = BOOT_OWNED_KERNEL_ARGS;
/** Arguments GRUB or the boot loader adds on its own; ignored when comparing with the running kernel. */
const ADDED_BY_LOADER = ['BOOT_IMAGE', 'initrd'];
/**
 * Defaults the grub.cfg boot entry passes before the slot's own arguments (a slot's own `panic=`
 * comes later and wins); one occurrence of each is the boot entry's, not the slot's.
 */
export const BOOT_ENTRY_DEFAULTS: readonly string[] = ['panic=10'];
/** Base arguments of a slot (from the image installer), if any: `osfleet_kargs_base`. */
export const BASE_VAR = 'osfleet_kargs_base';

export interface KernelArgsConfig {
  add?: readonly string[];
  remove?: readonly string[];
}

export function kernelArgProblem(arg: string): string | undefined {
  const p = syntaxProblem(arg);
  if (p) return `kernel argument ${JSON.stringify(arg)} ${p}`;
  if (RESERVED.includes(argKey(arg))) return `kernel argument ${argKey(arg)} is set by the osfleet boot entry and cannot be changed`;
  return undefined;
}

/**
 * The arguments a slot should boot with: base minus `remove` (by exact argument or by
 * key: `quiet` removes `quiet`, `console` removes every `console=…`), then `add`
 * (an added `key=value` replaces earlier ones with the same key).
 */
export function effectiveKernelArgs(base: readonly string[], config: KernelArgsConfig): string[] {
  const problems = [...(config.add ?? []), ...(config.remove ?? [])].map(kernelArgProblem).filter((p): p is string => p !== undefined);
  if (problems.length > 0) throw new Error(`kernel arguments refused: ${problems.join('; ')}`);
  const removes = config.remove ?? [];
  let args = base.filter((a) => !removes.some((r) => r === a || (!r.includes('=') && argKey(a) === r)));
  for (const a of config.add ?? []) {
    args = args.filter((x) => x !== a && !(a.includes('=') && argKey(x) === argKey(a)));
    args.push(a);
  }
  return args;
}

export interface KernelArgsReport {
  slot: Slot;
  args: string[];
  /** True when the running kernel's command line does not have exactly these extra arguments yet. */
  pendingReboot: boolean;
}

/**
 * Write the arguments for the slot that boots next (the armed one, else the booted
 * one) into the env block, and compare with the running kernel's command line.
 */
export async function applyKernelArgs(grubenvPath: string, booted: Slot, runningCmdline: readonly string[], config: KernelArgsConfig): Promise<KernelArgsReport> {
  const env = await readGrubEnvFile(grubenvPath);
  const state = bootState(env);
  const slot = state.next ?? booted;
  const base = (env.get(BASE_VAR) ?? '').split(/\s+/).filter((a) => a.length > 0);
  const args = effectiveKernelArgs(base, config);
  const value = args.join(' ');
  if (env.get(VAR.kargs(slot)) !== value) {
    env.set(VAR.kargs(slot), value);
    await writeGrubEnvFile(grubenvPath, env);
  }
  const running = withoutBootEntryDefaults(runningCmdline).filter((a) => !RESERVED.includes(argKey(a)) && !ADDED_BY_LOADER.includes(argKey(a)));
  const pendingReboot = slot !== booted || running.join(' ') !== value;
  return { slot, args, pendingReboot };
}

/** The running command line without the one copy of each boot-entry default that grub.cfg put there. */
export function withoutBootEntryDefaults(cmdline: readonly string[]): string[] {
  const out = [...cmdline];
  for (const d of BOOT_ENTRY_DEFAULTS) {
    const i = out.indexOf(d);
    if (i >= 0) out.splice(i, 1);
  }
  return out;
}
