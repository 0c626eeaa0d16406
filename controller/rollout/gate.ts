// Health gates before osfleet gives an updated node back (and so before its batch counts as done):
// the agent reports the target version and settings hash (ADR 0001 "updated"), the Node is Ready, and
// the pods the policy's healthChecks name are Ready again on that node within their timeout.
import { DEFAULTS, type HealthCheck } from '../../api/documents.js';
import type { OSNodeSpec, OSNodeStatus } from '../../api/resources.js';
import { parseDuration } from '../../api/duration.js';
import { selectorMatcher } from '../../rollout/selector.js';
import type { PodObj } from './objects.js';

/** ADR 0001: booted the target version, applied the config, nothing pending a reboot, phase Done or Idle. */
export function isUpdated(spec: OSNodeSpec | undefined, status: OSNodeStatus | undefined): boolean {
  if (!spec || !status) return false;
  const phase = status.phase ?? 'Idle';
  return (
    (spec.target === undefined || status.bootedVersion === spec.target.version) &&
    (spec.config === undefined || status.appliedConfigHash === spec.config.hash) &&
    (status.pendingReboot?.length ?? 0) === 0 &&
    (phase === 'Done' || phase === 'Idle')
  );
}

export interface PodGateResult {
  ok: boolean;
  /** For people: which pods are not Ready yet. */
  message: string;
  /** The longest timeout among the checks (ms). */
  timeoutMs: number;
}

const podReady = (p: PodObj) => p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

export function checkTimeoutMs(c: HealthCheck): number {
  const d = parseDuration(c.timeout ?? DEFAULTS.healthCheckTimeout);
  return d.ok ? d.ms : 5 * 60_000;
}

/** Evaluates the policy's pod checks against the pods on one node (pods of other nodes are ignored). */
export function evaluatePodChecks(node: string, checks: readonly HealthCheck[], pods: readonly PodObj[]): PodGateResult {
  const waiting: string[] = [];
  let timeoutMs = 0;
  for (const c of checks) {
    timeoutMs = Math.max(timeoutMs, checkTimeoutMs(c));
    let match;
    try {
      match = selectorMatcher(c.podSelector);
    } catch {
      continue;
    }
    for (const p of pods) {
      if (p.spec.nodeName !== node || p.metadata.namespace !== c.namespace) continue;
      if (p.metadata.deletionTimestamp || p.status.phase === 'Succeeded' || p.status.phase === 'Failed') continue;
      if (!match(p.metadata.labels ?? {})) continue;
      if (!podReady(p)) waiting.push(`${p.metadata.namespace}/${p.metadata.name}`);
    }
  }
  if (waiting.length === 0) return { ok: true, message: 'health-check pods are Ready', timeoutMs };
  const shown = waiting.slice(0, 5).join(', ') + (waiting.length > 5 ? ` and ${waiting.length - 5} more` : '');
  return { ok: false, message: `waiting for pod(s) ${shown} to be Ready`, timeoutMs };
}
