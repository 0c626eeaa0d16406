// Rendering: validated repository documents → the cluster objects `OS` (one per RolloutPolicy) and
// `OSConfig` (one per NodeSettings). Pure and deterministic: the same documents give byte-identical output.
import { stringify } from 'yaml';
import {
  API_VERSION,
  ANNOTATION_SOURCE_FILE,
  ANNOTATION_SOURCE_REVISION,
  KINDS,
  LABEL_FLEETSOURCE,
  LABEL_MANAGED_BY,
  MANAGED_BY_VALUE,
} from '../api/meta.js';
import { DEFAULTS, type NodeSettingsDoc, type OSVersionDoc, type RolloutPolicyDoc } from '../api/documents.js';
import type { LabelSelector, Window } from '../api/common.js';
import type { OS, OSConfig, OSSpec, OSConfigSpec } from '../api/resources.js';
import type { ValidDocument } from './validate.js';

export type RenderedObject = OS | OSConfig;

export interface RenderOptions {
  /** Git revision (commit id) the documents come from; written to every object's annotations. */
  revision?: string;
  /** Name of the FleetSource rendering them; adds the osfleet.dev/fleetsource label when given. */
  fleetSource?: string;
}

/** A copy of a JSON-like value with every mapping's keys sorted, so serialisation is canonical. */
export function sortKeys<T>(value: T): T {
  if (Array.isArray(value)) return value.map((v) => sortKeys(v)) as T;
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value as object).sort()) {
      const v = (value as Record<string, unknown>)[k];
      if (v !== undefined) out[k] = sortKeys(v);
    }
    return out as T;
  }
  return value;
}

function plainRecord(r: Record<string, unknown> | undefined): Record<string, string> | undefined {
  if (!r) return undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(r)) out[k] = String(v);
  return out;
}

function selector(sel: LabelSelector): LabelSelector {
  const out: LabelSelector = {};
  if (sel.matchLabels) out.matchLabels = plainRecord(sel.matchLabels)!;
  if (sel.matchExpressions) {
    out.matchExpressions = sel.matchExpressions.map((e) => ({
      key: e.key,
      operator: e.operator,
      ...(e.values ? { values: [...e.values] } : {}),
    }));
  }
  return out;
}

function windows(list: Window[] | undefined): Window[] {
  return (list ?? []).map((w) => ({ schedule: w.schedule, duration: w.duration, timeZone: w.timeZone ?? DEFAULTS.timeZone }));
}

function metadata(name: string, doc: ValidDocument, opts: RenderOptions): OS['metadata'] {
  const m = doc.doc.metadata;
  const labels: Record<string, string> = { ...(plainRecord(m.labels) ?? {}), [LABEL_MANAGED_BY]: MANAGED_BY_VALUE };
  if (opts.fleetSource) labels[LABEL_FLEETSOURCE] = opts.fleetSource;
  const annotations: Record<string, string> = { ...(plainRecord(m.annotations) ?? {}), [ANNOTATION_SOURCE_FILE]: doc.path };
  if (opts.revision) annotations[ANNOTATION_SOURCE_REVISION] = opts.revision;
  return { name, labels, annotations };
}

