// Cluster objects → the planner's input: Nodes and OSNodes become FleetNodes (OS objects become
// RolloutPolicies in rollout/policy.ts), and the OSNode spec the controller
// wants is computed from what is there plus the planner's actions. Pure.
import type { OSNodeSpec } from '../../api/resources.js';
import type { MergedConfig } from '../../rollout/merge.js';
import type { Action, FleetNode, OSNodeView, RolloutPolicy, TargetRef } from '../../rollout/types.js';
import { openIntervalAt } from '../../rollout/windows.js';
import { windowsOf } from '../../rollout/policy.js';
import {
  ANNOTATION_CORDONED,
  ANNOTATION_FAILURE,
  ANNOTATION_GATE_SINCE,
  notReadySince,
  nodeReady,
  recordedFailure,
  type NodeObj,
  type OSNodeObj,
  type OSObj,
  type RecordedFailure,
} from './objects.js';
import type { NodeSelection } from './selection.js';
import type { WindowFacts } from './status.js';

/** Whether a window is open now, when the next one opens, and when the state next changes (for a timer). */
export function windowFacts(os: OSObj, now: number): WindowFacts & { changesAt?: number } {
  const m = windowsOf(os.spec.maintenanceWindows);
  const d = windowsOf(os.spec.denyWindows);
  if (m.length === 0 && d.length === 0) return { windowOpen: true };
  try {
    const iv = openIntervalAt(m, d, now);
    if (!iv) return { windowOpen: false };
    if (iv.start > now) return { windowOpen: false, nextWindow: new Date(iv.start).toISOString(), changesAt: iv.start };
    if (!Number.isFinite(iv.end)) return { windowOpen: true };
    const next = openIntervalAt(m, d, iv.end);
    return {
      windowOpen: true,
      nextWindow: next && next.start >= iv.end ? new Date(next.start).toISOString() : undefined,
      changesAt: iv.end,
    };
  } catch {
    return { windowOpen: false };
  }
}

export function cordonedByUs(node: NodeObj): boolean {
  return node.metadata.annotations?.[ANNOTATION_CORDONED] !== undefined;
}

export function cordonedAt(node: NodeObj): number | undefined {
  const v = node.metadata.annotations?.[ANNOTATION_CORDONED];
  const t = v ? Date.parse(v) : NaN;
  return Number.isFinite(t) ? t : undefined;
}

export function osnodeView(o: OSNodeObj, failure: RecordedFailure | undefined): OSNodeView {
  const st = o.status ?? {};
  return {
    spec: { target: o.spec?.target, configHash: o.spec?.config?.hash, permit: o.spec?.permit },
    status: {
      phase: st.phase,
      bootedSlot: st.bootedSlot,
      bootedVersion: st.bootedVersion,
      slots: st.slots,
      appliedConfigHash: st.appliedConfigHash,
      pendingReboot: st.pendingReboot,
      observedPermitToken: st.observedPermitToken,
    },
    failure: failure ? { token: failure.token, reason: failure.reason, message: failure.message } : undefined,
  };
}

export interface FleetNodeInput {
  node: NodeObj;
  osnode: OSNodeObj | undefined;
  selection: NodeSelection | undefined;
  /** The drain of the current cordon finished. */
  drained: boolean;
  /** False while health-check pods hold the node back (only asked of nodes osfleet cordoned). */
  podsHealthy: boolean;
  /** A failure recorded in this process that the OSNode may not show yet. */
  pendingFailure?: RecordedFailure;
}

export function toFleetNode(i: FleetNodeInput): FleetNode {
  const n = i.node;
  const ready = nodeReady(n);
  const fn: FleetNode = {
    name: n.metadata.name,
    labels: n.metadata.labels ?? {},
    ready: ready && i.podsHealthy,
    unschedulable: n.spec.unschedulable === true,
    cordonedByUs: cordonedByUs(n),
    drained: i.drained,
  };
  const since = notReadySince(n);
  if (since !== undefined) fn.notReadySince = since;
  const cfg = i.selection?.config;
  if (cfg) fn.desiredConfig = { hash: cfg.hash, needsReboot: i.selection!.configNeedsReboot };
  if (i.osnode) fn.osnode = osnodeView(i.osnode, i.pendingFailure ?? recordedFailure(i.osnode));
  return fn;
}

// ---------- the OSNode fields the controller owns ----------

