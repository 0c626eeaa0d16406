// The cluster objects the rollout reads, as trimmed shapes kept in the watch caches, and the
// annotations through which the controller remembers its own actions on them (cluster state, so a
// restarted controller knows what it did).
import { API_VERSION, GROUP, VERSION } from '../../api/meta.js';
import type { OSConfigSpec, OSConfigStatus, OSNodeSpec, OSNodeStatus, OSSpec, OSStatus } from '../../api/resources.js';
import { Interner } from '../kube/intern.js';
import type { ObjectMeta } from '../kube/watch-cache.js';

const intern = new Interner();

/** On a Node: osfleet cordoned it, at this instant (ISO 8601, the rollout clock). Never set on nodes cordoned by others. */
export const ANNOTATION_CORDONED = 'osfleet.dev/cordoned';
/** On an OSNode: a failure the controller recorded (drain, health gate), JSON {token, reason, message, at}. */
export const ANNOTATION_FAILURE = 'osfleet.dev/failure';
/** On an OSNode: when the health gate started waiting for the node's pods (ISO 8601, the rollout clock). */
export const ANNOTATION_GATE_SINCE = 'osfleet.dev/health-gate-since';

export const OSFLEET_PATHS = {
  os: `/apis/${GROUP}/${VERSION}/oses`,
  osconfigs: `/apis/${GROUP}/${VERSION}/osconfigs`,
  osnodes: `/apis/${GROUP}/${VERSION}/osnodes`,
};
export { API_VERSION };

export interface Meta extends ObjectMeta {
  name: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  deletionTimestamp?: string;
  creationTimestamp?: string;
  ownerReferences?: Array<{ apiVersion: string; kind: string; name: string; uid: string; controller?: boolean }>;
}

export interface NodeCondition {
  type: string;
  status: string;
  lastTransitionTime?: string;
  reason?: string;
  message?: string;
}

export interface NodeObj {
  metadata: Meta;
  spec: { unschedulable?: boolean };
  status: { conditions?: NodeCondition[] };
}

export interface PodObj {
  metadata: Meta & { namespace: string };
  spec: { nodeName?: string; volumes?: Array<{ name: string; emptyDir?: unknown }> };
  status: { phase?: string; conditions?: Array<{ type: string; status: string }> };
}

export interface OSObj {
  metadata: Meta;
  spec: OSSpec;
  status?: OSStatus;
}
export interface OSConfigObj {
  metadata: Meta;
  spec: OSConfigSpec;
  status?: OSConfigStatus;
}
export interface OSNodeObj {
  metadata: Meta;
  spec?: OSNodeSpec;
  status?: OSNodeStatus;
}

function meta(raw: Meta): Meta {
  const m: Meta = { name: raw.name };
  if (raw.namespace) m.namespace = raw.namespace;
  if (raw.uid) m.uid = raw.uid;
  if (raw.resourceVersion) m.resourceVersion = raw.resourceVersion;
  if (raw.generation !== undefined) m.generation = raw.generation;
  if (raw.labels) m.labels = intern.record(raw.labels);
  if (raw.deletionTimestamp) m.deletionTimestamp = raw.deletionTimestamp;
  if (raw.ownerReferences) {
    m.ownerReferences = raw.ownerReferences.map((o) => ({
      apiVersion: intern.str(o.apiVersion),
      kind: intern.str(o.kind),
      name: o.name === raw.name ? m.name : o.name,
      uid: o.uid,
      ...(o.controller ? { controller: true } : {}),
    }));
  }
  if (raw.annotations) {
    // Keep only our own annotations: the rest can be large (last-applied configurations) and is never read.
    const own = Object.entries(raw.annotations).filter(([k]) => k.startsWith('osfleet.dev/') || k === 'kubernetes.io/config.mirror');
    if (own.length > 0) m.annotations = Object.fromEntries(own);
  }
  return m;
}