function renderOS(p: ValidDocument<RolloutPolicyDoc>, v: OSVersionDoc, opts: RenderOptions): OS {
  const s = p.doc.spec;
  const st = s.strategy ?? {};
  const spec: OSSpec = {
    osVersion: {
      name: v.metadata.name,
      version: v.spec.version,
      image: { url: v.spec.image.url, sha256: v.spec.image.sha256, ...(v.spec.image.size !== undefined ? { size: v.spec.image.size } : {}) },
      ...(v.spec.releaseNotes !== undefined ? { releaseNotes: v.spec.releaseNotes } : {}),
    },
    nodeSelector: selector(s.nodeSelector),
    strategy: {
      batches: [...(st.batches ?? DEFAULTS.batches)],
      maxUnavailable: st.maxUnavailable ?? DEFAULTS.maxUnavailable,
      soak: st.soak ?? DEFAULTS.soak,
      failureBudget: st.failureBudget ?? DEFAULTS.failureBudget,
      stageOutsideWindows: st.stageOutsideWindows ?? DEFAULTS.stageOutsideWindows,
    },
    maintenanceWindows: windows(s.maintenanceWindows),
    denyWindows: windows(s.denyWindows),
    drain: {
      timeout: s.drain?.timeout ?? DEFAULTS.drainTimeout,
      onTimeout: s.drain?.onTimeout ?? DEFAULTS.drainOnTimeout,
      deleteEmptyDirData: s.drain?.deleteEmptyDirData ?? DEFAULTS.deleteEmptyDirData,
    },
    healthChecks: (s.healthChecks ?? []).map((h) => ({
      namespace: h.namespace,
      podSelector: selector(h.podSelector),
      timeout: h.timeout ?? DEFAULTS.healthCheckTimeout,
    })),
    paused: s.paused ?? false,
  };
  return sortKeys({ apiVersion: API_VERSION, kind: KINDS.OS, metadata: metadata(p.doc.metadata.name, p, opts), spec });
}

function renderOSConfig(n: ValidDocument<NodeSettingsDoc>, opts: RenderOptions): OSConfig {
  const s = n.doc.spec;
  const sysctl: Record<string, string> = {};
  for (const [k, v] of Object.entries(s.sysctl ?? {})) sysctl[k] = String(v);
  const spec: OSConfigSpec = {
    nodeSelector: selector(s.nodeSelector),
    priority: s.priority ?? DEFAULTS.priority,
    sysctl,
    kernelArgs: { add: [...(s.kernelArgs?.add ?? [])], remove: [...(s.kernelArgs?.remove ?? [])] },
  };
  return sortKeys({ apiVersion: API_VERSION, kind: KINDS.OSConfig, metadata: metadata(n.doc.metadata.name, n, opts), spec });
}

const KIND_ORDER: Record<string, number> = { [KINDS.OS]: 0, [KINDS.OSConfig]: 1 };

export function compareObjects(a: RenderedObject, b: RenderedObject): number {
  const ka = KIND_ORDER[a.kind] ?? 9;
  const kb = KIND_ORDER[b.kind] ?? 9;
  if (ka !== kb) return ka - kb;
  return a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0;
}

/**
 * Render validated documents. Expects a revision without errors; given documents from a revision with
 * errors it renders what it can (first document of a name wins; policies whose OSVersion is missing are
 * skipped), which `diff` uses to show a partial picture.
 */
export function renderDocuments(docs: readonly ValidDocument[], opts: RenderOptions = {}): RenderedObject[] {
  const versions = new Map<string, OSVersionDoc>();
  for (const d of docs) if (d.doc.kind === 'OSVersion' && !versions.has(d.doc.metadata.name)) versions.set(d.doc.metadata.name, d.doc);
  const out = new Map<string, RenderedObject>();
  for (const d of docs) {
    if (d.doc.kind === 'RolloutPolicy') {
      const v = versions.get(d.doc.spec.osVersion);
      const key = `${KINDS.OS}/${d.doc.metadata.name}`;
      if (v && !out.has(key)) out.set(key, renderOS(d as ValidDocument<RolloutPolicyDoc>, v, opts));
    } else if (d.doc.kind === 'NodeSettings') {
      const key = `${KINDS.OSConfig}/${d.doc.metadata.name}`;
      if (!out.has(key)) out.set(key, renderOSConfig(d as ValidDocument<NodeSettingsDoc>, opts));
    }
  }
  return [...out.values()].sort(compareObjects);
}

/** One object as YAML (keys already sorted by the renderer). */
export function objectToYaml(obj: RenderedObject): string {
  return stringify(sortKeys(obj), { lineWidth: 0, sortMapEntries: true });
}

/** Objects as one multi-document YAML stream. */
export function objectsToYaml(objects: readonly RenderedObject[]): string {
  return objects.map((o) => `---\n${objectToYaml(o)}`).join('');
}
