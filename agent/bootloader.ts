// The A/B boot protocol between the agent and agent/boot/grub.cfg: which env-block
// variables mean what, the agent's edits (arm, commit, kernel args), and a pure
// simulation of what the shipped grub.cfg does with the block at boot.
import type { Slot } from './host.js';
import { type GrubEnv, readGrubEnvFile, updateGrubEnvFile } from './grubenv.js';

export const VAR = {
  saved: 'saved_entry',
  next: 'next_entry',
  tries: 'osfleet_boot_tries',
  maxTries: 'osfleet_max_tries',
  kargs: (slot: Slot) => `osfleet_kargs_${slot}`,
  /** Written by GRUB: why it skipped the armed slot (e.g. no kernel on it). */
  bootError: 'osfleet_boot_error',
} as const;

/** grub.cfg's arithmetic-free counter goes up to 3. */
export const MAX_BOOT_TRIES = 3;

export function entryOf(slot: Slot): string {
  return `osfleet-${slot}`;
}

export function slotOfEntry(entry: string | undefined): Slot | undefined {
  if (entry === 'osfleet-A') return 'A';
  if (entry === 'osfleet-B') return 'B';
  return undefined;
}

export interface BootState {
  /** The permanent slot (what boots when nothing is armed). */
  saved: Slot;
  /** The armed one-shot slot, if GRUB has tries left for it. */
  next: Slot | undefined;
  /** Attempts GRUB has made of the armed slot. */
  tries: number;
  maxTries: number;
  kargs: Record<Slot, string>;
  /** Why GRUB skipped the armed slot on its last try, if it said. */
  bootError?: string;
}

/** GRUB's `test` reads numbers with strtol: leading digits, else 0. */
function grubNumber(value: string | undefined): number {
  const m = /^\d+/.exec(value ?? '');
  return m ? Number.parseInt(m[0], 10) : 0;
}

export function bootState(env: GrubEnv): BootState {
  const maxRaw = env.get(VAR.maxTries);
  return {
    saved: slotOfEntry(env.get(VAR.saved)) === 'B' ? 'B' : 'A',
    next: slotOfEntry(env.get(VAR.next)),
    tries: grubNumber(env.get(VAR.tries)),
    maxTries: maxRaw ? grubNumber(maxRaw) : 1,
    kargs: { A: env.get(VAR.kargs('A')) ?? '', B: env.get(VAR.kargs('B')) ?? '' },
    ...(env.get(VAR.bootError) ? { bootError: env.get(VAR.bootError) as string } : {}),
  };
}

export interface GrubBootResult {
  bootedSlot: Slot;
  /** True when this boot is a try of the armed slot. */
  triedArmed: boolean;
  /** The block as GRUB leaves it after `save_env`. */
  newEnv: GrubEnv;
  /** The kernel command line the chosen menu entry passes. */
  cmdline: string[];
}

/**
 * What agent/boot/grub.cfg does on one boot, step for step. Pure. `hasKernel` says whether a slot's
 * partition holds /boot/vmlinuz (the script checks before trying an armed slot; default: yes).
 */
export function simulateGrubBoot(env: GrubEnv, hasKernel: (slot: Slot) => boolean = () => true): GrubBootResult {
  const vars = new Map(env); // load_env
  const get = (n: string) => vars.get(n) ?? '';
  let def = get(VAR.saved);
  if (def !== 'osfleet-B') def = 'osfleet-A';
  if (get(VAR.maxTries) === '') vars.set(VAR.maxTries, '1');
  let triedArmed = false;
  const newEnv = new Map(env);
  if (get(VAR.next) !== '') {
    if (get(VAR.tries) === '') vars.set(VAR.tries, '0');
    let tryIt = get(VAR.next) === 'osfleet-A' || get(VAR.next) === 'osfleet-B';
    if (grubNumber(get(VAR.tries)) >= grubNumber(get(VAR.maxTries))) tryIt = false;
    if (tryIt) {
      const t = get(VAR.tries);
      vars.set(VAR.tries, t === '0' ? '1' : t === '1' ? '2' : '3');
      vars.set(VAR.bootError, '');
      const armed = slotOfEntry(get(VAR.next)) as Slot;
      if (hasKernel(armed)) {
        def = get(VAR.next);
        triedArmed = true;
      } else {
        vars.set(VAR.bootError, `no /boot/vmlinuz on ${get(VAR.next)}`);
        tryIt = false;
      }
    }
    if (!tryIt) vars.set(VAR.next, '');
    if (grubNumber(get(VAR.tries)) >= grubNumber(get(VAR.maxTries))) vars.set(VAR.next, '');
    // save_env next_entry osfleet_boot_tries osfleet_boot_error: GRUB appends names the block lacks.
    newEnv.set(VAR.next, get(VAR.next));
    newEnv.set(VAR.tries, get(VAR.tries));
    newEnv.set(VAR.bootError, get(VAR.bootError));
  }
  const bootedSlot = slotOfEntry(def) ?? 'A';
  const extra = get(VAR.kargs(bootedSlot)).split(/\s+/).filter((a) => a.length > 0);
  const cmdline = [`root=PARTLABEL=osfleet-${bootedSlot}`, 'ro', 'panic=10', `osfleet.slot=${bootedSlot}`, ...(triedArmed ? ['osfleet.try=1'] : []), ...extra];
  return { bootedSlot, triedArmed, newEnv, cmdline };
}

/** Arm a one-shot boot of `slot`: the next boot(s) try it, then fall back to the saved slot. */
export async function armSlot(grubenvPath: string, slot: Slot, maxTries = 1): Promise<void> {
  if (!Number.isInteger(maxTries) || maxTries < 1 || maxTries > MAX_BOOT_TRIES) {
    throw new Error(`boot tries must be 1 to ${MAX_BOOT_TRIES} (grub.cfg counts no further), got ${maxTries}`);
  }
  await updateGrubEnvFile(grubenvPath, { [VAR.next]: entryOf(slot), [VAR.tries]: '0', [VAR.maxTries]: String(maxTries), [VAR.bootError]: '' });
}

/** Forget an armed slot that was never tried (e.g. the target changed before the reboot). */
export async function disarm(grubenvPath: string): Promise<void> {
  await updateGrubEnvFile(grubenvPath, { [VAR.next]: '', [VAR.tries]: '0' });
}

/** The booted slot proved healthy: make it the one that boots from now on. */
export async function makePermanent(grubenvPath: string, slot: Slot): Promise<void> {
  await updateGrubEnvFile(grubenvPath, { [VAR.saved]: entryOf(slot), [VAR.next]: '', [VAR.tries]: '0' });
}

/** Kernel arguments a slot boots with (beyond root, ro and osfleet.slot, which grub.cfg sets). */
export async function setSlotKernelArgs(grubenvPath: string, slot: Slot, args: readonly string[]): Promise<void> {
  await updateGrubEnvFile(grubenvPath, { [VAR.kargs(slot)]: args.join(' ') });
}

export async function readBootState(grubenvPath: string): Promise<BootState> {
  return bootState(await readGrubEnvFile(grubenvPath));
}
