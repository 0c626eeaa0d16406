// Schemas of the cluster objects (CRDs): FleetSource, OS, OSConfig, OSNode. Types and CRDs derive from these.
import { Type, type Static, type TObject } from '@sinclair/typebox';
import { Conditions, Duration, ImageRef, KernelArgs, LabelSelector, ObjectRefByName, Window, INT_OR_STRING } from './common.js';
import { Drain, HealthCheck } from './documents.js';

// ---------- FleetSource ----------
/**
 * URL rules the apiserver enforces (the controller checks them again, see controller/source-trust.ts):
 * http(s) only, no userinfo, and credentials over plain http only to loopback.
 */
const FLEETSOURCE_URL_RULES = [
  { rule: "self.url.matches('(?i)^https?://')", message: 'spec.url must be an https:// URL (osfleet fetches over smart HTTP)' },
  {
    rule: "!self.url.matches('^[^:/?#]+://[^/?#]*@')",
    message: 'spec.url must not carry credentials (user:password@): put them in a Secret named by spec.secretRef',
  },
  {
    rule: "!has(self.secretRef) || self.url.matches('(?i)^https://') || self.url.matches(r'(?i)^http://(localhost|127([.][0-9]{1,3}){3}|\\[::1\\])(:[0-9]+)?([/?#]|$)')",
    message: 'spec.secretRef sends credentials, which osfleet sends only over https: use an https:// URL (plain http only to loopback)',
  },
];

export const FleetSourceSpec = Type.Object(
  {
    url: Type.String({
      minLength: 1,
      maxLength: 2048,
      description: 'Git repository URL (https; smart HTTP). No user:password@: credentials go into the Secret named by secretRef.',
    }),
    ref: Type.Optional(
      Type.Object(
        {
          branch: Type.Optional(Type.String({ minLength: 1 })),
          tag: Type.Optional(Type.String({ minLength: 1 })),
          commit: Type.Optional(Type.String({ pattern: '^[a-f0-9]{40}$' })),
        },
        { additionalProperties: false, description: 'One of branch, tag or commit. Default branch main.' },
      ),
    ),
    path: Type.Optional(Type.String({ description: 'Subfolder of the repository holding the documents. Default the root.' })),
    interval: Type.Optional(Duration({ description: 'Poll interval. Default 1m.' })),
    secretRef: Type.Optional(ObjectRefByName),
    webhookSecretRef: Type.Optional(ObjectRefByName),
    suspend: Type.Optional(Type.Boolean({ description: 'Stop fetching and applying.' })),
    force: Type.Optional(Type.Boolean({ description: 'Take over fields owned by another field manager on conflict.' })),
  },
  { additionalProperties: false, 'x-kubernetes-validations': FLEETSOURCE_URL_RULES },
);
export type FleetSourceSpec = Static<typeof FleetSourceSpec>;

export const InventoryEntry = Type.Object(
  { apiVersion: Type.String(), kind: Type.String(), name: Type.String() },
  { additionalProperties: false },
);
export type InventoryEntry = Static<typeof InventoryEntry>;

export const FleetSourceStatus = Type.Object(
  {
    observedGeneration: Type.Optional(Type.Integer()),
    lastFetchedRevision: Type.Optional(Type.String()),
    lastAttemptedRevision: Type.Optional(Type.String()),
    lastAppliedRevision: Type.Optional(Type.String()),
    lastFetchTime: Type.Optional(Type.String({ format: 'date-time' })),
    inventory: Type.Optional(Type.Array(InventoryEntry, { description: 'Objects applied from lastAppliedRevision; what a later revision drops is pruned.' })),
    conditions: Type.Optional(Conditions),
  },
  { additionalProperties: false },
);
export type FleetSourceStatus = Static<typeof FleetSourceStatus>;

// ---------- OS ----------
export const ResolvedStrategy = Type.Object(
  {
    batches: Type.Array(Type.Union([Type.Integer(), Type.String()], { [INT_OR_STRING]: true })),
    maxUnavailable: Type.Union([Type.Integer(), Type.String()], { [INT_OR_STRING]: true }),
    soak: Duration(),
    failureBudget: Type.Union([Type.Integer(), Type.String()], { [INT_OR_STRING]: true }),
    stageOutsideWindows: Type.Boolean(),
  },
  { additionalProperties: false },
);

export const OSSpec = Type.Object(
  {
    osVersion: Type.Object(
      {
        name: Type.String({ description: 'The OSVersion document this came from.' }),
        version: Type.String(),
        image: ImageRef,
        releaseNotes: Type.Optional(Type.String()),
      },
      { additionalProperties: false },
    ),
    nodeSelector: LabelSelector,
    strategy: ResolvedStrategy,
    maintenanceWindows: Type.Array(Window),
    denyWindows: Type.Array(Window),
    drain: Drain,
    healthChecks: Type.Array(HealthCheck),
    paused: Type.Boolean(),
  },
  { additionalProperties: false },
);
export type OSSpec = Static<typeof OSSpec>;

