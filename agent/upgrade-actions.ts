// Carries out one UpgradeAction on the host (the effectful half of upgrade.ts),
// and gathers the facts decideUpgrade needs from the host.
import { armSlot, disarm, makePermanent, readBootState } from './bootloader.js';
import { type HealthCheck, type HealthOptions, type HealthResult, runHealthChecks } from './health.js';
import type { Host, Slot } from './host.js';
import { type WriteImageOptions, type WriteImageResult, writeImage } from './image-writer.js';
import { ImageWriteError } from './image-error.js';
import { deviceContent, readSlots, updateSlots } from './slots.js';
import { type SlotVerification, verifySlotDevice } from './slot-verify.js';
import type { UpgradeAction, UpgradeFacts, UpgradeSpec } from './upgrade.js';

export async function gatherUpgradeFacts(host: Host, spec: UpgradeSpec, extra: Partial<UpgradeFacts> = {}): Promise<UpgradeFacts> {
  const [booted, slots, boot] = await Promise.all([host.bootedSlot(), readSlots(host.config.persistDir), readBootState(host.config.grubenvPath)]);
  return { spec, booted, slots, boot, ...extra };
}

export interface ActionContext {
  host: Host;
  healthChecks: readonly HealthCheck[];
  healthOptions?: HealthOptions;
  /** Passed to writeImage (progress, https trust, chunk sizes). */
  writeOptions?: Omit<WriteImageOptions, 'host' | 'slot' | 'image'>;
  maxBootTries?: number;
  now?: () => Date;
}

export type ActionResult =
  | { kind: 'done'; verified?: SlotVerification }
  /** The slot to arm no longer held what was written: forgotten (it is written again), not armed. */
  | { kind: 'discarded'; reason: string }
  | { kind: 'staged'; write: WriteImageResult }
  | { kind: 'health'; health: HealthResult }
  | { kind: 'rebooting' };

export async function performUpgradeAction(ctx: ActionContext, action: UpgradeAction): Promise<ActionResult> {
  const { host } = ctx;
  const persist = host.config.persistDir;
  const grubenv = host.config.grubenvPath;
  const now = () => (ctx.now?.() ?? new Date()).toISOString();
  switch (action.kind) {
    case 'none':
      return { kind: 'done' };
    case 'stage': {
      const write = await writeImage({ ...ctx.writeOptions, host, slot: action.slot, image: action.image, maxBootTries: ctx.maxBootTries ?? 1 });
      return { kind: 'staged', write };
    }
    case 'flip': {
      const checked = await checkBeforeArming(ctx, action.slot, now());
      if (checked.kind === 'discarded') return checked;
      const booted = await host.bootedSlot();
      await updateSlots(persist, (s) => {
        const next = { ...s, attempt: { slot: action.slot, version: action.version, sha256: action.sha256, fromSlot: booted } };
        delete next.lastFailure;
        return next;
      });
      await armSlot(grubenv, action.slot, ctx.maxBootTries ?? 1);
      return checked;
    }
    case 'rearm': {
      const checked = await checkBeforeArming(ctx, action.slot, now());
      if (checked.kind === 'discarded') return checked;
      await armSlot(grubenv, action.slot, ctx.maxBootTries ?? 1);
      return checked;
    }
    case 'cancel': {
      const state = await readBootState(grubenv);
      if (state.next === action.slot) await disarm(grubenv);
      await updateSlots(persist, (s) => {
        const next = { ...s };
        delete next.attempt;
        return next;
      });
      return { kind: 'done' };
    }
    case 'reboot':
      await updateSlots(persist, (s) => (s.attempt ? { ...s, attempt: { ...s.attempt, rebootRequestedAt: now() } } : s));
      await host.reboot();
      return { kind: 'rebooting' };
    case 'check-health':
      return { kind: 'health', health: await runHealthChecks(ctx.healthChecks, ctx.healthOptions) };
    case 'commit':
      await makePermanent(grubenv, action.slot);
      await updateSlots(persist, (s) => {
        const next = { ...s };
        delete next.attempt;
        delete next.lastFailure;
        return next;
      });
      return { kind: 'done' };
    case 'fallback':
      // Record first: the agent on the old slot reports this reason after GRUB falls back.
      await updateSlots(persist, (s) => (s.attempt ? { ...s, attempt: { ...s.attempt, healthFailure: action.reason } } : s));
      // Do not rely on GRUB having cleared next_entry: where it cannot write grubenv (btrfs, LVM, RAID)
      // the bad slot would boot again on every reboot. The agent on the old slot sees healthFailure.
      await disarm(grubenv);
      await host.reboot();
      return { kind: 'rebooting' };
    case 'record-outcome': {
      const state = await readBootState(grubenv);
      const slots = await readSlots(persist);
      if (slots.attempt && state.next === slots.attempt.slot) await disarm(grubenv);
      await updateSlots(persist, (s) => {
        const next = { ...s, lastFailure: { ...action.outcome, at: now() } };
        delete next.attempt;
        return next;
      });
      return { kind: 'done' };
    }
  }
}

/**
 * Before GRUB may boot a slot that was written earlier (a rollback flip, a re-arm, possibly days
 * later): its device must still hold the bytes recorded for it. When it does not, the slot is
 * forgotten, so the next pass writes the target again instead of booting what is there, and the
 * reason is kept for the OSNode's status.
 */
async function checkBeforeArming(ctx: ActionContext, slot: Slot, at: string): Promise<ActionResult> {
  const persist = ctx.host.config.persistDir;
  const content = (await readSlots(persist)).slots[slot];
  if (!content) throw new Error(`slot ${slot} has no recorded content; refusing to arm it`);
  try {
    return { kind: 'done', verified: await verifySlotDevice(ctx.host, slot, deviceContent(content), `${content.version} as it was written`) };
  } catch (err) {
    if (!(err instanceof ImageWriteError && err.reason === 'SlotMismatch')) throw err;
    const reason = err.message;
    await updateSlots(persist, (s) => {
      const slots = { ...s.slots };
      delete slots[slot];
      const next = { ...s, slots, discarded: { slot, version: content.version, reason, at } };
      if (next.attempt?.slot === slot) delete next.attempt;
      return next;
    });
    const boot = await readBootState(ctx.host.config.grubenvPath);
    if (boot.next === slot) await disarm(ctx.host.config.grubenvPath);
    return { kind: 'discarded', reason };
  }
}
