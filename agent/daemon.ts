// The agent's reconcile loop: watch its own OSNode, make the host match what the permit allows
// (settings, image staging, reboot), and report status. Level-triggered: every pass reads the host
// and the latest OSNode, whatever woke it; a restart (or a reboot) is just another pass.
import type { Logger } from 'pino';
import { setCondition } from '../api/conditions.js';
import type { OSNode, OSNodeStatus } from '../api/resources.js';
import type { HealthCheck, HealthOptions, HealthResult } from './health.js';
import type { Host } from './host.js';
import { applyKernelArgs } from './kernel-args.js';
import type { OSNodeClient } from './osnode-client.js';
import { readAgentState, writeAgentState, type AgentState } from './settings-state.js';
import { readSlots } from './slots.js';
import { applySysctls } from './sysctl.js';
import { decideUpgrade, type UpgradeDecision } from './upgrade.js';
import { gatherUpgradeFacts, performUpgradeAction, type ActionContext } from './upgrade-actions.js';

export interface AgentOptions {
  nodeName: string;
  host: Host;
  client: OSNodeClient;
  logger: Logger;
  /** Checks a freshly booted slot must pass before it is made permanent (the API check is always added). */
  healthChecks?: HealthCheck[];
  healthOptions?: HealthOptions;
  writeOptions?: ActionContext['writeOptions'];
  /** Periodic re-reconcile even without events (default 60 s). */
  resyncMs?: number;
  /** Version of the booted system when slot metadata does not know it (e.g. from /etc/os-release). */
  bootedVersionHint?: string;
  now?: () => Date;
}

export interface AgentHandle {
  /** Resolves when the loop has stopped. */
  stop(): Promise<void>;
  /** Resolves after the next full pass (tests). */
  settled(): Promise<void>;
}

interface SettingsResult {
  appliedConfigHash?: string;
  pendingReboot: string[];
  /** Set when applying failed; the node reports Failed with this message. */
  error?: string;
  changed: boolean;
}

const MAX_STEPS = 8;
/**
 * After the reboot command was accepted the machine goes down; until then the agent acts no more
 * (every status write wakes it, and each pass would ask for the reboot again). If the machine is
 * still up after this long, the reboot did not happen and the agent resumes.
 */
const REBOOT_HOLD_MS = 10 * 60_000;

