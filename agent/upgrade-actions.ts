// Carries out one UpgradeAction on the host (the effectful half of upgrade.ts),
// and gathers the facts decideUpgrade needs from the host.
import { armSlot, disarm, makePermanent, readBootState } from './bootloader.js';
import { type HealthCheck, type HealthOptions, type HealthResult, runHealthChecks } from './health.js';
import type { Host } from './host.js';
import { type WriteImageOptions, type WriteImageResult, writeImage } from './image-writer.js';
import { readSlots, updateSlots } from './slots.js';
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
  | { kind: 'done' }
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
      const booted = await host.bootedSlot();
      await updateSlots(persist, (s) => {
        const next = { ...s, attempt: { slot: action.slot, version: action.version, sha256: action.sha256, fromSlot: booted } };
        delete next.lastFailure;
        return next;
      });
      await armSlot(grubenv, action.slot, ctx.maxBootTries ?? 1);
      return { kind: 'done' };
    }
    case 'rearm':
      await armSlot(grubenv, action.slot, ctx.maxBootTries ?? 1);
      return { kind: 'done' };
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
