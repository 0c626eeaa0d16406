// The A/B upgrade as a pure decision: from what is (OSNode spec, slot metadata, booted
// slot, GRUB env block, health, download progress) to the phase to report and the one
// next step to take. Level-triggered: a restarted agent decides again from the same facts.
import type { BootState } from './bootloader.js';
import type { HealthResult } from './health.js';
import { type Slot, otherSlot } from './host.js';
import type { ImageRef } from './image-writer.js';
import type { Outcome, SlotsState } from './slots.js';

export type Phase = 'Idle' | 'Downloading' | 'Staged' | 'Rebooting' | 'Verifying' | 'Done' | 'Failed' | 'RolledBack';

/** The part of `OSNode.spec` the upgrade looks at (ADR 0001). */
export interface UpgradeSpec {
  target?: { version: string; image: { url: string; sha256: string; size?: number } };
  permit?: { stage?: boolean; reboot?: boolean };
}

export type UpgradeAction =
  | { kind: 'none' }
  /** Stream the target image into `slot` (writeImage); it arms the slot when verified. */
  | { kind: 'stage'; slot: Slot; image: ImageRef }
  /** Rollback: `slot` already holds the target; arm it without a download. */
  | { kind: 'flip'; slot: Slot; version: string; sha256: string }
  /** The attempt is recorded but GRUB no longer has it armed (and never tried it): arm again. */
  | { kind: 'rearm'; slot: Slot }
  /** Forget an armed, untried attempt (the target moved on). */
  | { kind: 'cancel'; slot: Slot }
  | { kind: 'reboot' }
  | { kind: 'check-health'; slot: Slot }
  /** The booted slot is healthy: make it permanent and close the attempt. */
  | { kind: 'commit'; slot: Slot }
  /** The booted slot is unhealthy: record why, then reboot so GRUB falls back. */
  | { kind: 'fallback'; slot: Slot; reason: string }
  /** GRUB fell back: close the attempt and remember the outcome. */
  | { kind: 'record-outcome'; outcome: Omit<Outcome, 'at'> };

export interface UpgradeFacts {
  spec: UpgradeSpec;
  booted: Slot;
  slots: SlotsState;
  boot: BootState;
  /** Version of the booted system when slot metadata does not know it (e.g. /etc/os-release). */
  bootedVersionHint?: string;
  /** Progress of a write running in this agent. */
  download?: { bytesDone: number; bytesTotal?: number };
  /** Why the last stage attempt in this agent failed (digest mismatch, server error…). */
  stageError?: string;
  /** Result of health checks on the booted slot, once run. */
  health?: HealthResult;
}

export interface UpgradeDecision {
  phase: Phase;
  /** CamelCase condition reason, stable for searching. */
  reason: string;
  message: string;
  action: UpgradeAction;
  download?: { bytesDone: number; bytesTotal?: number };
}

function describe(slot: Slot, version: string | undefined): string {
  return version ? `slot ${slot} (version ${version})` : `slot ${slot}`;
}