export const OSStatus = Type.Object(
  {
    observedGeneration: Type.Optional(Type.Integer()),
    counts: Type.Optional(
      Type.Object(
        {
          total: Type.Integer(),
          updated: Type.Integer(),
          inProgress: Type.Integer(),
          pending: Type.Integer(),
          failed: Type.Integer(),
        },
        { additionalProperties: false },
      ),
    ),
    currentBatch: Type.Optional(Type.Integer({ description: '1-based index of the batch in progress; 0 before the first.' })),
    totalBatches: Type.Optional(Type.Integer()),
    nextWindow: Type.Optional(Type.String({ format: 'date-time', description: 'Next instant a maintenance window opens (UTC).' })),
    windowOpen: Type.Optional(Type.Boolean()),
    failedNodes: Type.Optional(Type.Array(Type.String())),
    conflictNodes: Type.Optional(Type.Array(Type.String(), { description: 'Nodes also selected by another OS; left alone.' })),
    rollout: Type.Optional(
      Type.Object(
        {
          revision: Type.String({ description: 'Hash of what the policy rolls to (version, digest, settings); a change restarts the rollout.' }),
          currentBatch: Type.Integer({ minimum: 0, description: 'Index into strategy.batches of the batch being worked on.' }),
          batchWorked: Type.Boolean({ description: 'Whether anything started in the current batch (an untouched batch needs no soak).' }),
          soakUntil: Type.Optional(Type.String({ format: 'date-time', description: 'The next batch may start at this time.' })),
          attempt: Type.Integer({ minimum: 0, description: 'Bumped when a halted rollout resumes; failures of earlier attempts are retried.' }),
          halted: Type.Optional(
            Type.Object(
              {
                reason: Type.String(),
                generation: Type.Integer({ description: 'Policy generation at the halt; a new generation resumes.' }),
                nodes: Type.Array(Type.String()),
                pausedSeen: Type.Boolean({ description: 'paused was seen true during the halt; setting it back to false resumes.' }),
              },
              { additionalProperties: false },
            ),
          ),
        },
        { additionalProperties: false, description: 'What the planner must remember across restarts; everything else is derived from OSNodes.' },
      ),
    ),
    conditions: Type.Optional(Conditions),
  },
  { additionalProperties: false },
);
export type OSStatus = Static<typeof OSStatus>;

