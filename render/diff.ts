// Comparing two renders of the repository (e.g. a pull request's base and head): which objects appear,
// change or disappear, version bumps, settings changed per selector, what needs a reboot, policies whose
// windows or pace changed. Pure: a report model; diff-markdown.ts turns it into a PR comment.
import { ANNOTATION_SOURCE_FILE, KINDS } from '../api/meta.js';
import type { OS, OSConfig } from '../api/resources.js';
import type { Window } from '../api/common.js';
import type { Diagnostic } from './diagnostics.js';
import type { RenderedObject } from './render.js';
import { defaultCatalogue, type Catalogue } from './catalogue.js';
import { describeSelector } from './selector-analysis.js';

/** What `diffRenders` needs of each side: a revision label and its rendered objects (and diagnostics for the new one). */
export interface RenderSnapshot {
  revision: string;
  objects: readonly RenderedObject[];
  errors?: readonly Diagnostic[];
  warnings?: readonly Diagnostic[];
}

export interface ObjectRef {
  kind: string;
  name: string;
  sourceFile?: string;
}

export interface ObjectChange extends ObjectRef {
  /** `invalid`: missing from the new render because its file has validation errors (not a removal). */
  change: 'added' | 'changed' | 'removed' | 'moved' | 'invalid';
  /** Top-level spec fields that differ (changed objects). */
  fields: string[];
  /** Previous source file, when the document moved. */
  previousSourceFile?: string;
}

export interface VersionChange {
  policy: string;
  selector: string;
  /** undefined: the policy is new. */
  from?: { name: string; version: string; sha256: string };
  /** undefined: the policy was removed (its nodes keep what they run). */
  to?: { name: string; version: string; sha256: string };
  /** Same version string but a different image digest: a rebuilt image. */
  imageOnly: boolean;
  batches: Array<number | string>;
  windows: string[];
  paused: boolean;
}

export interface SettingChange {
  kind: 'sysctl' | 'kernelArg';
  /** sysctl key, or kernel argument text. */
  key: string;
  before?: string;
  after?: string;
  /** Takes effect only after a reboot (kernel args always; sysctls per the catalogue). */
  reboot: boolean;
  /** The sysctl key or kernel argument is not in the catalogue. */
  unknown: boolean;
  /** sysctl: the catalogue's description. */
  description?: string;
  /** kernel args: added to / removed from which list. */
  list?: 'add' | 'remove';
}

export interface SettingsDiff {
  config: string;
  change: 'added' | 'changed' | 'removed';
  selector: string;
  priority: number;
  previousPriority?: number;
  previousSelector?: string;
  settings: SettingChange[];
  needsReboot: boolean;
}

export interface FieldChange {
  field: string;
  before: string;
  after: string;
}

export interface PolicyDiff {
  policy: string;
  selector: string;
  /** strategy.* changes: batches, maxUnavailable, soak, failureBudget, stageOutsideWindows. */
  pace: FieldChange[];
  /** maintenance / deny window changes, each side described in words. */
  windows: FieldChange[];
  /** nodeSelector, drain, healthChecks, paused. */
  other: FieldChange[];
}

export interface RebootItem {
  kind: string;
  name: string;
  selector: string;
  reason: string;
}

export interface DiffReport {
  from: string;
  to: string;
  objects: ObjectChange[];
  versions: VersionChange[];
  settings: SettingsDiff[];
  policies: PolicyDiff[];
  reboots: RebootItem[];
  /** sysctl keys and kernel args the catalogue does not know, in added or changed settings. */
  unknownSettings: Array<{ config: string; kind: 'sysctl' | 'kernelArg'; key: string }>;
  errors: Diagnostic[];
  warnings: Diagnostic[];
  /** True when anything rendered differs. */
  hasChanges: boolean;
}

const json = (v: unknown) => JSON.stringify(v);

function keyOf(o: ObjectRef): string {
  return `${o.kind}/${o.name}`;
}

function sourceFile(o: RenderedObject): string | undefined {
  return o.metadata.annotations?.[ANNOTATION_SOURCE_FILE];
}

