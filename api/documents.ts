// Schemas of the documents a user writes in the git repository: OSVersion, NodeSettings, RolloutPolicy.
// The validator walks these schemas against the YAML tree; the renderer's types come from them.
import { Type, type Static } from '@sinclair/typebox';
import { DNS1123_SUBDOMAIN, Duration, ImageRef, IntOrPercent, KernelArgs, LabelSelector, Window, INT_OR_STRING } from './common.js';

export const DocumentMetadata = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 253, pattern: DNS1123_SUBDOMAIN, description: 'DNS-1123 subdomain: lowercase letters, digits, "-" and ".".' }),
    labels: Type.Optional(Type.Record(Type.String(), Type.String())),
    annotations: Type.Optional(Type.Record(Type.String(), Type.String())),
  },
  { additionalProperties: false },
);

export const OSVersionSpec = Type.Object(
  {
    version: Type.String({ minLength: 1, description: 'Version string the node reports once booted, e.g. "24.03-SP1".' }),
    image: ImageRef,
    releaseNotes: Type.Optional(Type.String({ description: 'Link to the release notes, shown in diffs and plans.' })),
    description: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);
export type OSVersionSpec = Static<typeof OSVersionSpec>;

export const SysctlValue = Type.Union([Type.String(), Type.Integer()], { [INT_OR_STRING]: true, description: 'Value as written to /proc/sys.' });

export const NodeSettingsSpec = Type.Object(
  {
    nodeSelector: LabelSelector,
    priority: Type.Optional(Type.Integer({ description: 'Higher wins when two documents set the same key. Default 0.' })),
    sysctl: Type.Optional(Type.Record(Type.String(), SysctlValue, { description: 'sysctl key (dotted) → value.' })),
    kernelArgs: Type.Optional(KernelArgs),
  },
  { additionalProperties: false },
);
export type NodeSettingsSpec = Static<typeof NodeSettingsSpec>;

export const Strategy = Type.Object(
  {
    batches: Type.Optional(Type.Array(IntOrPercent(), { description: 'Cumulative share of the selected nodes per batch, e.g. [1, "10%", "50%", "100%"]; must end at "100%". The first batch is the canary. Default [1, "100%"].' })),
    maxUnavailable: Type.Optional(IntOrPercent({ description: 'Most nodes unavailable at once (int or percent of selected nodes), counting nodes NotReady or cordoned for other reasons. Default 1.' })),
    soak: Type.Optional(Duration({ description: 'Wait after each batch before the next starts. Default 0s.' })),
    failureBudget: Type.Optional(IntOrPercent({ description: 'Failed nodes (int or percent of selected nodes) at which the rollout halts. Default 1.' })),
    stageOutsideWindows: Type.Optional(Type.Boolean({ description: 'Images may be downloaded and written outside windows; reboots only inside. Default false.' })),
  },
  { additionalProperties: false },
);
export type Strategy = Static<typeof Strategy>;

export const Drain = Type.Object(
  {
    timeout: Type.Optional(Duration({ description: 'How long evictions blocked by a PodDisruptionBudget are retried. Default 10m.' })),
    onTimeout: Type.Optional(Type.Union([Type.Literal('fail'), Type.Literal('force')], { description: 'fail: mark the node failed and uncordon it; force: delete the remaining pods. Default fail.' })),
    deleteEmptyDirData: Type.Optional(Type.Boolean({ description: 'Evict pods using emptyDir volumes (their data is lost). Default false.' })),
  },
  { additionalProperties: false },
);
export type Drain = Static<typeof Drain>;

export const HealthCheck = Type.Object(
  {
    namespace: Type.String({ minLength: 1 }),
    podSelector: LabelSelector,
    timeout: Type.Optional(Duration({ description: 'How long the pods on the node may take to become Ready again. Default 5m.' })),
  },
  { additionalProperties: false },
);
export type HealthCheck = Static<typeof HealthCheck>;

export const RolloutPolicySpec = Type.Object(
  {
    nodeSelector: LabelSelector,
    osVersion: Type.String({ minLength: 1, description: 'metadata.name of the OSVersion these nodes run.' }),
    strategy: Type.Optional(Strategy),
    maintenanceWindows: Type.Optional(Type.Array(Window, { description: 'When reboots and drains may start. None = at any time.' })),
    denyWindows: Type.Optional(Type.Array(Window, { description: 'When nothing new may start; wins over maintenance windows.' })),
    drain: Type.Optional(Drain),
    healthChecks: Type.Optional(Type.Array(HealthCheck, { description: 'Pods that must be Ready again on a node before it counts as updated.' })),
    paused: Type.Optional(Type.Boolean({ description: 'Stop starting new nodes. Default false.' })),
  },
  { additionalProperties: false },
);
export type RolloutPolicySpec = Static<typeof RolloutPolicySpec>;

/** Spec schema of each document kind. */
export const DOCUMENT_SPECS = {
  OSVersion: OSVersionSpec,
  NodeSettings: NodeSettingsSpec,
  RolloutPolicy: RolloutPolicySpec,
} as const;

/** The envelope every document shares; `spec` is checked against DOCUMENT_SPECS[kind]. */
export const DocumentEnvelope = Type.Object(
  {
    apiVersion: Type.String(),
    kind: Type.String(),
    metadata: DocumentMetadata,
    spec: Type.Object({}),
  },
  { additionalProperties: false },
);

export interface DocumentBase<K extends string, S> {
  apiVersion: string;
  kind: K;
  metadata: Static<typeof DocumentMetadata>;
  spec: S;
}
export type OSVersionDoc = DocumentBase<'OSVersion', OSVersionSpec>;
export type NodeSettingsDoc = DocumentBase<'NodeSettings', NodeSettingsSpec>;
export type RolloutPolicyDoc = DocumentBase<'RolloutPolicy', RolloutPolicySpec>;
export type Document = OSVersionDoc | NodeSettingsDoc | RolloutPolicyDoc;

/** Defaults the renderer fills in, written once here so docs, renderer and planner agree. */
export const DEFAULTS = {
  priority: 0,
  batches: [1, '100%'] as Array<number | string>,
  maxUnavailable: 1 as number | string,
  soak: '0s',
  failureBudget: 1 as number | string,
  stageOutsideWindows: false,
  drainTimeout: '10m',
  drainOnTimeout: 'fail' as 'fail' | 'force',
  deleteEmptyDirData: false,
  healthCheckTimeout: '5m',
  timeZone: 'UTC',
  fleetSourceInterval: '1m',
};
