// Runs the real planner against a simulated clock and instantly succeeding nodes: which nodes go in
// which batch, when (UTC and the policy's own zone), and which need a reboot. The core of
// `osfleet plan`; the CLI maps the rendered repository and the fleet file onto these inputs.

import { assignBatches, plan } from './planner.js';
import { DEFAULT_HORIZON_MS } from './windows.js';
import { formatLocal } from './zone.js';
import type { Action, DesiredConfig, Fleet, FleetNode, PolicyStatus, RolloutPolicy } from './types.js';

export interface SimNode {
  name: string;
  labels: Record<string, string>;
  /** The OS version the node runs now. */
  osVersion: string;
  appliedConfigHash?: string;
  desiredConfig?: DesiredConfig;
}

export interface SimBatch {
  index: number;
  nodes: string[];
  /** ISO 8601 UTC of the first change to a running node of this batch; null when nothing changes. */
  start: string | null;
  /** The same instant in the policy's time zone, with its offset. */
  startLocal: string | null;
  /** Nodes of this batch that reboot (new OS version, or settings that need one). */
  reboot: string[];
  /** Nodes that only get live settings. */
  liveSettingsOnly: string[];
  /** ISO 8601 UTC when the last node of this batch was done; null when one never was. */
  end: string | null;
}

/** A wait between batches: from when it began to when the next batch may start (ISO 8601 UTC). */
export interface SimSoak {
  start: string;
  end: string;
}

export interface SimPolicy {
  name: string;
  timeZone: string;
  batches: SimBatch[];
  /** ISO 8601 UTC when the last node finished, or null when the simulation ended first. */
  finishedAt: string | null;
  /** Nodes still not updated when the simulation ended, and why. */
  notUpdated: string[];
  problem: { reason: string; message: string } | null;
  soaks: SimSoak[];
}

export interface SimulationReport {
  startedAt: string;
  horizonDays: number;
  policies: SimPolicy[];
}

export interface SimulateOptions {
  /** How far the simulated clock may run (default: as far as the planner looks for a window). */
  horizonMs?: number;
}

const MINUTE = 60_000;

/** Builds the planner's view of a fleet whose agents have not been told anything yet. */
export function initialFleet(nodes: readonly SimNode[]): Fleet {
  return {
    nodes: nodes.map((n) => ({
      name: n.name,
      labels: n.labels,
      ready: true,
      unschedulable: false,
      cordonedByUs: false,
      drained: false,
      desiredConfig: n.desiredConfig,
      osnode: {
        spec: {},
        status: {
          phase: 'Idle',
          bootedSlot: 'A',
          bootedVersion: n.osVersion,
          slots: { A: { version: n.osVersion } },
          appliedConfigHash: n.appliedConfigHash,
          pendingReboot: [],
        },
      },
    })),
  };
}

/**
 * Applies planner actions to a simulated fleet whose agents succeed at once: staging fills the
 * other slot, settings apply (leaving a pending reboot when they need one), a reboot boots the
 * staged slot, drains finish immediately.
 */
export function applyInstantly(fleet: Fleet, actions: readonly Action[], versionOf: (policy: string) => string | undefined): void {
  const byName = new Map(fleet.nodes.map((n) => [n.name, n]));
  for (const a of actions) {
    const n = byName.get(a.node);
    if (!n) continue;
    switch (a.type) {
      case 'setTarget':
        ensureOSNode(n).spec.target = a.target;
        ensureOSNode(n).spec.configHash = a.configHash;
        break;
      case 'grant':
        ensureOSNode(n).spec.permit = a.permit;
        agentAct(n, versionOf(a.policy));
        break;
      case 'cordon':
        n.unschedulable = true;
        n.cordonedByUs = true;
        n.drained = false;
        break;
      case 'drain':
        if (n.cordonedByUs) n.drained = true;
        break;
      case 'uncordon':
        n.unschedulable = false;
        n.cordonedByUs = false;
        n.drained = false;
        break;
      case 'markFailed':
        ensureOSNode(n).failure = { token: a.token, reason: a.reason, message: a.message };
        break;
    }
  }
}