/** Labels, but not the annotations (which carry the revision and change on every commit). */
function comparable(o: RenderedObject): string {
  return json({ labels: o.metadata.labels ?? {}, spec: o.spec });
}

const DAY_NAMES = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTH_NAMES = ['', 'Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

function days(field: string): string | undefined {
  if (field === '*') return 'every day';
  const parts = field.split(',');
  const out: string[] = [];
  for (const p of parts) {
    const m = /^([0-7])(?:-([0-7]))?$/.exec(p);
    if (!m) return undefined;
    const a = DAY_NAMES[Number(m[1]) % 7]!;
    out.push(m[2] !== undefined ? `${a}–${DAY_NAMES[Number(m[2]) % 7]}` : a);
  }
  return out.join(', ');
}

/** A window in words where the schedule is simple ("Mon–Fri at 01:00 for 4h (Europe/Berlin)"), else its cron. */
export function describeWindow(w: Window): string {
  const zone = w.timeZone ?? 'UTC';
  const f = w.schedule.trim().split(/\s+/);
  let when: string | undefined;
  if (f.length === 5 && /^\d+$/.test(f[0]!) && /^\d+$/.test(f[1]!)) {
    const time = `${f[1]!.padStart(2, '0')}:${f[0]!.padStart(2, '0')}`;
    if (f[2] === '*' && f[3] === '*') {
      const d = days(f[4]!);
      if (d) when = `${d} at ${time}`;
    } else if (/^\d+$/.test(f[2]!) && /^\d+$/.test(f[3]!) && f[4] === '*') {
      when = `every ${Number(f[2])} ${MONTH_NAMES[Number(f[3])] ?? f[3]} at ${time}`;
    } else if (/^\d+$/.test(f[2]!) && f[3] === '*' && f[4] === '*') {
      when = `day ${Number(f[2])} of every month at ${time}`;
    }
  }
  return `${when ?? `cron "${w.schedule}"`} for ${w.duration} (${zone})`;
}

function describeWindows(list: readonly Window[] | undefined): string {
  if (!list || list.length === 0) return 'none';
  return list.map(describeWindow).join('; ');
}

function batchesText(b: ReadonlyArray<number | string>): string {
  return b.map((x) => (typeof x === 'number' ? String(x) : x)).join(' → ');
}

function versionOf(o: OS | undefined): VersionChange['to'] {
  if (!o) return undefined;
  return { name: o.spec.osVersion.name, version: o.spec.osVersion.version, sha256: o.spec.osVersion.image.sha256 };
}

function settingsDiff(before: OSConfig | undefined, after: OSConfig | undefined, cat: Catalogue): SettingsDiff {
  const settings: SettingChange[] = [];
  const bs = before?.spec.sysctl ?? {};
  const as = after?.spec.sysctl ?? {};
  for (const key of [...new Set([...Object.keys(bs), ...Object.keys(as)])].sort()) {
    const b = bs[key];
    const a = as[key];
    if (b === a) continue;
    const entry = cat.sysctls.get(key);
    settings.push({
      kind: 'sysctl',
      key,
      ...(b !== undefined ? { before: b } : {}),
      ...(a !== undefined ? { after: a } : {}),
      reboot: entry?.apply === 'reboot',
      unknown: entry === undefined,
      ...(entry?.description ? { description: entry.description } : {}),
    });
  }
  for (const list of ['add', 'remove'] as const) {
    const b = new Set(before?.spec.kernelArgs[list] ?? []);
    const a = new Set(after?.spec.kernelArgs[list] ?? []);
    for (const arg of [...new Set([...b, ...a])].sort()) {
      if (b.has(arg) === a.has(arg)) continue;
      const name = arg.includes('=') ? arg.slice(0, arg.indexOf('=')) : arg;
      settings.push({
        kind: 'kernelArg',
        key: arg,
        list,
        ...(b.has(arg) ? { before: list === 'add' ? 'added' : 'removed' } : {}),
        ...(a.has(arg) ? { after: list === 'add' ? 'added' : 'removed' } : {}),
        reboot: true,
        unknown: !cat.kernelArgs.has(name),
        ...(cat.kernelArgs.get(name)?.description ? { description: cat.kernelArgs.get(name)!.description! } : {}),
      });
    }
  }
  const obj = (after ?? before)!;
  const d: SettingsDiff = {
    config: obj.metadata.name,
    change: !before ? 'added' : !after ? 'removed' : 'changed',
    selector: describeSelector(obj.spec.nodeSelector),
    priority: obj.spec.priority,
    settings,
    needsReboot: settings.some((s) => s.reboot),
  };
  if (before && after && before.spec.priority !== after.spec.priority) d.previousPriority = before.spec.priority;
  if (before && after && json(before.spec.nodeSelector) !== json(after.spec.nodeSelector)) d.previousSelector = describeSelector(before.spec.nodeSelector);
  return d;
}

function policyDiff(before: OS, after: OS): PolicyDiff {
  const pace: FieldChange[] = [];
  const bs = before.spec.strategy;
  const as = after.spec.strategy;
  if (json(bs.batches) !== json(as.batches)) pace.push({ field: 'batches', before: batchesText(bs.batches), after: batchesText(as.batches) });
  for (const f of ['maxUnavailable', 'soak', 'failureBudget', 'stageOutsideWindows'] as const) {
    if (json(bs[f]) !== json(as[f])) pace.push({ field: f, before: String(bs[f]), after: String(as[f]) });
  }
  const windows: FieldChange[] = [];
  for (const f of ['maintenanceWindows', 'denyWindows'] as const) {
    if (json(before.spec[f]) !== json(after.spec[f])) windows.push({ field: f, before: describeWindows(before.spec[f]), after: describeWindows(after.spec[f]) });
  }
  const other: FieldChange[] = [];
  if (json(before.spec.nodeSelector) !== json(after.spec.nodeSelector)) {
    other.push({ field: 'nodeSelector', before: describeSelector(before.spec.nodeSelector), after: describeSelector(after.spec.nodeSelector) });
  }
  if (before.spec.paused !== after.spec.paused) other.push({ field: 'paused', before: String(before.spec.paused), after: String(after.spec.paused) });
  const drain = (o: OS) => `timeout ${o.spec.drain.timeout}, on timeout ${o.spec.drain.onTimeout}, deleteEmptyDirData ${o.spec.drain.deleteEmptyDirData}`;
  if (json(before.spec.drain) !== json(after.spec.drain)) other.push({ field: 'drain', before: drain(before), after: drain(after) });
  const hc = (o: OS) => (o.spec.healthChecks.length ? o.spec.healthChecks.map((h) => `${h.namespace}/${describeSelector(h.podSelector)} within ${h.timeout}`).join('; ') : 'none');
  if (json(before.spec.healthChecks) !== json(after.spec.healthChecks)) other.push({ field: 'healthChecks', before: hc(before), after: hc(after) });
  return { policy: after.metadata.name, selector: describeSelector(after.spec.nodeSelector), pace, windows, other };
}

function topFieldsChanged(a: RenderedObject, b: RenderedObject): string[] {
  const out: string[] = [];
  const sa = a.spec as unknown as Record<string, unknown>;
  const sb = b.spec as unknown as Record<string, unknown>;
  for (const k of [...new Set([...Object.keys(sa), ...Object.keys(sb)])].sort()) if (json(sa[k]) !== json(sb[k])) out.push(`spec.${k}`);
  if (json(a.metadata.labels ?? {}) !== json(b.metadata.labels ?? {})) out.push('metadata.labels');
  return out;
}

/** Compare two renders. `next` carries the new revision's validation errors and warnings. */
export function diffRenders(prev: RenderSnapshot, next: RenderSnapshot, opts: { catalogue?: Catalogue } = {}): DiffReport {
  const cat = opts.catalogue ?? defaultCatalogue();
  const before = new Map(prev.objects.map((o) => [keyOf({ kind: o.kind, name: o.metadata.name }), o]));
  const after = new Map(next.objects.map((o) => [keyOf({ kind: o.kind, name: o.metadata.name }), o]));
  const keys = [...new Set([...before.keys(), ...after.keys()])].sort((x, y) => {
    const kx = x.startsWith(`${KINDS.OS}/`) ? 0 : 1;
    const ky = y.startsWith(`${KINDS.OS}/`) ? 0 : 1;
    return kx !== ky ? kx - ky : x < y ? -1 : x > y ? 1 : 0;
  });
  const report: DiffReport = {
    from: prev.revision,
    to: next.revision,
    objects: [],
    versions: [],
    settings: [],
    policies: [],
    reboots: [],
    unknownSettings: [],
    errors: [...(next.errors ?? [])],
    warnings: [...(next.warnings ?? [])],
    hasChanges: false,
  };
  const invalidFiles = new Set((next.errors ?? []).map((e) => e.path));
  for (const key of keys) {
    const b = before.get(key);
    const a = after.get(key);
    const obj = (a ?? b)!;
    const ref: ObjectRef = { kind: obj.kind, name: obj.metadata.name };
    const file = sourceFile(obj);
    if (file !== undefined) ref.sourceFile = file;
    if (b && a) {
      if (comparable(b) === comparable(a)) {
        const bf = sourceFile(b);
        if (bf !== file) report.objects.push({ ...ref, change: 'moved', fields: [], ...(bf !== undefined ? { previousSourceFile: bf } : {}) });
        continue;
      }
      report.objects.push({ ...ref, change: 'changed', fields: topFieldsChanged(b, a) });
    } else if (!a && file !== undefined && invalidFiles.has(file)) {
      report.objects.push({ ...ref, change: 'invalid', fields: [] });
      continue;
    } else {
      report.objects.push({ ...ref, change: a ? 'added' : 'removed', fields: [] });
    }
    if (obj.kind === KINDS.OS) {
      const bo = b as OS | undefined;
      const ao = a as OS | undefined;
      const vb = versionOf(bo);
      const va = versionOf(ao);
      if (json(vb) !== json(va)) {
        const live = (ao ?? bo)!;
        const v: VersionChange = {
          policy: live.metadata.name,
          selector: describeSelector(live.spec.nodeSelector),
          imageOnly: !!vb && !!va && vb.version === va.version,
          batches: [...live.spec.strategy.batches],
          windows: live.spec.maintenanceWindows.map(describeWindow),
          paused: live.spec.paused,
        };
        if (vb) v.from = vb;
        if (va) v.to = va;
        report.versions.push(v);
        if (va && (!vb || vb.sha256 !== va.sha256)) {
          report.reboots.push({ kind: KINDS.OS, name: live.metadata.name, selector: v.selector, reason: vb ? `OS ${vb.version} → ${va.version}${v.imageOnly ? ' (rebuilt image)' : ''}` : `nodes move to OS ${va.version} (new policy)` });
        }
      }
      if (bo && ao) {
        const p = policyDiff(bo, ao);
        if (p.pace.length || p.windows.length || p.other.length) report.policies.push(p);
      }
    } else if (obj.kind === KINDS.OSConfig) {
      const s = settingsDiff(b as OSConfig | undefined, a as OSConfig | undefined, cat);
      report.settings.push(s);
      if (s.change !== 'removed') {
        for (const c of s.settings) if (c.unknown && c.after !== undefined) report.unknownSettings.push({ config: s.config, kind: c.kind, key: c.key });
      }
      const rebootKeys = s.settings.filter((c) => c.reboot).map((c) => (c.kind === 'sysctl' ? c.key : `kernel argument ${c.key}`));
      if (rebootKeys.length) report.reboots.push({ kind: KINDS.OSConfig, name: s.config, selector: s.selector, reason: rebootKeys.join(', ') });
    }
  }
  report.hasChanges = report.objects.some((o) => o.change !== 'moved' && o.change !== 'invalid');
  return report;
}
