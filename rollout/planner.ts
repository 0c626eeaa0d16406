// The rollout planner: (fleet, policies, clock) -> actions and per-policy status. Pure: no I/O, no
// clock of its own. It is level-triggered: every call derives who is updated, in progress or failed
// from the OSNode views and the small RolloutMemory, so a restarted controller just plans again.

import { createHash } from 'node:crypto';
import { batchBoundaries, orderNodes, resolveShare } from './order.js';
import { selectorMatcher, type LabelMatcher } from './selector.js';
import { compileWindow, isOpen, openIntervalAt, type CompiledWindow, type Interval } from './windows.js';
import type {
  Action,
  Condition,
  Fleet,
  FleetNode,
  NodeConflict,
  Permit,
  PlanResult,
  PolicyStatus,
  RolloutMemory,
  RolloutPolicy,
  TargetRef,
} from './types.js';

/** How long a node osfleet rebooted may stay NotReady before it counts as failed. */
export const DEFAULT_HEALTH_TIMEOUT_MS = 15 * 60_000;

function sha(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/**
 * The rollout attempt a planner token was issued under. Tokens look like "a2.1a2b3c4d.0123456789ab":
 * attempt (bumped when a halted rollout resumes), node key (target + settings), and a hash that also
 * covers the policy generation and the granted flags.
 */
export function tokenAttempt(token: string | undefined): number {
  const m = token ? /^a([0-9]+)\./.exec(token) : null;
  return m ? Number(m[1]) : -1;
}

/** Whether a planner token was issued for node key `key` (without allocating: called per node). */
function tokenHasKey(token: string, key: string): boolean {
  const dot = token.indexOf('.');
  return dot > 0 && token.startsWith(key, dot + 1) && token.charCodeAt(dot + 1 + key.length) === 46; // '.'
}

type Flags = Pick<Permit, 'stage' | 'applySettings' | 'reboot'>;
const NO_FLAGS: Flags = { stage: false, applySettings: false, reboot: false };

type NodeState = 'updated' | 'failed' | 'inProgress' | 'pending';

interface PolicyContext {
  policy: RolloutPolicy;
  maintenance: CompiledWindow[];
  deny: CompiledWindow[];
  matcher: LabelMatcher;
}

/** What the planner would do with each policy's nodes, batch by batch (names, in order). */
export interface BatchAssignment {
  policy: string;
  batches: { index: number; nodes: string[] }[];
}

interface Selection {
  contexts: (PolicyContext | { policy: RolloutPolicy; error: string })[];
  owned: FleetNode[][];
  conflicted: string[][];
  conflicts: NodeConflict[];
  unmanaged: FleetNode[];
}

function select(fleet: Fleet, policies: readonly RolloutPolicy[]): Selection {
  const contexts: Selection['contexts'] = policies.map((policy) => {
    try {
      return {
        policy,
        matcher: selectorMatcher(policy.selector),
        maintenance: policy.maintenanceWindows.map((w) => compileWindow(w, 'maintenance')),
        deny: policy.denyWindows.map((w) => compileWindow(w, 'deny')),
      };
    } catch (err) {
      return { policy, error: (err as Error).message };
    }
  });
  const owned: FleetNode[][] = policies.map(() => []);
  const conflicted: string[][] = policies.map(() => []);
  const conflicts: NodeConflict[] = [];
  const unmanaged: FleetNode[] = [];
  const hits: number[] = [];
  for (const node of fleet.nodes) {
    hits.length = 0;
    for (let p = 0; p < contexts.length; p++) {
      const c = contexts[p]!;
      if ('matcher' in c && c.matcher(node.labels)) hits.push(p);
    }
    if (hits.length === 1) owned[hits[0]!]!.push(node);
    else if (hits.length === 0) unmanaged.push(node);
    else {
      unmanaged.push(node);
      conflicts.push({ node: node.name, policies: hits.map((p) => policies[p]!.name).sort() });
      for (const p of hits) conflicted[p]!.push(node.name);
    }
  }
  return { contexts, owned, conflicted, conflicts, unmanaged };
}

function grantsAnything(p: Permit | undefined): boolean {
  return p !== undefined && (p.stage || p.applySettings || p.reboot);
}

function rebootInFlight(node: FleetNode): boolean {
  const permit = node.osnode?.spec.permit;
  if (!permit?.reboot) return false;
  const st = node.osnode?.status;
  if (st?.observedPermitToken !== permit.token) return true;
  return st.phase === 'Rebooting' || st.phase === 'Verifying';
}

/** Plans one step of every policy's rollout at time `now` (epoch ms). */
export function plan(fleet: Fleet, policies: readonly RolloutPolicy[], now: number): PlanResult {
  const sel = select(fleet, policies);
  const actions: Action[] = [];
  const policyStatus: PolicyStatus[] = [];
  for (let p = 0; p < policies.length; p++) {
    const ctx = sel.contexts[p]!;
    if ('error' in ctx) {
      policyStatus.push(invalidPolicyStatus(ctx.policy, ctx.error, sel.conflicted[p]!));
      continue;
    }
    policyStatus.push(planPolicy(ctx, sel.owned[p]!, sel.conflicted[p]!, now, actions));
  }
  // Nodes no single policy owns are left alone, except that a cordon of ours is released.
  for (const node of sel.unmanaged) {
    if (node.cordonedByUs && !rebootInFlight(node)) {
      actions.push({ type: 'uncordon', node: node.name, reason: 'NotManaged' });
    }
  }
  return { actions, policyStatus, conflicts: sel.conflicts };
}

/** The batches each policy would use for the fleet as it is (same order and shares as `plan`). */
export function assignBatches(fleet: Fleet, policies: readonly RolloutPolicy[]): BatchAssignment[] {
  const sel = select(fleet, policies);
  return policies.map((policy, p) => {
    const ordered = orderNodes(sel.owned[p]!);
    const bounds = batchBoundaries(policy.strategy.batches, ordered.length);
    let prev = 0;
    return {
      policy: policy.name,
      batches: bounds.map((b, index) => {
        const nodes = ordered.slice(prev, b).map((n) => n.name);
        prev = b;
        return { index, nodes };
      }),
    };
  });
}

function invalidPolicyStatus(policy: RolloutPolicy, error: string, conflicted: string[]): PolicyStatus {
  const g = policy.generation;
  const memory: RolloutMemory = policy.memory ?? { revision: '', currentBatch: 0, batchWorked: false, attempt: 0 };
  return {
    name: policy.name,
    counts: { total: 0, updated: 0, inProgress: 0, pending: 0, failed: 0, conflicted: conflicted.length },
    currentBatch: memory.currentBatch,
    totalBatches: policy.strategy.batches.length,
    nextWindow: null,
    soakUntil: null,
    failedNodes: [],
    conflictedNodes: conflicted,
    conditions: [
      cond('Ready', false, 'InvalidPolicy', error, g),
      cond('Progressing', false, 'InvalidPolicy', `${error}; fix the RolloutPolicy in git`, g),
      cond('Paused', false, 'NotPaused', 'The policy is not paused.', g),
      cond('Degraded', true, 'InvalidPolicy', error, g),
      conflictCondition(conflicted, g),
    ],
    memory,
  };
}

function cond(type: Condition['type'], status: boolean, reason: string, message: string, g: number): Condition {
  return { type, status: status ? 'True' : 'False', reason, message, observedGeneration: g };
}

function listNames(names: readonly string[], max = 10): string {
  const shown = names.slice(0, max).join(', ');
  return names.length > max ? `${shown} and ${names.length - max} more` : shown;
}

function conflictCondition(conflicted: string[], g: number): Condition {
  return conflicted.length > 0
    ? cond(
        'Conflict',
        true,
        'NodeSelectedTwice',
        `${conflicted.length} node(s) are selected by another OS too and are left alone: ${listNames(conflicted)}. Make the node selectors of the RolloutPolicies disjoint.`,
        g,
      )
    : cond('Conflict', false, 'NoConflict', 'No node is selected by another OS.', g);
}

function planPolicy(
  ctx: PolicyContext,
  nodes: FleetNode[],
  conflicted: string[],
  now: number,
  actions: Action[],
): PolicyStatus {
  const { policy } = ctx;
  const { strategy } = policy;
  const g = policy.generation;
  const target: TargetRef = { osName: policy.name, version: policy.target.version, image: policy.target.image };
  const digest = policy.target.image.sha256;

  const ordered = orderNodes(nodes);
  const total = ordered.length;
  const bounds = batchBoundaries(strategy.batches, total);
  const batchCount = bounds.length;
  const maxUnavailable = Math.max(1, shareOr(strategy.maxUnavailable, total, 1));
  const budget = Math.max(1, shareOr(strategy.failureBudget, total, 1));
  const healthTimeout = strategy.healthTimeoutMs ?? DEFAULT_HEALTH_TIMEOUT_MS;

  // The revision changes when the version, digest or any node's desired settings change.
  const configHashes = new Set<string>();
  for (const n of ordered) configHashes.add(n.desiredConfig?.hash ?? '');
  const revision = sha(JSON.stringify([policy.target.version, digest, [...configHashes].sort()])).slice(0, 16);

  const prev = policy.memory;
  const memory: RolloutMemory =
    prev && prev.revision === revision
      ? { ...prev, halted: prev.halted ? { ...prev.halted, nodes: [...prev.halted.nodes] } : undefined }
      : { revision, currentBatch: 0, batchWorked: false, attempt: prev?.attempt ?? 0 };
  if (memory.halted === undefined) delete memory.halted;

  // A halt lasts until the policy changes (generation) or `paused` is toggled.
  if (memory.halted) {
    if (memory.halted.generation !== g || (memory.halted.pausedSeen && !policy.paused)) {
      delete memory.halted;
      memory.attempt++;
    } else if (policy.paused) {
      memory.halted.pausedSeen = true;
    }
  }

  // Per-node key of what the node is rolled to; tokens carry it, so an old permit is recognisable.
  const keyCache = new Map<string, string>();
  const nodeKey = (n: FleetNode): string => {
    const c = n.desiredConfig?.hash ?? '';
    let k = keyCache.get(c);
    if (k === undefined) {
      k = sha(JSON.stringify([policy.target.version, digest, c])).slice(0, 8);
      keyCache.set(c, k);
    }
    return k;
  };
  const specMatches = (n: FleetNode): boolean => {
    const t = n.osnode?.spec.target;
    return (
      t !== undefined &&
      t.osName === policy.name &&
      t.version === policy.target.version &&
      t.image.sha256 === digest &&
      (n.desiredConfig === undefined || n.osnode?.spec.configHash === n.desiredConfig.hash)
    );
  };
  const currentPermit = (n: FleetNode): Permit | undefined => {
    const permit = n.osnode?.spec.permit;
    return permit && tokenHasKey(permit.token, nodeKey(n)) ? permit : undefined;
  };

  // Classify every node.
  const states: NodeState[] = new Array(total);
  const batchOf: number[] = new Array(total);
  let b = 0;
  for (let i = 0; i < total; i++) {
    while (b < batchCount - 1 && i >= bounds[b]!) b++;
    batchOf[i] = b;
    states[i] = classify(ordered[i]!);
  }
  function isUpdated(n: FleetNode): boolean {
    const st = n.osnode?.status;
    if (!st) return false;
    const phase = st.phase ?? 'Idle';
    return (
      st.bootedVersion === policy.target.version &&
      (n.desiredConfig === undefined || st.appliedConfigHash === n.desiredConfig.hash) &&
      (st.pendingReboot?.length ?? 0) === 0 &&
      (phase === 'Done' || phase === 'Idle')
    );
  }
  function classify(n: FleetNode): NodeState {
    const os = n.osnode;
    const permit = os?.spec.permit;
    const started = specMatches(n) && currentPermit(n) !== undefined;
    if (started && permit) {
      const marked = os?.failure !== undefined && os.failure.token === permit.token;
      const agentFailed =
        (os?.status.phase === 'Failed' || os?.status.phase === 'RolledBack') && os.status.observedPermitToken === permit.token;
      if (marked || (agentFailed && !isUpdated(n))) {
        return tokenAttempt(permit.token) >= memory.attempt ? 'failed' : 'pending';
      }
    }
    if (isUpdated(n)) return 'updated';
    return started ? 'inProgress' : 'pending';
  }
  // A node we rebooted must be Ready again before its batch counts as done (health gate).
  const finished = (i: number): boolean => {
    const s = states[i];
    if (s === 'failed') return true;
    if (s !== 'updated') return false;
    const n = ordered[i]!;
    return n.ready || !n.cordonedByUs;
  };

  // Failures and halts.
  const failedNodes: string[] = [];
  let canaryFailed = false;
  for (let i = 0; i < total; i++) {
    if (states[i] === 'failed') {
      failedNodes.push(ordered[i]!.name);
      if (batchOf[i] === 0) canaryFailed = true;
    }
  }
  if (!memory.halted && total > 0) {
    if (failedNodes.length >= budget) {
      memory.halted = { reason: 'FailureBudgetReached', generation: g, nodes: [...failedNodes], pausedSeen: policy.paused };
    } else if (canaryFailed && batchCount > 1) {
      memory.halted = { reason: 'CanaryFailed', generation: g, nodes: [...failedNodes], pausedSeen: policy.paused };
    }
  }

  // Batches: the first with unfinished nodes; a finished batch in which we did work soaks first.
  let firstOpen = batchCount;
  for (let i = 0; i < total; i++) {
    if (!finished(i)) {
      firstOpen = batchOf[i]!;
      break;
    }
  }
  if (firstOpen < memory.currentBatch) {
    memory.currentBatch = firstOpen;
    memory.batchWorked = false;
    delete memory.soakUntil;
  }
  let soaking = false;
  while (memory.currentBatch < firstOpen) {
    if (memory.batchWorked && strategy.soakMs > 0 && memory.currentBatch < batchCount - 1) {
      memory.soakUntil ??= iso(now + strategy.soakMs);
      if (now < Date.parse(memory.soakUntil)) {
        soaking = true;
        break;
      }
    }
    memory.currentBatch++;
    memory.batchWorked = false;
    delete memory.soakUntil;
  }
  const cur = memory.currentBatch;

  // Windows are evaluated once per policy, never per node.
  const window: Interval | null = openIntervalAt(ctx.maintenance, ctx.deny, now);
  const windowOpen = window !== null && window.start <= now;

  const halted = memory.halted !== undefined;
  const mayContinue = !policy.paused && !halted; // nodes already started
  const mayStart = mayContinue && !soaking; // new nodes

  let unavailable = 0;
  for (const n of ordered) if (!n.ready || n.unschedulable) unavailable++;

  let inProgress = 0;
  let pending = 0;
  let updated = 0;
  /** Updated nodes osfleet still holds cordoned: given back once Ready (or failed after the health timeout). */
  const notGivenBack: string[] = [];
  const waitingNotReady: string[] = [];
  const waitingCordoned: string[] = [];
  let blockedByCapacity = false;
  // Reboots start in the policy's order (what `osfleet plan` shows): a node whose image or settings
  // are ready does not overtake an earlier node that is still being prepared for its reboot.
  let earlierPreparing = false;

  for (let i = 0; i < total; i++) {
    const n = ordered[i]!;
    const state = states[i]!;
    const name = n.name;
    const st = n.osnode?.status;

    if (state === 'updated') {
      updated++;
      if (n.cordonedByUs) notGivenBack.push(name);
      if (!specMatches(n)) {
        actions.push({ type: 'setTarget', node: name, policy: policy.name, target, configHash: n.desiredConfig?.hash });
        actions.push({ type: 'grant', node: name, policy: policy.name, permit: makePermit(n, NO_FLAGS) });
      } else if (!n.cordonedByUs && grantsAnything(n.osnode?.spec.permit)) {
        // Done and given back: withdraw the permit, so a node booted into its old slot by hand (or
        // reinstalled) is never rebooted again under a grant that was meant for this update.
        actions.push({ type: 'grant', node: name, policy: policy.name, permit: makePermit(n, NO_FLAGS) });
      }
      if (n.cordonedByUs) {
        if (n.ready) {
          actions.push({ type: 'uncordon', node: name, policy: policy.name, reason: 'Updated' });
        } else {
          const permit = n.osnode?.spec.permit;
          const since = n.notReadySince;
          if (permit && since !== undefined && now - since >= healthTimeout && n.osnode?.failure?.token !== permit.token) {
            actions.push({
              type: 'markFailed',
              node: name,
              policy: policy.name,
              token: permit.token,
              reason: 'NodeNotReadyAfterUpdate',
              message: `${name} runs ${policy.target.version} but has not been Ready for ${Math.round((now - since) / 60_000)} minutes; check the kubelet and the node's console`,
            });
          }
        }
      }
      continue;
    }
    if (state === 'failed') {
      if (n.cordonedByUs && !rebootInFlight(n)) actions.push({ type: 'uncordon', node: name, policy: policy.name, reason: 'Failed' });
      continue;
    }

    // In progress, or pending and perhaps about to start.
    let starting = false;
    if (state === 'pending') {
      if (n.cordonedByUs && !rebootInFlight(n)) {
        // A cordon of ours left from an earlier target or a halt: release it before anything else.
        actions.push({ type: 'uncordon', node: name, policy: policy.name, reason: 'NotStarted' });
        pending++;
        continue;
      }
      if (batchOf[i]! > cur || !mayStart) {
        pending++;
        continue;
      }
      if (!n.ready) {
        waitingNotReady.push(name);
        pending++;
        continue;
      }
      if (n.unschedulable) {
        waitingCordoned.push(name);
        pending++;
        continue;
      }
      starting = true;
    }

    const booted = st?.bootedVersion;
    const needsOS = booted !== policy.target.version;
    const staged = needsOS && otherSlotHolds(n, policy.target);
    const needsSettings = n.desiredConfig !== undefined && st?.appliedConfigHash !== n.desiredConfig.hash;
    const needsReboot =
      needsOS || (needsSettings && n.desiredConfig!.needsReboot) || (st?.pendingReboot?.length ?? 0) > 0;
    const current: Flags = starting ? NO_FLAGS : currentPermit(n) ?? NO_FLAGS;

    const want: Flags = { ...current };
    const nodeActions: Action[] = [];
    if (mayContinue) {
      if (needsOS && !staged && (windowOpen || strategy.stageOutsideWindows)) want.stage = true;
      if (needsSettings && (windowOpen || n.cordonedByUs)) want.applySettings = true;
      const prepared = (!needsOS || staged) && !needsSettings;
      if (needsReboot && !prepared && !n.cordonedByUs && windowOpen && n.ready && !n.unschedulable) earlierPreparing = true;
      if (needsReboot && prepared) {
        if (!n.cordonedByUs) {
          if (!current.reboot) {
            if (!windowOpen) {
              // A new drain or reboot waits for the window.
            } else if (!n.ready || n.unschedulable) {
              (n.ready ? waitingCordoned : waitingNotReady).push(name);
            } else if (earlierPreparing) {
              // Waits for its turn: an earlier node is still staging its image or applying settings.
            } else if (unavailable + 1 > maxUnavailable) {
              blockedByCapacity = true;
            } else {
              unavailable += 1;
              nodeActions.push({ type: 'cordon', node: name, policy: policy.name });
              nodeActions.push({ type: 'drain', node: name, policy: policy.name });
            }
          }
        } else if (!n.drained) {
          nodeActions.push({ type: 'drain', node: name, policy: policy.name });
        } else {
          want.reboot = true;
        }
      }
    } else if (n.cordonedByUs && !current.reboot) {
      // Paused or halted before the reboot was granted: give the node back.
      nodeActions.push({ type: 'uncordon', node: name, policy: policy.name, reason: halted ? 'Halted' : 'Paused' });
    }

    const grantChanged =
      want.stage !== current.stage || want.applySettings !== current.applySettings || want.reboot !== current.reboot;
    if (starting) {
      if (!grantChanged && nodeActions.length === 0) {
        pending++; // nothing may happen yet (outside windows, no capacity)
        continue;
      }
      actions.push({ type: 'setTarget', node: name, policy: policy.name, target, configHash: n.desiredConfig?.hash });
      actions.push({ type: 'grant', node: name, policy: policy.name, permit: makePermit(n, want) });
      memory.batchWorked = true;
    } else if (grantChanged) {
      actions.push({ type: 'grant', node: name, policy: policy.name, permit: makePermit(n, want) });
    }
    actions.push(...nodeActions);
    inProgress++;
  }

  function makePermit(n: FleetNode, f: Flags): Permit {
    const key = nodeKey(n);
    const h = sha(JSON.stringify([policy.name, g, n.name, key, f.stage, f.applySettings, f.reboot])).slice(0, 12);
    return { token: `a${memory.attempt}.${key}.${h}`, stage: f.stage, applySettings: f.applySettings, reboot: f.reboot };
  }

  // Status.
  const failed = failedNodes.length;
  // Done means every node runs the target and is schedulable again: a cordon of ours still held
  // (an uncordon to retry, a node not Ready yet after its reboot) keeps Ready False.
  const complete = total > 0 ? updated === total && notGivenBack.length === 0 : true;
  const nextWindow = window ? { start: iso(Math.max(window.start, now)), end: Number.isFinite(window.end) ? iso(window.end) : null } : null;
  const conditions: Condition[] = [];
  const batchText = `batch ${Math.min(cur + 1, batchCount)} of ${batchCount}`;
  conditions.push(
    complete
      ? cond('Ready', true, 'RolloutComplete', `All ${total} node(s) run ${policy.target.version} with their settings applied.`, g)
      : updated === total
        ? cond('Ready', false, 'RolloutInProgress', `All ${total} node(s) run ${policy.target.version}; ${notGivenBack.length} still cordoned by osfleet until Ready: ${listNames(notGivenBack)}.`, g)
        : cond('Ready', false, 'RolloutInProgress', `${updated} of ${total} node(s) updated.`, g),
  );
  conditions.push(progressing());
  if (memory.halted) {
    const msg = haltMessage(memory.halted.reason, memory.halted.nodes);
    conditions.push(cond('Paused', true, memory.halted.reason, msg, g));
  } else if (policy.paused) {
    conditions.push(cond('Paused', true, 'PausedByUser', 'spec.paused is true: no node starts an update; set it to false to continue.', g));
  } else {
    conditions.push(cond('Paused', false, 'NotPaused', 'The rollout is not paused.', g));
  }
  if (memory.halted) {
    conditions.push(cond('Degraded', true, memory.halted.reason, haltMessage(memory.halted.reason, memory.halted.nodes), g));
  } else if (failed > 0) {
    conditions.push(
      cond('Degraded', true, 'NodesFailed', `${failed} node(s) failed to update (budget ${budget}): ${listNames(failedNodes)}; see their OSNode for the reason.`, g),
    );
  } else if (conflicted.length > 0) {
    conditions.push(cond('Degraded', true, 'Conflict', `${conflicted.length} node(s) are selected by two OS objects: ${listNames(conflicted)}.`, g));
  } else {
    conditions.push(cond('Degraded', false, 'NoFailures', 'No node failed.', g));
  }
  conditions.push(conflictCondition(conflicted, g));

  function progressing(): Condition {
    if (total === 0) return cond('Progressing', false, 'NoNodes', 'The node selector matches no node.', g);
    if (complete) return cond('Progressing', false, 'Complete', 'Nothing left to do.', g);
    if (memory.halted) return cond('Progressing', false, memory.halted.reason, haltMessage(memory.halted.reason, memory.halted.nodes), g);
    if (policy.paused) return cond('Progressing', false, 'PausedByUser', 'spec.paused is true.', g);
    if (updated === total) {
      return cond('Progressing', true, 'Uncordoning', `Every node runs ${policy.target.version}; giving back the node(s) osfleet cordoned once Ready: ${listNames(notGivenBack)}.`, g);
    }
    if (soaking) return cond('Progressing', true, 'Soaking', `Soaking after ${batchText.replace(/^batch \d+/, `batch ${cur + 1}`)} until ${memory.soakUntil}.`, g);
    if (!windowOpen && inProgress === 0) {
      if (window === null) {
        return cond('Progressing', false, 'NoWindowScheduled', 'No maintenance window opens within four years; fix maintenanceWindows or denyWindows.', g);
      }
      const denied = ctx.deny.length > 0 && isOpen(ctx.maintenance, [], now);
      return cond(
        'Progressing',
        false,
        denied ? 'InsideDenyWindow' : 'OutsideMaintenanceWindow',
        `${denied ? 'A deny window is open' : 'No maintenance window is open'}; the next opens at ${iso(Math.max(window.start, now))}.`,
        g,
      );
    }
    if (blockedByCapacity && inProgress === 0) {
      return cond('Progressing', false, 'MaxUnavailableReached', `${unavailable} node(s) are unavailable (maxUnavailable ${maxUnavailable}); waiting for nodes to come back.`, g);
    }
    if (waitingNotReady.length > 0 && inProgress === 0) {
      return cond('Progressing', false, 'NodeNotReady', `Waiting for NotReady node(s) to recover: ${listNames(waitingNotReady)}.`, g);
    }
    if (waitingCordoned.length > 0 && inProgress === 0) {
      return cond('Progressing', false, 'NodeCordoned', `Waiting for node(s) cordoned by someone else: ${listNames(waitingCordoned)}.`, g);
    }
    return cond('Progressing', true, 'RollingOut', `Updating ${batchText}: ${inProgress} node(s) in progress.`, g);
  }

  return {
    name: policy.name,
    counts: { total, updated, inProgress, pending, failed, conflicted: conflicted.length },
    currentBatch: cur,
    totalBatches: batchCount,
    nextWindow,
    soakUntil: memory.soakUntil ?? null,
    failedNodes,
    conflictedNodes: conflicted,
    conditions,
    memory,
  };
}

function haltMessage(reason: string, nodes: string[]): string {
  const what = reason === 'CanaryFailed' ? 'A canary node failed' : 'The failure budget is reached';
  return `${what} (${listNames(nodes)}); the rollout is halted. Fix the cause, then change the policy or toggle spec.paused to resume.`;
}

function shareOr(v: number | string, total: number, fallback: number): number {
  const r = resolveShare(v, total, 'floor');
  return r.ok ? r.count : fallback;
}

/**
 * Whether the node's other (non-booted) slot already holds the target: same version and, when the
 * agent reports it, the same digest. A re-published image under an old version string is not "staged".
 */
function otherSlotHolds(n: FleetNode, target: { version: string; image: { sha256: string } }): boolean {
  const st = n.osnode?.status;
  if (!st?.slots) return false;
  let other;
  if (st.bootedSlot === 'A') other = st.slots.B;
  else if (st.bootedSlot === 'B') other = st.slots.A;
  else other = st.slots.A?.version !== st.bootedVersion ? st.slots.A : st.slots.B;
  if (other?.version !== target.version) return false;
  return other.sha256 === undefined || other.sha256.toLowerCase() === target.image.sha256.toLowerCase();
}