function ensureOSNode(n: FleetNode): NonNullable<FleetNode['osnode']> {
  n.osnode ??= { spec: {}, status: { phase: 'Idle' } };
  return n.osnode;
}

function agentAct(n: FleetNode, fallbackVersion: string | undefined): void {
  const os = ensureOSNode(n);
  const { spec, status } = os;
  const permit = spec.permit;
  if (!permit || status.observedPermitToken === permit.token) return;
  const version = spec.target?.version ?? fallbackVersion;
  const booted = status.bootedSlot ?? 'A';
  const other = booted === 'A' ? 'B' : 'A';
  status.slots ??= {};
  if (permit.stage && version && status.bootedVersion !== version) status.slots[other] = { version };
  if (permit.applySettings && spec.configHash !== undefined && status.appliedConfigHash !== spec.configHash) {
    status.appliedConfigHash = spec.configHash;
    if (n.desiredConfig?.needsReboot) status.pendingReboot = ['kernelArgs'];
  }
  if (permit.reboot) {
    if (version && status.bootedVersion !== version && status.slots[other]?.version === version) {
      status.bootedSlot = other;
      status.bootedVersion = version;
    }
    status.pendingReboot = [];
  }
  status.phase = status.bootedVersion === version && (status.pendingReboot?.length ?? 0) === 0 ? 'Done' : 'Staged';
  status.observedPermitToken = permit.token;
}