/** Everything osfleet writes on an OSNode (with server-side apply, so omitting a field removes it). */
export interface OwnedFields {
  nodeUid: string;
  target?: NonNullable<OSNodeSpec['target']>;
  config?: NonNullable<OSNodeSpec['config']>;
  permit?: NonNullable<OSNodeSpec['permit']>;
  failure?: RecordedFailure;
  gateSince?: string;
}

export function ownedFields(o: OSNodeObj | undefined): OwnedFields | undefined {
  if (!o) return undefined;
  const owner = o.metadata.ownerReferences?.find((r) => r.kind === 'Node' && r.controller);
  const f: OwnedFields = { nodeUid: owner?.uid ?? '' };
  if (o.spec?.target) f.target = o.spec.target;
  if (o.spec?.config) f.config = o.spec.config;
  if (o.spec?.permit) f.permit = o.spec.permit;
  const failure = recordedFailure(o);
  if (failure) f.failure = failure;
  const gate = o.metadata.annotations?.[ANNOTATION_GATE_SINCE];
  if (gate) f.gateSince = gate;
  return f;
}

const specConfigs = new WeakMap<MergedConfig, NonNullable<OSNodeSpec['config']>>();

/** The spec.config for a merged config; one shared (read-only) object per merge. */
export function specConfig(c: MergedConfig): NonNullable<OSNodeSpec['config']> {
  let s = specConfigs.get(c);
  if (!s) specConfigs.set(c, (s = { hash: c.hash, sysctl: c.sysctl, kernelArgs: c.kernelArgs, sources: c.sources }));
  return s;
}

export function targetOf(os: OSObj): TargetRef {
  return { osName: os.metadata.name, version: os.spec.osVersion.version, image: os.spec.osVersion.image };
}

const grantsNothing = (p: OwnedFields['permit']) => !p || (!p.stage && !p.applySettings && !p.reboot);

/**
 * The owned fields a node's OSNode should carry after this plan. A new OSNode starts with the target
 * of its OS and its merged settings (and no permit). After that, a node one OS selects changes target
 * and settings only through the planner's setTarget, which comes with a new permit, so a new target
 * never rides on an older grant and a large fleet is not rewritten at once when an OS changes. A node
 * no OS selects follows its OSConfigs (without a permit the agent applies nothing) and loses its
 * target once nothing is granted; a node two OS objects select is left as it is.
 */
export function desiredOwnedFields(
  node: NodeObj,
  current: OwnedFields | undefined,
  sel: NodeSelection | undefined,
  conflicted: boolean,
  actions: readonly Action[],
): OwnedFields {
  const des: OwnedFields = current ? { ...current } : { nodeUid: node.metadata.uid ?? '' };
  des.nodeUid = node.metadata.uid ?? des.nodeUid;
  if (!current) {
    if (sel?.os && !conflicted) des.target = targetOf(sel.os);
    if (sel?.config) des.config = specConfig(sel.config);
  } else if (!conflicted && !sel?.os && grantsNothing(current.permit)) {
    delete des.target;
    if (sel?.config) des.config = specConfig(sel.config);
    else delete des.config;
  }
  for (const a of actions) {
    switch (a.type) {
      case 'setTarget':
        des.target = a.target;
        if (a.configHash === undefined) delete des.config;
        else if (sel?.config?.hash === a.configHash) des.config = specConfig(sel.config);
        break;
      case 'grant':
        if (des.permit?.token !== a.permit.token) {
          des.permit = a.permit;
          if (des.failure && des.failure.token !== a.permit.token) delete des.failure;
          delete des.gateSince;
        }
        break;
      case 'markFailed':
        if (des.failure?.token !== a.token) des.failure = { token: a.token, reason: a.reason, message: a.message };
        break;
      default:
        break;
    }
  }
  return des;
}

export function applyBody(nodeName: string, f: OwnedFields, apiVersion: string): Record<string, unknown> {
  const annotations: Record<string, string> = {};
  if (f.failure) annotations[ANNOTATION_FAILURE] = JSON.stringify(f.failure);
  if (f.gateSince) annotations[ANNOTATION_GATE_SINCE] = f.gateSince;
  const spec: OSNodeSpec = { nodeName };
  if (f.target) spec.target = f.target;
  if (f.config) spec.config = f.config;
  if (f.permit) spec.permit = f.permit;
  return {
    apiVersion,
    kind: 'OSNode',
    metadata: {
      name: nodeName,
      ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: nodeName, uid: f.nodeUid, controller: true }],
      ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
    },
    spec,
  };
}