export function decideUpgrade(f: UpgradeFacts): UpgradeDecision {
  const { spec, booted, slots, boot } = f;
  const other = otherSlot(booted);
  const bootedVersion = slots.slots[booted]?.version ?? f.bootedVersionHint;
  const target = spec.target;
  const permit = { stage: spec.permit?.stage === true, reboot: spec.permit?.reboot === true };
  const d = (phase: Phase, reason: string, message: string, action: UpgradeAction = { kind: 'none' }): UpgradeDecision => ({ phase, reason, message, action });

  const attempt = slots.attempt;
  if (attempt) {
    if (booted === attempt.slot) {
      if (boot.saved === booted) return d('Done', 'UpgradeComplete', `${describe(booted, attempt.version)} is healthy and permanent.`, { kind: 'commit', slot: booted });
      if (attempt.healthFailure) {
        return d('Rebooting', 'HealthCheckFailed', `${describe(booted, attempt.version)} booted but failed its health checks (${attempt.healthFailure}); rebooting so GRUB falls back to slot ${attempt.fromSlot}.`, {
          kind: 'fallback',
          slot: booted,
          reason: attempt.healthFailure,
        });
      }
      if (!f.health) return d('Verifying', 'HealthChecking', `Booted ${describe(booted, attempt.version)} once; checking its health before making it permanent.`, { kind: 'check-health', slot: booted });
      if (f.health.ok) return d('Verifying', 'Healthy', `${describe(booted, attempt.version)} passed its health checks; making it permanent.`, { kind: 'commit', slot: booted });
      const reason = f.health.failures.join('; ');
      return d('Rebooting', 'HealthCheckFailed', `${describe(booted, attempt.version)} booted but failed its health checks (${reason}); rebooting so GRUB falls back to slot ${attempt.fromSlot}.`, {
        kind: 'fallback',
        slot: booted,
        reason,
      });
    }
    // Still (or again) on the slot the attempt started from. A recorded health failure means the
    // attempt's slot booted (the fallback disarmed it, so GRUB's try count may read 0 again).
    if (boot.tries >= 1 || attempt.healthFailure) {
      const why = attempt.healthFailure
        ? `it booted but failed its health checks (${attempt.healthFailure})`
        : boot.bootError
          ? `GRUB could not start it (${boot.bootError})`
          : `it never reported healthy (it did not start, or the agent on it could not run) within ${boot.tries} boot attempt${boot.tries === 1 ? '' : 's'}`;
      const reason = `The node was set to boot ${describe(attempt.slot, attempt.version)} once; ${why}, so GRUB fell back to ${describe(booted, bootedVersion)}.`;
      return d('RolledBack', 'FellBack', reason, { kind: 'record-outcome', outcome: { kind: 'RolledBack', version: attempt.version, sha256: attempt.sha256, reason } });
    }
    if (!target || target.version !== attempt.version) {
      return d('Idle', 'TargetChanged', `The armed ${describe(attempt.slot, attempt.version)} is no longer the target; disarming it.`, { kind: 'cancel', slot: attempt.slot });
    }
    if (boot.next !== attempt.slot) {
      return d('Staged', 'Rearming', `${describe(attempt.slot, attempt.version)} is verified but GRUB no longer has it armed; arming it again.`, { kind: 'rearm', slot: attempt.slot });
    }
    if (permit.reboot) {
      return d('Rebooting', 'Rebooting', `Rebooting into ${describe(attempt.slot, attempt.version)} (one try; GRUB falls back to slot ${booted} if it does not come up healthy).`, { kind: 'reboot' });
    }
    return d('Staged', 'WaitingForRebootPermit', `${describe(attempt.slot, attempt.version)} is written, verified and armed; waiting for permission to reboot.`);
  }

  if (!target) return d('Idle', 'NoTarget', `No target version; keeping ${describe(booted, bootedVersion)}.`);
  const failure = slots.lastFailure;
  if (failure && failure.version === target.version && failure.sha256 === target.image.sha256.toLowerCase()) {
    return d(failure.kind, failure.kind === 'RolledBack' ? 'FellBack' : 'UpgradeFailed', `${failure.reason} Set a different target version to try again.`);
  }
  if (bootedVersion === target.version) {
    if (boot.saved !== booted) {
      // Booted through a one-shot whose record is gone: verify before making it permanent.
      if (!f.health) return d('Verifying', 'HealthChecking', `Running ${describe(booted, bootedVersion)} is not yet permanent; checking its health.`, { kind: 'check-health', slot: booted });
      if (f.health.ok) return d('Verifying', 'Healthy', `${describe(booted, bootedVersion)} is healthy; making it permanent.`, { kind: 'commit', slot: booted });
    }
    return d('Done', 'UpToDate', `Running the target version ${target.version} from slot ${booted}.`);
  }
  const inOther = slots.slots[other];
  if (inOther && inOther.version === target.version && inOther.sha256 === target.image.sha256.toLowerCase()) {
    if (!permit.stage && !permit.reboot) {
      return d('Idle', 'WaitingForStagePermit', `Slot ${other} still holds ${target.version}: rolling back needs no download; waiting for permission to arm it.`);
    }
    return d('Staged', 'RollingBack', `Slot ${other} still holds ${target.version}: arming it without a download.`, {
      kind: 'flip',
      slot: other,
      version: inOther.version,
      sha256: inOther.sha256,
    });
  }
  if (f.stageError) return d('Failed', 'StageFailed', `Staging ${target.version} into slot ${other} failed: ${f.stageError}`);
  // A slot forgotten because its device no longer held what was written: say so until it is written again.
  const lost = slots.discarded?.slot === other ? ` Slot ${other} had ${slots.discarded.version}, but its bytes changed on the device since they were written (${slots.discarded.reason}), so it is written again.` : '';
  if (f.download) {
    const total = f.download.bytesTotal;
    return {
      ...d('Downloading', 'Downloading', `Writing ${target.version} into slot ${other}: ${mib(f.download.bytesDone)}${total ? ` of ${mib(total)}` : ''}.${lost}`),
      download: f.download,
    };
  }
  if (!permit.stage) return d('Idle', 'WaitingForStagePermit', `Target ${target.version} needs a download into slot ${other}; waiting for permission to stage it.${lost}`);
  return d('Downloading', 'Downloading', `Starting the download of ${target.version} into slot ${other}.${lost}`, {
    kind: 'stage',
    slot: other,
    image: { version: target.version, url: target.image.url, sha256: target.image.sha256, ...(target.image.size !== undefined ? { size: target.image.size } : {}) },
  });
}

function mib(n: number): string {
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}