/** Simulates every policy's rollout from `now` (epoch ms) until done or the horizon. */
export function simulate(
  nodes: readonly SimNode[],
  policies: readonly RolloutPolicy[],
  now: number,
  options: SimulateOptions = {},
): SimulationReport {
  const horizonMs = options.horizonMs ?? DEFAULT_HORIZON_MS;
  const end = now + horizonMs;
  const fleet = initialFleet(nodes);
  const live = policies.map((p) => ({ ...p, memory: p.memory }));
  const assignment = assignBatches(fleet, live);
  const versions = new Map(live.map((p) => [p.name, p.target.version]));
  const changedAt = new Map<string, number>();
  const rebooted = new Set<string>();
  const liveSettings = new Set<string>();
  const finishedAt = new Map<string, number>();
  const doneAt = new Map<string, number>();
  const soaks = live.map(() => new Map<string, number>());
  const byName = new Map(fleet.nodes.map((n) => [n.name, n]));
  const policyOf = new Map(assignment.flatMap((a, i) => a.batches.flatMap((b) => b.nodes.map((n) => [n, i] as const))));
  let statuses: PolicyStatus[] = [];
  let t = now;
  const maxRounds = 8 + 6 * fleet.nodes.length;

  for (;;) {
    for (let round = 0; round < maxRounds; round++) {
      const result = plan(fleet, live, t);
      statuses = result.policyStatus;
      statuses.forEach((s, i) => {
        live[i]!.memory = s.memory;
        if (s.counts.total > 0 && s.counts.updated === s.counts.total && !finishedAt.has(s.name)) finishedAt.set(s.name, t);
      });
      if (result.actions.length === 0) break;
      for (const a of result.actions) {
        const touches = a.type === 'cordon' || (a.type === 'grant' && (a.permit.applySettings || a.permit.reboot));
        if (touches && !changedAt.has(a.node)) changedAt.set(a.node, t);
        if (a.type === 'grant' && a.permit.reboot) rebooted.add(a.node);
        if (a.type === 'grant' && a.permit.applySettings) liveSettings.add(a.node);
      }
      applyInstantly(fleet, result.actions, (p) => versions.get(p));
      for (const a of result.actions) {
        const i = policyOf.get(a.node);
        const n = byName.get(a.node);
        if (i !== undefined && n && !doneAt.has(a.node) && isUpdated(n, live[i]!.target.version)) doneAt.set(a.node, t);
      }
    }
    statuses.forEach((s, i) => {
      if (s.soakUntil && Date.parse(s.soakUntil) > t && !soaks[i]!.has(s.soakUntil)) soaks[i]!.set(s.soakUntil, t);
    });
    const waiting = statuses.filter((s) => s.counts.updated + s.counts.failed < s.counts.total && !isHalted(s));
    if (waiting.length === 0) break;
    let next = Infinity;
    for (const s of waiting) {
      if (s.soakUntil) next = Math.min(next, Date.parse(s.soakUntil));
      if (s.nextWindow) {
        const start = Date.parse(s.nextWindow.start);
        if (start > t) next = Math.min(next, start);
        else if (s.nextWindow.end) {
          // Open now yet nothing moved: the next chance is the next opening after this one.
          next = Math.min(next, Date.parse(s.nextWindow.end) + 1);
        }
      }
    }
    if (!Number.isFinite(next) || next > end) break;
    t = Math.max(next, t + 1);
  }

  return {
    startedAt: new Date(now).toISOString(),
    horizonDays: Math.round(horizonMs / (24 * 60 * MINUTE)),
    policies: live.map((p, i) => {
      const status = statuses[i]!;
      const zone = p.maintenanceWindows[0]?.timeZone ?? 'UTC';
      const batches: SimBatch[] = [];
      for (const b of assignment[i]!.batches) {
        if (b.nodes.length === 0) continue;
        let start = Infinity;
        let end = -Infinity;
        for (const n of b.nodes) {
          start = Math.min(start, changedAt.get(n) ?? Infinity);
          end = Math.max(end, doneAt.get(n) ?? Infinity);
        }
        batches.push({
          index: b.index,
          nodes: b.nodes,
          start: Number.isFinite(start) ? new Date(start).toISOString() : null,
          startLocal: Number.isFinite(start) ? formatLocal(zone, start) : null,
          reboot: b.nodes.filter((n) => rebooted.has(n)),
          liveSettingsOnly: b.nodes.filter((n) => liveSettings.has(n) && !rebooted.has(n)),
          end: Number.isFinite(start) && Number.isFinite(end) ? new Date(end).toISOString() : null,
        });
      }
      const notUpdated = fleetNotUpdated(fleet, assignment[i]!.batches.flatMap((b) => b.nodes), p.target.version);
      const done = finishedAt.get(p.name);
      let problem: SimPolicy['problem'] = null;
      if (notUpdated.length > 0) {
        const c = status.conditions.find((x) => x.type === 'Progressing' && x.status === 'False') ??
          status.conditions.find((x) => x.type === 'Paused' && x.status === 'True');
        problem = c
          ? { reason: c.reason, message: c.message }
          : { reason: 'HorizonReached', message: `Not finished within ${Math.round(horizonMs / 86_400_000)} simulated days.` };
        if (status.nextWindow === null) {
          problem = { reason: 'NoWindowScheduled', message: 'No maintenance window opens (or every one is inside a deny window); these nodes never update.' };
        }
      }
      return {
        name: p.name,
        timeZone: zone,
        batches,
        finishedAt: done !== undefined && notUpdated.length === 0 ? new Date(done).toISOString() : null,
        notUpdated,
        problem,
        soaks: [...soaks[i]!].map(([until, from]) => ({ start: new Date(from).toISOString(), end: until })),
      };
    }),
  };
}

function isHalted(s: PolicyStatus): boolean {
  return s.conditions.some((c) => c.type === 'Paused' && c.status === 'True');
}

function isUpdated(n: FleetNode, version: string): boolean {
  const st = n.osnode?.status;
  if (!st) return false;
  return (
    st.bootedVersion === version &&
    (n.desiredConfig === undefined || st.appliedConfigHash === n.desiredConfig.hash) &&
    (st.pendingReboot?.length ?? 0) === 0
  );
}

function fleetNotUpdated(fleet: Fleet, names: string[], version: string): string[] {
  const byName = new Map(fleet.nodes.map((n) => [n.name, n]));
  return names.filter((name) => {
    const n = byName.get(name);
    return !n || !isUpdated(n, version);
  });
}