/** Nodes: labels, our annotations, unschedulable and the Ready condition; images, addresses and the rest are dropped. */
export function trimNode(raw: unknown): NodeObj {
  const n = raw as { metadata: Meta; spec?: { unschedulable?: boolean }; status?: { conditions?: NodeCondition[] } };
  const ready = n.status?.conditions?.find((c) => c.type === 'Ready');
  return {
    metadata: meta(n.metadata),
    spec: n.spec?.unschedulable ? { unschedulable: true } : {},
    status: ready ? { conditions: [{ type: 'Ready', status: intern.str(ready.status), lastTransitionTime: ready.lastTransitionTime, reason: intern.str(ready.reason) }] } : {},
  };
}

/** Pods: what drain and health gates look at (owners, emptyDir volumes, phase, Ready). */
export function trimPod(raw: unknown): PodObj {
  const p = raw as {
    metadata: Meta & { namespace: string };
    spec?: { nodeName?: string; volumes?: Array<{ name: string; emptyDir?: unknown }> };
    status?: { phase?: string; conditions?: Array<{ type: string; status: string }> };
  };
  const emptyDirs = (p.spec?.volumes ?? []).filter((v) => v.emptyDir !== undefined).map((v) => ({ name: v.name, emptyDir: {} }));
  const ready = p.status?.conditions?.find((c) => c.type === 'Ready');
  return {
    metadata: { ...meta(p.metadata), namespace: p.metadata.namespace },
    spec: { nodeName: p.spec?.nodeName, ...(emptyDirs.length > 0 ? { volumes: emptyDirs } : {}) },
    status: { phase: p.status?.phase, ...(ready ? { conditions: [{ type: 'Ready', status: ready.status }] } : {}) },
  };
}

export function trimCustom<T extends { metadata: Meta }>(raw: unknown): T {
  const o = raw as T & { apiVersion?: string; kind?: string };
  const { apiVersion: _a, kind: _k, metadata, ...rest } = o;
  return { ...rest, metadata: meta(metadata) } as T;
}

/** OSNodes: targets, settings and slot contents are shared between the many nodes that have the same. */
export function trimOSNode(raw: unknown): OSNodeObj {
  const o = raw as OSNodeObj & { apiVersion?: string; kind?: string };
  const out: OSNodeObj = { metadata: meta(o.metadata) };
  if (o.spec) {
    const { target, config, permit, nodeName } = o.spec;
    out.spec = { nodeName: nodeName === out.metadata.name ? out.metadata.name : nodeName };
    if (target) out.spec.target = intern.value(target);
    if (config) out.spec.config = intern.value(config);
    if (permit) out.spec.permit = permit;
  }
  if (o.status) {
    const st = { ...o.status };
    st.phase = intern.str(st.phase);
    st.bootedVersion = intern.str(st.bootedVersion);
    st.appliedConfigHash = intern.str(st.appliedConfigHash);
    if (st.slots) st.slots = intern.value(st.slots);
    if (st.pendingReboot) st.pendingReboot = intern.value(st.pendingReboot);
    for (const k of Object.keys(st) as Array<keyof typeof st>) if (st[k] === undefined) delete st[k];
    out.status = st;
  }
  return out;
}

export function nodeReady(node: NodeObj | undefined): boolean {
  return node?.status.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
}

/** The instant the Node's Ready condition last turned away from True, when it is not True now. */
export function notReadySince(node: NodeObj): number | undefined {
  const c = node.status.conditions?.find((x) => x.type === 'Ready');
  if (c?.status === 'True') return undefined;
  const t = c?.lastTransitionTime ? Date.parse(c.lastTransitionTime) : NaN;
  return Number.isFinite(t) ? t : undefined;
}

export interface RecordedFailure {
  token: string;
  reason: string;
  message: string;
  at?: string;
}

export function recordedFailure(osnode: OSNodeObj | undefined): RecordedFailure | undefined {
  const raw = osnode?.metadata.annotations?.[ANNOTATION_FAILURE];
  if (!raw) return undefined;
  try {
    const f = JSON.parse(raw) as Partial<RecordedFailure>;
    if (typeof f.reason !== 'string') return undefined;
    return { token: String(f.token ?? ''), reason: f.reason, message: String(f.message ?? ''), at: f.at };
  } catch {
    return undefined;
  }
}
