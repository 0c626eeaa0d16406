// The planner's own input and output model. It is independent of the CRD types: the controller maps
// Node, OSNode and OS objects onto it, and maps actions and policy status back.
// Times are epoch milliseconds, except in RolloutMemory, which is persisted in OS.status as is.

import type { LabelSelector } from './selector.js';
import type { WindowSpec } from './windows.js';

export type { LabelSelector } from './selector.js';
export type { WindowSpec } from './windows.js';

export type Phase = 'Idle' | 'Downloading' | 'Staged' | 'Rebooting' | 'Verifying' | 'Done' | 'Failed' | 'RolledBack';

export interface Image {
  url: string;
  sha256: string;
  size?: number;
}

/** What OSNode.spec.target says (ADR 0001). */
export interface TargetRef {
  osName: string;
  version: string;
  image: Image;
}

/** OSNode.spec.permit (ADR 0001). The token changes on every new grant. */
export interface Permit {
  token: string;
  stage: boolean;
  applySettings: boolean;
  reboot: boolean;
}

/** The subset of one OSNode the planner reads. */
export interface OSNodeView {
  spec: {
    target?: TargetRef;
    /** spec.config.hash */
    configHash?: string;
    permit?: Permit;
  };
  status: {
    phase?: Phase;
    bootedSlot?: 'A' | 'B';
    bootedVersion?: string;
    /** What each slot holds; sha256 when the agent reports it (a staged slot must match the target's digest). */
    slots?: { A?: { version?: string; sha256?: string }; B?: { version?: string; sha256?: string } };
    appliedConfigHash?: string;
    pendingReboot?: string[];
    observedPermitToken?: string;
  };
  /**
   * A failure the controller recorded through a `markFailed` action (drain timeout, health gate),
   * kept on the OSNode (e.g. a condition). It concerns the grant whose token it names.
   */
  failure?: { token: string; reason: string; message: string };
}

/** The desired merged settings of all OSConfigs matching a node (the controller merges them). */
export interface DesiredConfig {
  hash: string;
  /** True when applying it needs a reboot (kernel args, or sysctls the catalogue marks reboot-only). */
  needsReboot: boolean;
}

export interface FleetNode {
  name: string;
  labels: Readonly<Record<string, string>>;
  /** The Node's Ready condition. */
  ready: boolean;
  /** When Ready last turned False (for the health gate after a reboot). */
  notReadySince?: number;
  /** Node.spec.unschedulable (cordoned, by anyone). */
  unschedulable: boolean;
  /** Cordoned by osfleet (the controller marks the Node when it cordons). */
  cordonedByUs: boolean;
  /** The executor finished evicting the node's pods since osfleet cordoned it. */
  drained: boolean;
  /** Absent when no OSConfig selects the node: settings are then not managed. */
  desiredConfig?: DesiredConfig;
  /** Absent until the controller created the OSNode and the agent reported. */
  osnode?: OSNodeView;
}

export interface Fleet {
  nodes: FleetNode[];
}

export type Share = number | string; // 3 or "10%"

export interface Strategy {
  /** Cumulative shares of the selected nodes, e.g. [1, "10%", "50%", "100%"]. */
  batches: Share[];
  /** Int or percent of the selected nodes (percent rounds down, at least 1). */
  maxUnavailable: Share;
  /** Wait after each batch before the next starts. */
  soakMs: number;
  /** Failed nodes (int or percent of selected, rounds down, at least 1) at which the rollout halts. */
  failureBudget: Share;
  /** Images may be downloaded and written outside windows; reboots still wait for one. */
  stageOutsideWindows: boolean;
  /** How long a rebooted node may stay NotReady before it counts as failed (default 15m). */
  healthTimeoutMs?: number;
}

/** One OS object (rendered from a RolloutPolicy). */
export interface RolloutPolicy {
  name: string;
  /** metadata.generation: any spec change (including `paused`) bumps it. */
  generation: number;
  selector: LabelSelector;
  target: { version: string; image: Image };
  strategy: Strategy;
  maintenanceWindows: WindowSpec[];
  denyWindows: WindowSpec[];
  paused: boolean;
  /** What the previous plan returned as `memory` (persisted in OS.status); absent on a fresh policy. */
  memory?: RolloutMemory;
}

export type HaltReason = 'FailureBudgetReached' | 'CanaryFailed';

/**
 * The little a rollout must remember beyond OSNode objects. Everything else (who is updated, in
 * progress or failed) is derived from the fleet on every plan. Losing it only restarts a soak.
 */
export interface RolloutMemory {
  /** Hash of what the policy rolls to (version, digest, desired settings); a change restarts the rollout. */
  revision: string;
  /** Index into strategy.batches of the batch being worked on. */
  currentBatch: number;
  /** Whether anything was started in the current batch (an untouched batch needs no soak). */
  batchWorked: boolean;
  /** ISO 8601: the next batch may start at this time. */
  soakUntil?: string;
  halted?: {
    reason: HaltReason;
    /** Policy generation at the halt: a change of generation resumes. */
    generation: number;
    nodes: string[];
    /** `paused` was seen true during the halt: setting it back to false resumes. */
    pausedSeen: boolean;
  };
  /** Bumped when a halted rollout resumes: failures under permits of earlier attempts are forgiven and retried. */
  attempt: number;
}

export type Action =
  | { type: 'setTarget'; node: string; policy: string; target: TargetRef; configHash?: string }
  | { type: 'grant'; node: string; policy: string; permit: Permit }
  | { type: 'cordon'; node: string; policy: string }
  | { type: 'drain'; node: string; policy: string }
  | { type: 'uncordon'; node: string; policy?: string; reason: string }
  | { type: 'markFailed'; node: string; policy: string; token: string; reason: string; message: string };

export type ConditionType = 'Ready' | 'Progressing' | 'Paused' | 'Degraded' | 'Conflict';

export interface Condition {
  type: ConditionType;
  status: 'True' | 'False';
  reason: string;
  message: string;
  observedGeneration: number;
}

export interface PolicyCounts {
  total: number;
  updated: number;
  inProgress: number;
  pending: number;
  failed: number;
  conflicted: number;
}

export interface PolicyStatus {
  name: string;
  counts: PolicyCounts;
  /** Index into strategy.batches; equals batches.length when every batch is done. */
  currentBatch: number;
  totalBatches: number;
  /** The open period (now or next) in which reboots may start; null when none within the horizon. */
  nextWindow: { start: string; end: string | null } | null;
  soakUntil: string | null;
  failedNodes: string[];
  conflictedNodes: string[];
  conditions: Condition[];
  /** Persist this in OS.status and pass it back as RolloutPolicy.memory. */
  memory: RolloutMemory;
}

export interface NodeConflict {
  node: string;
  policies: string[];
}

export interface PlanResult {
  actions: Action[];
  policyStatus: PolicyStatus[];
  conflicts: NodeConflict[];
}