// ---------- OSConfig ----------
export const OSConfigSpec = Type.Object(
  {
    nodeSelector: LabelSelector,
    priority: Type.Integer(),
    sysctl: Type.Record(Type.String(), Type.String(), { description: 'sysctl key → value (values normalised to strings).' }),
    kernelArgs: Type.Object(
      { add: Type.Array(Type.String()), remove: Type.Array(Type.String()) },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);
export type OSConfigSpec = Static<typeof OSConfigSpec>;

export const OSConfigStatus = Type.Object(
  {
    observedGeneration: Type.Optional(Type.Integer()),
    matchedNodes: Type.Optional(Type.Integer()),
    appliedNodes: Type.Optional(Type.Integer()),
    conditions: Type.Optional(Conditions),
  },
  { additionalProperties: false },
);
export type OSConfigStatus = Static<typeof OSConfigStatus>;

// ---------- OSNode (see docs/adr/0001-osnode-contract.md) ----------
export const OSNodeSpec = Type.Object(
  {
    nodeName: Type.String(),
    target: Type.Optional(
      Type.Object(
        { osName: Type.String(), version: Type.String(), image: ImageRef },
        { additionalProperties: false, description: 'The version this node should run; absent = keep what is booted.' },
      ),
    ),
    config: Type.Optional(
      Type.Object(
        {
          hash: Type.String({ description: 'sha256 over the canonical JSON of {sysctl, kernelArgs}.' }),
          sysctl: Type.Record(Type.String(), Type.String()),
          kernelArgs: Type.Object({ add: Type.Array(Type.String()), remove: Type.Array(Type.String()) }, { additionalProperties: false }),
          sources: Type.Optional(Type.Array(Type.String(), { description: 'OSConfig names merged, highest priority first.' })),
        },
        { additionalProperties: false },
      ),
    ),
    permit: Type.Optional(
      Type.Object(
        {
          token: Type.String({ description: 'Changes on every new grant; the agent echoes it in status.observedPermitToken.' }),
          stage: Type.Boolean({ description: 'May download and write the inactive slot.' }),
          applySettings: Type.Boolean({ description: 'May write live sysctls, the persist file and kernel args.' }),
          reboot: Type.Boolean({ description: 'May reboot.' }),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type OSNodeSpec = Static<typeof OSNodeSpec>;

export const PHASES = ['Idle', 'Downloading', 'Staged', 'Rebooting', 'Verifying', 'Done', 'Failed', 'RolledBack'] as const;
export type Phase = (typeof PHASES)[number];

const SlotInfo = Type.Object(
  { version: Type.Optional(Type.String()), sha256: Type.Optional(Type.String()) },
  { additionalProperties: false },
);

export const OSNodeStatus = Type.Object(
  {
    phase: Type.Optional(Type.Union(PHASES.map((p) => Type.Literal(p)))),
    message: Type.Optional(Type.String()),
    bootedSlot: Type.Optional(Type.Union([Type.Literal('A'), Type.Literal('B')])),
    bootedVersion: Type.Optional(Type.String()),
    slots: Type.Optional(Type.Object({ A: Type.Optional(SlotInfo), B: Type.Optional(SlotInfo) }, { additionalProperties: false })),
    download: Type.Optional(
      Type.Object({ bytesDone: Type.Integer(), bytesTotal: Type.Optional(Type.Integer()) }, { additionalProperties: false }),
    ),
    appliedConfigHash: Type.Optional(Type.String()),
    pendingReboot: Type.Optional(Type.Array(Type.String(), { description: 'Applied settings that take effect only after a reboot.' })),
    observedPermitToken: Type.Optional(Type.String()),
    observedGeneration: Type.Optional(Type.Integer()),
    conditions: Type.Optional(Conditions),
  },
  { additionalProperties: false },
);
export type OSNodeStatus = Static<typeof OSNodeStatus>;

// ---------- CRD definitions ----------
export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'date' | 'boolean' | 'number';
  jsonPath: string;
  description?: string;
  priority?: number;
}

export interface ResourceDefinition {
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  spec: TObject;
  status: TObject;
  requiredSpec: boolean;
  printerColumns: PrinterColumn[];
  description: string;
}

const ready = (name = 'Ready'): PrinterColumn => ({ name, type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' });
const age: PrinterColumn = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };

export const RESOURCES: ResourceDefinition[] = [
  {
    kind: 'FleetSource', plural: 'fleetsources', singular: 'fleetsource', shortNames: ['fsrc'],
    spec: FleetSourceSpec, status: FleetSourceStatus, requiredSpec: true,
    description: 'A git repository of OS version pins, node settings and rollout policies that osfleet renders into OS and OSConfig objects.',
    printerColumns: [
      { name: 'URL', type: 'string', jsonPath: '.spec.url' },
      { name: 'Revision', type: 'string', jsonPath: '.status.lastAppliedRevision' },
      ready(),
      { name: 'Status', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].message', priority: 1 },
      age,
    ],
  },
  {
    kind: 'OS', plural: 'oses', singular: 'os', shortNames: ['osv'],
    spec: OSSpec, status: OSStatus, requiredSpec: true,
    description: 'The OS version and rollout policy for the nodes a selector matches (rendered from a RolloutPolicy).',
    printerColumns: [
      { name: 'Version', type: 'string', jsonPath: '.spec.osVersion.version' },
      { name: 'Nodes', type: 'integer', jsonPath: '.status.counts.total' },
      { name: 'Updated', type: 'integer', jsonPath: '.status.counts.updated' },
      { name: 'Failed', type: 'integer', jsonPath: '.status.counts.failed' },
      { name: 'Batch', type: 'integer', jsonPath: '.status.currentBatch' },
      ready(),
      { name: 'Next-Window', type: 'string', jsonPath: '.status.nextWindow', priority: 1 },
      age,
    ],
  },
  {
    kind: 'OSConfig', plural: 'osconfigs', singular: 'osconfig', shortNames: ['oscfg'],
    spec: OSConfigSpec, status: OSConfigStatus, requiredSpec: true,
    description: 'sysctl and kernel settings for the nodes a selector matches (rendered from a NodeSettings document).',
    printerColumns: [
      { name: 'Priority', type: 'integer', jsonPath: '.spec.priority' },
      { name: 'Matched', type: 'integer', jsonPath: '.status.matchedNodes' },
      { name: 'Applied', type: 'integer', jsonPath: '.status.appliedNodes' },
      age,
    ],
  },
  {
    kind: 'OSNode', plural: 'osnodes', singular: 'osnode', shortNames: ['osn'],
    spec: OSNodeSpec, status: OSNodeStatus, requiredSpec: true,
    description: 'One per Node: what the controller asks of the node (spec) and what its agent reports (status).',
    printerColumns: [
      { name: 'Target', type: 'string', jsonPath: '.spec.target.version' },
      { name: 'Booted', type: 'string', jsonPath: '.status.bootedVersion' },
      { name: 'Slot', type: 'string', jsonPath: '.status.bootedSlot' },
      { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
      { name: 'Reboot', type: 'boolean', jsonPath: '.spec.permit.reboot', priority: 1 },
      { name: 'Message', type: 'string', jsonPath: '.status.message', priority: 1 },
      age,
    ],
  },
];

export interface KubeObject<S, T> {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    resourceVersion?: string;
    generation?: number;
    uid?: string;
    creationTimestamp?: string;
    ownerReferences?: Array<{ apiVersion: string; kind: string; name: string; uid: string; controller?: boolean; blockOwnerDeletion?: boolean }>;
  };
  spec: S;
  status?: T;
}
export type FleetSource = KubeObject<FleetSourceSpec, FleetSourceStatus>;
export type OS = KubeObject<OSSpec, OSStatus>;
export type OSConfig = KubeObject<OSConfigSpec, OSConfigStatus>;
export type OSNode = KubeObject<OSNodeSpec, OSNodeStatus>;