export function startAgent(opts: AgentOptions): AgentHandle {
  const { host, client, logger } = opts;
  const now = opts.now ?? (() => new Date());
  let latest: OSNode | undefined;
  let stopped = false;
  let running: Promise<void> | undefined;
  let again = false;
  let lastStatus = '';
  let stageError: { key: string; message: string } | undefined;
  let download: { bytesDone: number; bytesTotal?: number } | undefined;
  let waiters: Array<() => void> = [];
  let rebootRequestedAt = -Infinity;
  let progressWrite: Promise<unknown> | undefined;
  // Cancels an image download in flight when the agent stops.
  const abort = new AbortController();

  const apiCheck: HealthCheck = {
    name: 'kubernetes-api',
    check: async () => {
      await client.get();
    },
  };
  const ctx: ActionContext = {
    host,
    healthChecks: [apiCheck, ...(opts.healthChecks ?? [])],
    ...(opts.healthOptions ? { healthOptions: opts.healthOptions } : {}),
    writeOptions: {
      ...opts.writeOptions,
      signal: opts.writeOptions?.signal ? AbortSignal.any([opts.writeOptions.signal, abort.signal]) : abort.signal,
      onProgress: (bytesDone, bytesTotal) => {
        download = { bytesDone, ...(bytesTotal !== undefined ? { bytesTotal } : {}) };
        reportProgress();
      },
    },
    now,
  };

  // Progress while an image streams: at most one status write per second.
  let progressTimer: NodeJS.Timeout | undefined;
  const reportProgress = () => {
    if (progressTimer) return;
    progressTimer = setTimeout(() => {
      progressTimer = undefined;
      if (!download || stopped) return;
      const d = download;
      lastStatus = ''; // the object on the server is no longer the last full status written
      progressWrite = client
        .patchStatus({
          phase: 'Downloading',
          download: d,
          message: `Writing the new image: ${(d.bytesDone / 1048576).toFixed(0)} MiB${d.bytesTotal ? ` of ${(d.bytesTotal / 1048576).toFixed(0)} MiB` : ''}.`,
        })
        .catch((err: unknown) => logger.warn({ err: (err as Error).message }, 'progress report failed'));
    }, 1000);
  };

  async function applySettings(node: OSNode, state: AgentState, bootedCmdline: string[], booted: 'A' | 'B'): Promise<SettingsResult> {
    const cfg = node.spec.config;
    const permit = node.spec.permit;
    let changed = false;
    if (cfg && permit?.applySettings && state.applied?.hash !== cfg.hash) {
      const report = await applySysctls({ procSysRoot: host.config.procSysRoot, persistDir: host.config.persistDir }, cfg.sysctl);
      const failed = Object.entries(report.failed);
      if (failed.length > 0) {
        return { pendingReboot: [], changed: false, error: `the kernel refused ${failed.map(([k, why]) => `${k} (${why})`).join(', ')}; fix these settings in git` };
      }
      state.applied = { hash: cfg.hash, sysctl: cfg.sysctl, kernelArgs: cfg.kernelArgs };
      await writeAgentState(host.config.persistDir, state);
      logger.info({ hash: cfg.hash, applied: Object.keys(report.applied).length, restored: Object.keys(report.restored).length }, 'settings applied');
      changed = true;
    }
    if (!state.applied) return { pendingReboot: [], changed };
    // Idempotent: keeps the kernel args in the env block of whichever slot boots next (also a newly armed one).
    const kargs = await applyKernelArgs(host.config.grubenvPath, booted, bootedCmdline, state.applied.kernelArgs);
    return { appliedConfigHash: state.applied.hash, pendingReboot: kargs.pendingReboot && kargs.slot === booted ? ['kernelArgs'] : [], changed };
  }

  async function pass(): Promise<void> {
    const node = latest;
    if (!node) return; // the controller has not created our OSNode yet
    if (Date.now() - rebootRequestedAt < REBOOT_HOLD_MS) return; // going down
    const spec = node.spec;
    const permit = spec.permit;
    const state = await readAgentState(host.config.persistDir);
    const recordReboot = async (token: string, id: string | undefined): Promise<void> => {
      state.rebootedForToken = token;
      if (id !== undefined) state.rebootBootId = id;
      else delete state.rebootBootId;
      await writeAgentState(host.config.persistDir, state);
    };
    const booted = await host.bootedSlot();
    const cmdline = await host.cmdline();

    let settings: SettingsResult;
    try {
      settings = await applySettings(node, state, cmdline, booted);
    } catch (err) {
      settings = { pendingReboot: [], changed: false, error: (err as Error).message };
    }

    let decision: UpgradeDecision | undefined;
    let health: HealthResult | undefined;
    // A permit token is good for one reboot in total: once the machine rebooted for it (upgrade or kernel
    // args), a permit left on the object (the controller did not clear it, an operator booted the old slot
    // by hand…) grants neither stage nor reboot; the agent waits for a new grant (a new token). Still on
    // the boot the reboot was asked from (the command failed, the shutdown was cancelled), the token
    // is not used up: the agent may ask again, instead of holding a drained node forever.
    const bootId = await host.bootId();
    const permitSpent = permit !== undefined && tokenSpent(state, permit.token, bootId);
    const upgradeSpec = {
      ...(spec.target ? { target: { version: spec.target.version, image: spec.target.image } } : {}),
      ...(permit ? { permit: permitSpent ? { stage: false, reboot: false } : { stage: permit.stage, reboot: permit.reboot } } : {}),
    };
    const stageKey = spec.target ? `${spec.target.version}@${spec.target.image.sha256}` : '';
    if (stageError && stageError.key !== stageKey) stageError = undefined;

    for (let step = 0; step < MAX_STEPS && !stopped; step++) {
      // The spec may have changed while a step ran (a stage takes minutes): act no further on this
      // snapshot; the watch has kicked another pass, which starts from the new object.
      if (specChanged(node, latest)) {
        logger.info('OSNode spec changed during the pass; starting over on the new object');
        return;
      }
      const facts = await gatherUpgradeFacts(host, upgradeSpec, {
        ...(opts.bootedVersionHint ? { bootedVersionHint: opts.bootedVersionHint } : {}),
        ...(stageError ? { stageError: stageError.message } : {}),
        ...(health ? { health } : {}),
      });
      decision = decideUpgrade(facts);
      if (decision.action.kind === 'none') break;
      await report(node, decision, settings, false);
      if (decision.action.kind === 'reboot' || decision.action.kind === 'fallback') logger.warn({ action: decision.action.kind, message: decision.message }, 'rebooting');
      try {
        if (decision.action.kind === 'reboot' && permit) {
          // The slot armed during this pass (a rollback flip arms it after the settings step) boots
          // with the kernel arguments of the settings in force, not with what it carried before.
          if (state.applied) await applyKernelArgs(host.config.grubenvPath, booted, cmdline, state.applied.kernelArgs);
          // Durably record the token before the machine goes down: it never reboots twice for one grant.
          await recordReboot(permit.token, bootId);
        }
        const result = await performUpgradeAction(ctx, decision.action);
        if (result.kind === 'health') health = result.health;
        if (result.kind === 'discarded') logger.error({ action: decision.action.kind, reason: result.reason }, 'slot not armed: its device no longer holds what was written; writing it again');
        if (result.kind === 'done' && result.verified) logger.info({ action: decision.action.kind, ...result.verified }, 'slot verified on its device before arming');
        if (result.kind === 'staged' && result.write.verified) logger.info({ ...result.write.verified }, 'written slot verified on its device before arming');
        if (result.kind === 'rebooting') {
          rebootRequestedAt = Date.now();
          return; // the machine goes down; the agent on the booted system reports
        }
      } catch (err) {
        if (stopped) return; // the download was cancelled by stop(): not a failure of the image
        if (decision.action.kind === 'stage') {
          stageError = { key: stageKey, message: (err as Error).message };
          logger.error({ err: stageError.message }, 'staging failed');
        } else {
          throw err;
        }
      } finally {
        download = undefined;
      }
    }
    if (!decision || stopped) return;

    // A settings change that waits only for a reboot: reboot once per grant, when permitted and no upgrade is under way.
    if (
      settings.pendingReboot.length > 0 &&
      permit?.reboot &&
      decision.action.kind === 'none' &&
      (decision.phase === 'Done' || decision.phase === 'Idle') &&
      !tokenSpent(state, permit.token, bootId)
    ) {
      await recordReboot(permit.token, bootId);
      await report(node, { ...decision, phase: 'Rebooting', reason: 'RebootingForKernelArgs', message: 'Rebooting so the new kernel arguments take effect.' }, settings, false);
      logger.warn('rebooting for new kernel arguments');
      await host.reboot();
      rebootRequestedAt = Date.now();
      return;
    }
    await report(node, decision, settings, decision.action.kind === 'none');
  }

  async function report(node: OSNode, decision: UpgradeDecision, settings: SettingsResult, settledForPermit: boolean): Promise<void> {
    const booted = await host.bootedSlot();
    const slots = await readSlots(host.config.persistDir);
    const t = now();
    const failedSettings = settings.error !== undefined;
    const phase = failedSettings ? 'Failed' : decision.phase;
    const message = failedSettings ? `Applying settings failed: ${settings.error}` : decision.message;
    const gen = node.metadata.generation;
    let conditions = node.status?.conditions ?? [];
    const healthy = phase !== 'Failed' && phase !== 'RolledBack';
    conditions = setCondition(conditions, { type: 'Ready', status: healthy ? 'True' : 'False', reason: failedSettings ? 'SettingsFailed' : decision.reason, message, ...(gen !== undefined ? { observedGeneration: gen } : {}) }, t);
    conditions = setCondition(
      conditions,
      {
        type: 'SettingsApplied',
        status: failedSettings ? 'False' : node.spec.config && settings.appliedConfigHash === node.spec.config.hash ? 'True' : 'False',
        reason: failedSettings ? 'SettingsFailed' : settings.pendingReboot.length ? 'WaitingForReboot' : settings.appliedConfigHash === node.spec.config?.hash ? 'Applied' : 'WaitingForPermit',
        message: failedSettings ? settings.error! : settings.pendingReboot.length ? 'Kernel arguments are written for the next boot.' : 'Live settings match the desired ones.',
        ...(gen !== undefined ? { observedGeneration: gen } : {}),
      },
      t,
    );
    const status: OSNodeStatus = {
      phase,
      message,
      bootedSlot: booted,
      slots: {
        ...(slots.slots.A ? { A: { version: slots.slots.A.version, sha256: slots.slots.A.sha256 } } : {}),
        ...(slots.slots.B ? { B: { version: slots.slots.B.version, sha256: slots.slots.B.sha256 } } : {}),
      },
      pendingReboot: settings.pendingReboot,
      conditions,
      ...(gen !== undefined ? { observedGeneration: gen } : {}),
    };
    const bootedVersion = slots.slots[booted]?.version ?? opts.bootedVersionHint;
    if (bootedVersion) status.bootedVersion = bootedVersion;
    if (settings.appliedConfigHash) status.appliedConfigHash = settings.appliedConfigHash;
    if (decision.download) status.download = decision.download;
    const permit = node.spec.permit;
    if (permit && (settledForPermit || failedSettings)) status.observedPermitToken = permit.token;
    else if (node.status?.observedPermitToken) status.observedPermitToken = node.status.observedPermitToken;
    // Write only what changed (conditions keep their transition times, so an idle pass writes nothing).
    // Keyed by uid too: a deleted and recreated OSNode starts with an empty status.
    const key = JSON.stringify([node.metadata.uid, status]);
    if (key === lastStatus) return;
    await progressWrite; // a late progress update must not land on top of this
    // Replace, not merge: fields absent now (a finished download, a slot being rewritten) must go.
    // Guarded by uid: a pass started for a deleted OSNode fails instead of writing onto a recreated one.
    await client.replaceStatus(status, node.metadata.uid);
    lastStatus = key;
  }

  const kick = () => {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = (async () => {
      do {
        again = false;
        // Which object the pass worked on: tests wake the agent with a write and wait for this line
        // (a pass that decided to do nothing is an event too, not the absence of one).
        const resourceVersion = latest?.metadata.resourceVersion;
        try {
          await pass();
          logger.debug({ resourceVersion }, 'pass over');
        } catch (err) {
          logger.error({ err: (err as Error).message }, 'reconcile failed; retrying');
          setTimeout(kick, 5000).unref();
        }
      } while (again && !stopped);
      running = undefined;
      const w = waiters;
      waiters = [];
      for (const f of w) f();
    })();
  };

  const stopWatch = client.watch(
    (node) => {
      latest = node;
      kick();
    },
    (err) => logger.warn({ err: err.message }, 'watch of own OSNode failed; reconnecting'),
  );
  const resync = setInterval(kick, opts.resyncMs ?? 60_000);
  resync.unref();

  return {
    async stop() {
      stopped = true;
      abort.abort();
      stopWatch();
      clearInterval(resync);
      if (progressTimer) clearTimeout(progressTimer);
      await running;
    },
    settled() {
      return new Promise<void>((resolve) => {
        waiters.push(resolve);
        kick();
      });
    },
  };
}

/**
 * Whether the machine has rebooted under `token` already: the agent recorded a reboot for it, and the
 * boot id changed since (unknown boot ids count as changed: the safe side is not rebooting again).
 */
function tokenSpent(state: AgentState, token: string, bootId: string | undefined): boolean {
  if (state.rebootedForToken !== token) return false;
  return state.rebootBootId === undefined || bootId === undefined || state.rebootBootId !== bootId;
}

/**
 * True when `latest` is no longer the object `node` was: deleted, recreated (other uid), or its spec
 * changed (generation). Status writes (the agent's own, every step) change resourceVersion but not
 * generation, so they do not count; without a generation, any resourceVersion change counts.
 */
function specChanged(node: OSNode, latest: OSNode | undefined): boolean {
  if (!latest) return true;
  if (latest === node) return false;
  if (latest.metadata.uid !== node.metadata.uid) return true;
  const [g0, g1] = [node.metadata.generation, latest.metadata.generation];
  if (g0 !== undefined && g1 !== undefined) return g0 !== g1;
  return latest.metadata.resourceVersion !== node.metadata.resourceVersion;
}
