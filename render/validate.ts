// Validation of a repository revision: every error of every document, each at the key or value it is
// about. Structure comes from the TypeBox schemas in api/documents.ts; the meaning checks (references,
// batches, windows, sysctls, conflicts between documents) are here. Never throws on any input.
import { API_VERSION, DOCUMENT_KINDS, type DocumentKind } from '../api/meta.js';
import { DOCUMENT_SPECS, DocumentEnvelope, DEFAULTS, type Document, type NodeSettingsDoc, type OSVersionDoc, type RolloutPolicyDoc } from '../api/documents.js';
import type { LabelSelector } from '../api/common.js';
import { validateWindow, type WindowKind, type WindowProblem } from '../rollout/windows.js';
import { parseDuration } from '../api/duration.js';
import { validateSelector } from '../rollout/selector.js';
import { compareDiagnostics, type Diagnostic, type Severity } from './diagnostics.js';
import { parseFiles, type ParsedDocument, type Position } from './parse.js';
import type { SourceFile } from './load.js';
import { checkSchema, fieldPath, keyPos, valuePos, got, sourceText, type Site } from './structure.js';
import { didYouMean } from '../api/suggest.js';
import {
  defaultCatalogue,
  judgeKernelArg,
  judgeSysctl,
  kernelArgProblem,
  sysctlKeyProblem,
  sysctlValueProblem,
  type Catalogue,
} from './catalogue.js';
import { canonicalSelector, normaliseSelector, normalisedDisjoint, selectorNeverMatches, type NormalisedSelector } from './selector-analysis.js';

export interface ValidateOptions {
  /** sysctl / kernel-arg catalogue; default the one shipped in policies/. */
  catalogue?: Catalogue;
  /** Allow-list mode: a sysctl key or kernel argument the catalogue does not know is an error, not a warning. */
  strict?: boolean;
}

/** A document that passed validation, with where it came from. */
export interface ValidDocument<D extends Document = Document> {
  doc: D;
  path: string;
  /** Position of the document's top node. */
  position: Position;
}

export interface ValidationResult {
  /** Documents with no error of their own, in file order. Render only when `errors` is empty. */
  documents: ValidDocument[];
  errors: Diagnostic[];
  warnings: Diagnostic[];
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Text of a scalar value; a mapping or list (already reported by the schema check) gets a placeholder. */
function scalarText(v: unknown): string {
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : `<${Array.isArray(v) ? 'list' : typeof v}>`;
}

function where(d: { path: string; line: number; col: number } | { path: string; pos: Position }): string {
  return 'pos' in d ? `${d.path}:${d.pos.line}:${d.pos.col}` : `${d.path}:${d.line}:${d.col}`;
}

// ---------- label syntax (Kubernetes rules) ----------

const LABEL_NAME = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export function labelKeyProblem(key: string): string | undefined {
  const slash = key.indexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && (prefix.length === 0 || prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) {
    return `label key prefix ${JSON.stringify(prefix)} must be a DNS subdomain such as example.com`;
  }
  if (name.length === 0 || name.length > 63 || !LABEL_NAME.test(name)) {
    return 'a label key is an optional DNS prefix and "/", then up to 63 letters, digits, "-", "_" or ".", starting and ending with a letter or digit';
  }
  return undefined;
}

export function labelValueProblem(value: string): string | undefined {
  if (value === '') return undefined;
  if (value.length > 63 || !LABEL_NAME.test(value)) {
    return 'a label value is empty or up to 63 letters, digits, "-", "_" or ".", starting and ending with a letter or digit';
  }
  return undefined;
}

// ---------- windows (memoised: repositories repeat the same few windows many times) ----------

const windowCache = new Map<string, WindowProblem[]>();

function windowProblems(w: { schedule: unknown; duration: unknown; timeZone: unknown }, kind: WindowKind): WindowProblem[] {
  const cacheable = typeof w.schedule === 'string' && typeof w.duration === 'string' && typeof w.timeZone === 'string';
  const key = cacheable ? `${kind}\u0000${w.schedule as string}\u0000${w.duration as string}\u0000${w.timeZone as string}` : '';
  const hit = cacheable ? windowCache.get(key) : undefined;
  if (hit) return hit;
  let problems: WindowProblem[];
  try {
    problems = validateWindow(w as { schedule: string; duration: string; timeZone: string }, kind);
  } catch (err) {
    problems = [{ field: 'schedule', message: `cannot be checked: ${(err as Error).message}` }];
  }
  if (cacheable && windowCache.size < 10_000) windowCache.set(key, problems);
  return problems;
}

// ---------- the per-document checker ----------

interface DocState {
  parsed: ParsedDocument;
  diags: Diagnostic[];
  kind?: DocumentKind;
  name?: string;
  namePos?: Position;
}

class Checker {
  constructor(
    readonly st: DocState,
    readonly catalogue: Catalogue,
    readonly strict = false,
  ) {}

  get doc(): ParsedDocument {
    return this.st.parsed;
  }

  emit(severity: Severity, pos: Position, message: string): void {
    this.st.diags.push({ severity, path: this.doc.path, line: pos.line, col: pos.col, message });
  }

  site(parent: object | undefined, key: string | number | undefined): Site {
    return { doc: this.doc, parent, key };
  }

  atValue(parent: object, key: string | number, severity: Severity, message: string): void {
    this.emit(severity, valuePos(this.site(parent, key)), message);
  }

  atKey(parent: object, key: string | number, severity: Severity, message: string): void {
    this.emit(severity, keyPos(this.site(parent, key)), message);
  }

  /** A label selector's syntax beyond the schema: operators with/without values, label key and value rules. */
  selector(parent: Obj, key: string, path: string): void {
    const sel = parent[key];
    if (!isObj(sel)) return;
    const before = this.st.diags.length;
    const ml = sel.matchLabels;
    if (isObj(ml)) {
      for (const [k, v] of Object.entries(ml)) {
        const kp = labelKeyProblem(k);
        if (kp) this.atKey(ml, k, 'error', `${fieldPath(`${path}.matchLabels`, k)}: invalid label key: ${kp}`);
        if (typeof v === 'string') {
          const vp = labelValueProblem(v);
          if (vp) this.atValue(ml, k, 'error', `${fieldPath(`${path}.matchLabels`, k)}: invalid label value ${JSON.stringify(v)}: ${vp}`);
        }
      }
    }
    const me = sel.matchExpressions;
    if (Array.isArray(me)) {
      me.forEach((r, i) => {
        if (!isObj(r)) return;
        const rPath = `${path}.matchExpressions[${i}]`;
        if (typeof r.key === 'string' && r.key !== '') {
          const kp = labelKeyProblem(r.key);
          if (kp) this.atValue(r, 'key', 'error', `${rPath}.key: invalid label key ${JSON.stringify(r.key)}: ${kp}`);
        }
        if (typeof r.operator !== 'string' || !['In', 'NotIn', 'Exists', 'DoesNotExist'].includes(r.operator)) return; // schema reports it
        const values = Array.isArray(r.values) ? r.values : undefined;
        if (values && !values.every((v) => typeof v === 'string')) return; // schema reports it
        for (const problem of validateSelector({ matchExpressions: [{ key: typeof r.key === 'string' ? r.key : '', operator: r.operator as 'In', values: values as string[] | undefined }] })) {
          const text = problem.replace(/^matchExpressions\[0\]:\s*/, '');
          if (/key is required/.test(text)) continue; // schema reports it
          const at = 'values' in r ? 'values' : 'operator';
          this.atValue(r, at, 'error', `${rPath}: ${text}`);
        }
        values?.forEach((v, j) => {
          if (typeof v !== 'string') return;
          const vp = labelValueProblem(v);
          if (vp) this.atValue(values, j, 'error', `${rPath}.values[${j}]: invalid label value ${JSON.stringify(v)}: ${vp}`);
        });
      });
    }
    if (this.st.diags.length === before && selectorNeverMatches(sel as LabelSelector)) {
      this.atKey(parent, key, 'warning', `${path}: can never match a node (its requirements contradict each other); this document has no effect`);
    }
  }

  labels(meta: Obj): void {
    for (const field of ['labels', 'annotations'] as const) {
      const m = meta[field];
      if (!isObj(m)) continue;
      for (const [k, v] of Object.entries(m)) {
        const kp = labelKeyProblem(k);
        if (kp) this.atKey(m, k, 'error', `${fieldPath(`metadata.${field}`, k)}: invalid ${field === 'labels' ? 'label' : 'annotation'} key: ${kp}`);
        if (field === 'labels' && typeof v === 'string') {
          const vp = labelValueProblem(v);
          if (vp) this.atValue(m, k, 'error', `${fieldPath('metadata.labels', k)}: invalid label value ${JSON.stringify(v)}: ${vp}`);
        }
      }
    }
  }

  url(parent: Obj, key: string, path: string): void {
    const v = parent[key];
    if (typeof v !== 'string' || v === '') return;
    let u: URL;
    try {
      u = new URL(v);
    } catch {
      this.atValue(parent, key, 'error', `${path}: ${JSON.stringify(v)} is not a URL; write a full http:// or https:// address`);
      return;
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') {
      this.atValue(parent, key, 'error', `${path}: URL scheme must be http or https, got "${u.protocol.replace(/:$/, '')}"`);
      return;
    }
    if (u.username || u.password) {
      this.atValue(parent, key, 'error', `${path}: the URL contains credentials, which would be stored in git; remove them and serve the image without credentials in the URL`);
    }
  }

  osVersion(spec: Obj): void {
    const image = spec.image;
    if (isObj(image)) this.url(image, 'url', 'spec.image.url');
    if (typeof spec.releaseNotes === 'string' && spec.releaseNotes !== '') this.url(spec, 'releaseNotes', 'spec.releaseNotes');
  }

  nodeSettings(spec: Obj): void {
    this.selector(spec, 'nodeSelector', 'spec.nodeSelector');
    const sysctl = spec.sysctl;
    let sets = 0;
    if (isObj(sysctl)) {
      for (const [k, v] of Object.entries(sysctl)) {
        sets++;
        const p = fieldPath('spec.sysctl', k);
        const kp = sysctlKeyProblem(k);
        if (kp) {
          this.atKey(sysctl, k, 'error', `${p}: malformed sysctl key: it ${kp}; a key is dotted words such as net.core.somaxconn`);
          continue;
        }
        if (typeof v !== 'string' && !(typeof v === 'number' && Number.isSafeInteger(v))) continue; // schema reports it
        const value = String(v);
        const vp = sysctlValueProblem(value);
        if (vp) {
          this.atValue(sysctl, k, 'error', `${p}: value ${vp}`);
          continue;
        }
        const verdict = judgeSysctl(this.catalogue, k, value);
        switch (verdict.kind) {
          case 'forbidden':
            this.atKey(sysctl, k, 'error', `${p}: setting ${k} is forbidden by osfleet's sysctl catalogue: ${verdict.reason}; remove it`);
            break;
          case 'invalid':
            this.atValue(sysctl, k, 'error', `${p}: invalid value for ${k}: ${verdict.reason}`);
            break;
          case 'unsafe':
            this.atValue(sysctl, k, 'error', `${p}: ${k}=${value} is unsafe: ${verdict.reason}; choose another value or remove the key`);
            break;
          case 'unknown':
            if (this.strict) {
              this.atKey(sysctl, k, 'error', `${p}: ${k} is not in osfleet's sysctl catalogue, and strict mode allows only catalogued keys: add it to policies/sysctl-catalogue.yaml or remove it${didYouMean(k, this.catalogue.sysctls.keys())}`);
            } else {
              this.atKey(sysctl, k, 'warning', `${p}: ${k} is not in osfleet's sysctl catalogue; it will be applied live without range checks${didYouMean(k, this.catalogue.sysctls.keys())}`);
            }
            break;
          default:
            break;
        }
      }
    }
    const ka = spec.kernelArgs;
    if (isObj(ka)) {
      const seen = new Map<string, Map<string, number>>();
      for (const list of ['add', 'remove'] as const) {
        const items = ka[list];
        const mine = new Map<string, number>();
        seen.set(list, mine);
        if (!Array.isArray(items)) continue;
        items.forEach((arg, i) => {
          if (typeof arg !== 'string' || arg === '') return; // schema reports it
          sets++;
          const p = `spec.kernelArgs.${list}[${i}]`;
          const ap = kernelArgProblem(arg);
          if (ap) {
            this.atValue(items, i, 'error', `${p}: malformed kernel argument ${JSON.stringify(arg)}: it ${ap}`);
            return;
          }
          if (mine.has(arg)) {
            this.atValue(items, i, 'warning', `${p}: ${JSON.stringify(arg)} is listed twice in spec.kernelArgs.${list}; remove the repetition`);
          } else mine.set(arg, i);
          const verdict = judgeKernelArg(this.catalogue, arg, list === 'add');
          if (verdict.kind === 'forbidden') {
            this.atValue(items, i, 'error', `${p}: kernel argument ${JSON.stringify(arg)} may not be ${list === 'add' ? 'added' : 'removed'} from git: ${verdict.reason}`);
          } else if (verdict.kind === 'invalid') {
            this.atValue(items, i, 'error', `${p}: invalid kernel argument ${JSON.stringify(arg)}: ${verdict.reason}`);
          } else if (verdict.kind === 'unsafe') {
            this.atValue(items, i, 'error', `${p}: kernel argument ${JSON.stringify(arg)} is unsafe: ${verdict.reason}`);
          } else if (verdict.kind === 'unknown' && this.strict) {
            this.atValue(items, i, 'error', `${p}: kernel argument ${JSON.stringify(arg)} is not in osfleet's kernel-argument catalogue, and strict mode allows only catalogued arguments: add it to policies/kernel-arg-catalogue.yaml or remove it`);
          }
        });
      }
      const add = seen.get('add')!;
      const remove = ka.remove;
      if (Array.isArray(remove)) {
        seen.get('remove')!.forEach((i, arg) => {
          const j = add.get(arg);
          if (j === undefined) return;
          const addList = ka.add as unknown[];
          const other = valuePos(this.site(addList, j));
          this.atValue(remove, i, 'error', `spec.kernelArgs.remove[${i}]: ${JSON.stringify(arg)} is also in spec.kernelArgs.add (line ${other.line}); an argument cannot be added and removed at once — keep one`);
        });
      }
    }
    if (sets === 0 && isObj(spec)) {
      this.emit('warning', keyPos(this.site(this.doc.value as object, 'spec')), 'spec: sets no sysctl and no kernel argument; this NodeSettings has no effect');
    }
  }

  intOrPercent(parent: object, key: string | number, path: string, opts: { min: number; what: string }): void {
    const v = (parent as Record<string | number, unknown>)[key];
    if (typeof v === 'number' && Number.isInteger(v)) {
      if (v < opts.min) {
        const rule = opts.min === 0 ? 'must not be negative' : `must be at least ${opts.min}`;
        this.atValue(parent, key, 'error', `${path}: ${opts.what} ${rule}, got ${v}`);
      }
    } else if (typeof v === 'string' && /^[0-9]+%$/.test(v)) {
      const pct = Number(v.slice(0, -1));
      if (pct < 1 || pct > 100) this.atValue(parent, key, 'error', `${path}: a percent must be between 1% and 100%, got ${JSON.stringify(v)}`);
    }
  }

  strategy(spec: Obj): void {
    const s = spec.strategy;
    if (!isObj(s)) return;
    const batches = s.batches;
    if (Array.isArray(batches)) {
      if (batches.length === 0) {
        this.atValue(s, 'batches', 'error', 'spec.strategy.batches: is empty; list the batches, ending at "100%", e.g. [1, "10%", "100%"]');
      } else {
        let lastCount: number | undefined;
        let lastPct: number | undefined;
        batches.forEach((b, i) => {
          const p = `spec.strategy.batches[${i}]`;
          if (typeof b === 'number' && Number.isInteger(b)) {
            if (b < 1) {
              this.atValue(batches, i, 'error', `${p}: a batch must hold at least 1 node, got ${b}`);
              return;
            }
            if (lastPct !== undefined) {
              this.atValue(batches, i, 'error', `${p}: a node count (${b}) cannot follow a percent; put fixed counts (canaries) first, then percents`);
            } else if (lastCount !== undefined && b <= lastCount) {
              this.atValue(batches, i, 'error', `${p}: batches are cumulative and must increase, but ${b} is not more than the previous ${lastCount}`);
            }
            lastCount = Math.max(lastCount ?? 0, b);
          } else if (typeof b === 'string' && /^[0-9]+%$/.test(b)) {
            const pct = Number(b.slice(0, -1));
            if (pct < 1 || pct > 100) {
              this.atValue(batches, i, 'error', `${p}: a percent must be between 1% and 100%, got ${JSON.stringify(b)}`);
              return;
            }
            if (lastPct !== undefined && pct <= lastPct) {
              this.atValue(batches, i, 'error', `${p}: batches are cumulative and must increase, but ${JSON.stringify(b)} is not more than the previous "${lastPct}%"`);
            }
            lastPct = Math.max(lastPct ?? 0, pct);
          }
        });
        const last = batches[batches.length - 1];
        if (last !== '100%' && (typeof last === 'number' || (typeof last === 'string' && /^[0-9]+%$/.test(last)))) {
          this.atValue(batches, batches.length - 1, 'error', `spec.strategy.batches: the last batch must be "100%" so every selected node is updated, got ${got(last, sourceText(this.site(batches, batches.length - 1)))}; add "100%" at the end`);
        }
      }
    }
    if ('maxUnavailable' in s) this.intOrPercent(s, 'maxUnavailable', 'spec.strategy.maxUnavailable', { min: 1, what: 'maxUnavailable' });
    if ('failureBudget' in s) this.intOrPercent(s, 'failureBudget', 'spec.strategy.failureBudget', { min: 0, what: 'failureBudget' });
  }

  positiveDuration(parent: Obj, key: string, path: string): void {
    const v = parent[key];
    if (typeof v !== 'string') return;
    const d = parseDuration(v);
    if (d.ok && d.ms <= 0) this.atValue(parent, key, 'error', `${path}: must be longer than zero, e.g. "10m"`);
  }

  windows(spec: Obj, field: 'maintenanceWindows' | 'denyWindows'): void {
    const list = spec[field];
    if (!Array.isArray(list)) return;
    const kind: WindowKind = field === 'maintenanceWindows' ? 'maintenance' : 'deny';
    list.forEach((w, i) => {
      if (!isObj(w)) return;
      const p = `spec.${field}[${i}]`;
      const spec = {
        schedule: w.schedule as string,
        duration: w.duration as string,
        timeZone: (w.timeZone === undefined ? DEFAULTS.timeZone : w.timeZone) as string,
      };
      const problems = windowProblems(spec, kind);
      for (const pr of problems) {
        if (!(pr.field in w)) continue; // missing field: the schema reports it
        this.atValue(w, pr.field, 'error', `${p}.${pr.field}: ${pr.message}`);
      }
    });
  }

  rolloutPolicy(spec: Obj): void {
    this.selector(spec, 'nodeSelector', 'spec.nodeSelector');
    this.strategy(spec);
    if (isObj(spec.strategy) && typeof spec.strategy.soak === 'string') {
      const d = parseDuration(spec.strategy.soak);
      if (d.ok && d.ms < 0) this.atValue(spec.strategy, 'soak', 'error', 'spec.strategy.soak: must not be negative');
    }
    this.windows(spec, 'maintenanceWindows');
    this.windows(spec, 'denyWindows');
    if (isObj(spec.drain)) this.positiveDuration(spec.drain, 'timeout', 'spec.drain.timeout');
    if (Array.isArray(spec.healthChecks)) {
      spec.healthChecks.forEach((h, i) => {
        if (!isObj(h)) return;
        const p = `spec.healthChecks[${i}]`;
        if (typeof h.namespace === 'string' && h.namespace !== '' && !DNS_LABEL.test(h.namespace)) {
          this.atValue(h, 'namespace', 'error', `${p}.namespace: ${JSON.stringify(h.namespace)} is not a valid namespace name (lowercase letters, digits and "-")`);
        }
        this.selector(h, 'podSelector', `${p}.podSelector`);
        this.positiveDuration(h, 'timeout', `${p}.timeout`);
      });
    }
    const mw = spec.maintenanceWindows;
    if (mw === undefined || (Array.isArray(mw) && mw.length === 0)) {
      const root = this.doc.value as object;
      this.emit('warning', keyPos(this.site(root, 'spec')), 'spec: no maintenanceWindows: this policy may drain and reboot nodes at any time of day; add a window to restrict when');
    }
  }
}

const ENVELOPE_PROPS = DocumentEnvelope.properties as unknown as Record<string, object>;

function envelopeFor(kind: DocumentKind | undefined): Parameters<typeof checkSchema>[0] {
  const spec = kind ? (DOCUMENT_SPECS[kind] as unknown as object) : { type: 'object' };
  return {
    type: 'object',
    additionalProperties: false,
    required: ['apiVersion', 'kind', 'metadata', 'spec'],
    properties: { ...ENVELOPE_PROPS, apiVersion: { type: 'string' }, kind: { type: 'string' }, spec } as unknown as Record<string, never>,
  };
}

function checkDocument(st: DocState, catalogue: Catalogue, strict: boolean): void {
  const c = new Checker(st, catalogue, strict);
  const value = st.parsed.value;
  const top: Site = { doc: st.parsed, parent: undefined, key: undefined };
  if (!isObj(value)) {
    c.emit('error', st.parsed.start, `a document must be a mapping with apiVersion, kind, metadata and spec, got ${got(value)}`);
    return;
  }
  const av = value.apiVersion;
  if (typeof av === 'string' && av !== API_VERSION) {
    c.atValue(value, 'apiVersion', 'error', `apiVersion: unknown apiVersion ${JSON.stringify(av)}; osfleet documents use "${API_VERSION}"`);
  }
  const kind = value.kind;
  let known: DocumentKind | undefined;
  if (typeof kind === 'string') {
    if ((DOCUMENT_KINDS as readonly string[]).includes(kind)) known = kind as DocumentKind;
    else {
      const rendered = kind === 'OS' || kind === 'OSConfig' || kind === 'OSNode' || kind === 'FleetSource';
      const hint = rendered
        ? `; ${kind} objects live in the cluster, the repository holds ${DOCUMENT_KINDS.join(', ')}`
        : didYouMean(kind, DOCUMENT_KINDS) || `; use one of ${DOCUMENT_KINDS.join(', ')}`;
      c.atValue(value, 'kind', 'error', `kind: unknown kind ${JSON.stringify(kind)}${hint}`);
    }
  }
  st.kind = known;
  const emit = (severity: Severity, pos: Position, message: string) => c.emit(severity, pos, message);
  checkSchema(envelopeFor(known), value, '', top, emit);
  const meta = value.metadata;
  if (isObj(meta)) {
    c.labels(meta);
    if (typeof meta.name === 'string' && meta.name !== '') {
      st.name = meta.name;
      st.namePos = valuePos(c.site(meta, 'name'));
    }
  }
  const spec = value.spec;
  if (!known || !isObj(spec)) return;
  if (known === 'OSVersion') c.osVersion(spec);
  else if (known === 'NodeSettings') c.nodeSettings(spec);
  else c.rolloutPolicy(spec);
}

/** Keep one error per source position (the first — structural errors come first), and all warnings. */
function dedupe(diags: Diagnostic[]): Diagnostic[] {
  const seen = new Set<string>();
  const out: Diagnostic[] = [];
  for (const d of diags) {
    const k = `${d.severity}:${d.line}:${d.col}`;
    if (seen.has(k) && d.severity === 'error') continue;
    seen.add(k);
    out.push(d);
  }
  return out;
}

// ---------- checks across documents ----------

function crossChecks(states: DocState[]): void {
  const push = (s: DocState, severity: Severity, pos: Position, message: string) =>
    s.diags.push({ severity, path: s.parsed.path, line: pos.line, col: pos.col, message });
  const spec = (s: DocState) => (s.parsed.value as Obj).spec as Obj;
  const normCache = new Map<DocState, NormalisedSelector>();
  const norm = (s: DocState): NormalisedSelector => {
    let n = normCache.get(s);
    if (!n) {
      n = normaliseSelector(spec(s).nodeSelector as LabelSelector);
      normCache.set(s, n);
    }
    return n;
  };
  const disjoint = (a: DocState, b: DocState) => normalisedDisjoint(norm(a), norm(b));

  // The same kind + name twice.
  const byName = new Map<string, DocState>();
  for (const s of states) {
    if (!s.kind || !s.name || !s.namePos) continue;
    const k = `${s.kind}/${s.name}`;
    const first = byName.get(k);
    if (first) {
      push(s, 'error', s.namePos, `metadata.name: ${s.kind} ${JSON.stringify(s.name)} is defined twice, here and at ${where({ path: first.parsed.path, pos: first.namePos! })}; names must be unique per kind — rename or remove one`);
    } else byName.set(k, s);
  }

  // RolloutPolicy.osVersion names an OSVersion.
  const versions = states.filter((s) => s.kind === 'OSVersion' && s.name).map((s) => s.name!);
  const versionSet = new Set(versions);
  for (const s of states) {
    if (s.kind !== 'RolloutPolicy' || !isObj(spec(s))) continue;
    const sp = spec(s);
    const ref = sp.osVersion;
    if (typeof ref !== 'string' || ref === '' || versionSet.has(ref)) continue;
    const hint = didYouMean(ref, versions) || (versions.length ? `; known OSVersions: ${[...versionSet].sort().join(', ')}` : '; the repository has no OSVersion documents');
    push(s, 'error', valuePos({ doc: s.parsed, parent: sp, key: 'osVersion' }), `spec.osVersion: no OSVersion named ${JSON.stringify(ref)}${hint}`);
  }

  // NodeSettings: the same sysctl key at the same priority for possibly the same nodes.
  const settings = states.filter((s) => s.kind === 'NodeSettings' && s.name && isObj(spec(s)) && isObj(spec(s).nodeSelector));
  const prio = (s: DocState) => {
    const p = spec(s).priority;
    return typeof p === 'number' ? p : DEFAULTS.priority;
  };
  // Group by (priority, key): only documents at the same priority can conflict.
  const sysctlUsers = new Map<string, DocState[]>();
  const prios = new Map<DocState, number>(settings.map((s) => [s, prio(s)]));
  for (const s of settings) {
    const sc = spec(s).sysctl;
    if (!isObj(sc)) continue;
    for (const k of Object.keys(sc)) {
      const g = `${prios.get(s)}\u0000${k}`;
      const list = sysctlUsers.get(g);
      if (list) list.push(s);
      else sysctlUsers.set(g, [s]);
    }
  }
  for (const [group, users] of sysctlUsers) {
    if (users.length < 2) continue;
    const key = group.slice(group.indexOf('\u0000') + 1);
    const values = users.map((u) => scalarText((spec(u).sysctl as Obj)[key]));
    for (let j = 1; j < users.length; j++) {
      const b = users[j]!;
      const vb = values[j]!;
      for (let i = 0; i < j; i++) {
        const va = values[i]!;
        if (va === vb) continue;
        const a = users[i]!;
        if (a.name === b.name || disjoint(a, b)) continue;
        const sb = spec(b).sysctl as Obj;
        const sa = spec(a).sysctl as Obj;
        const other = keyPos({ doc: a.parsed, parent: sa, key });
        push(b, 'error', keyPos({ doc: b.parsed, parent: sb, key }),
          `${fieldPath('spec.sysctl', key)}: NodeSettings ${JSON.stringify(b.name)} sets ${key}=${vb} and NodeSettings ${JSON.stringify(a.name)} (${where({ path: a.parsed.path, pos: other })}) sets ${key}=${va}, both at priority ${prios.get(b)}, for possibly the same nodes; give one a higher priority or make their nodeSelectors exclusive`);
        break;
      }
    }
  }

  // NodeSettings: one adds a kernel argument another removes, at the same priority.
  const argUsers = new Map<string, Array<{ s: DocState; list: 'add' | 'remove'; i: number }>>();
  for (const s of settings) {
    const ka = spec(s).kernelArgs;
    if (!isObj(ka)) continue;
    for (const list of ['add', 'remove'] as const) {
      const items = ka[list];
      if (!Array.isArray(items)) continue;
      items.forEach((arg, i) => {
        if (typeof arg !== 'string') return;
        const l = argUsers.get(arg) ?? [];
        l.push({ s, list, i });
        argUsers.set(arg, l);
      });
    }
  }
  for (const [arg, users] of argUsers) {
    for (let j = 1; j < users.length; j++) {
      const b = users[j]!;
      const a = users.slice(0, j).find((u) => u.list !== b.list && u.s.name !== b.s.name && prios.get(u.s) === prios.get(b.s) &&
        !disjoint(u.s, b.s));
      if (!a) continue;
      const posA = valuePos({ doc: a.s.parsed, parent: (spec(a.s).kernelArgs as Obj)[a.list] as object, key: a.i });
      push(b.s, 'error', valuePos({ doc: b.s.parsed, parent: (spec(b.s).kernelArgs as Obj)[b.list] as object, key: b.i }),
        `spec.kernelArgs.${b.list}[${b.i}]: NodeSettings ${JSON.stringify(b.s.name)} ${b.list === 'add' ? 'adds' : 'removes'} ${JSON.stringify(arg)} and NodeSettings ${JSON.stringify(a.s.name)} (${where({ path: a.s.parsed.path, pos: posA })}) ${a.list === 'add' ? 'adds' : 'removes'} it, both at priority ${prios.get(b.s)}; give one a higher priority or make their nodeSelectors exclusive`);
    }
  }

  // RolloutPolicies: identical selectors are an error, overlapping ones a warning.
  const policies = states.filter((s) => s.kind === 'RolloutPolicy' && s.name && isObj(spec(s)) && isObj(spec(s).nodeSelector));
  const canon = new Map<DocState, string>(policies.map((s) => [s, canonicalSelector(spec(s).nodeSelector as LabelSelector)]));
  const selPos = (s: DocState) => keyPos({ doc: s.parsed, parent: spec(s), key: 'nodeSelector' });
  for (let j = 1; j < policies.length; j++) {
    const b = policies[j]!;
    let reported = false;
    for (let i = 0; i < j && !reported; i++) {
      const a = policies[i]!;
      if (canon.get(a) === canon.get(b) && canon.get(a) !== '<never>') {
        push(b, 'error', selPos(b), `spec.nodeSelector: RolloutPolicy ${JSON.stringify(b.name)} selects exactly the same nodes as RolloutPolicy ${JSON.stringify(a.name)} (${where({ path: a.parsed.path, pos: selPos(a) })}); a node follows one policy — merge them or narrow one selector`);
        reported = true;
      }
    }
    if (reported) continue;
    for (let i = 0; i < j; i++) {
      const a = policies[i]!;
      if (!disjoint(a, b)) {
        push(b, 'warning', selPos(b), `spec.nodeSelector: RolloutPolicy ${JSON.stringify(b.name)} may select the same nodes as RolloutPolicy ${JSON.stringify(a.name)} (${where({ path: a.parsed.path, pos: selPos(a) })}); nodes matched by both are left alone — make the selectors exclusive, e.g. with a NotIn or DoesNotExist expression`);
        break;
      }
    }
  }
}

/** Validate parsed documents (plus the diagnostics their parsing produced). */
export function validateDocuments(parsed: readonly ParsedDocument[], opts: ValidateOptions = {}, parseDiagnostics: readonly Diagnostic[] = []): ValidationResult {
  const catalogue = opts.catalogue ?? defaultCatalogue();
  const states: DocState[] = parsed.map((p) => ({ parsed: p, diags: [] }));
  for (const st of states) {
    try {
      checkDocument(st, catalogue, opts.strict === true);
    } catch (err) {
      // A bug here must not hide the rest of the revision's errors; report it where the document starts.
      st.diags.push({ severity: 'error', path: st.parsed.path, line: st.parsed.start.line, col: st.parsed.start.col, message: `internal error while validating this document (please report): ${(err as Error).message}` });
    }
  }
  try {
    crossChecks(states);
  } catch (err) {
    const first = states[0];
    if (first) first.diags.push({ severity: 'error', path: first.parsed.path, line: 1, col: 1, message: `internal error while comparing documents (please report): ${(err as Error).message}` });
  }
  const documents: ValidDocument[] = [];
  const all: Diagnostic[] = [...parseDiagnostics];
  for (const st of states) {
    const diags = dedupe(st.diags);
    all.push(...diags);
    if (st.kind && !diags.some((d) => d.severity === 'error')) {
      documents.push({ doc: st.parsed.value as Document, path: st.parsed.path, position: st.parsed.start });
    }
  }
  all.sort(compareDiagnostics);
  return {
    documents,
    errors: all.filter((d) => d.severity === 'error'),
    warnings: all.filter((d) => d.severity === 'warning'),
  };
}

/** Parse and validate the files of one revision. */
export function validate(files: readonly SourceFile[], opts: ValidateOptions = {}): ValidationResult {
  const parsed = parseFiles(files);
  return validateDocuments(parsed.documents, opts, parsed.diagnostics);
}

export type { OSVersionDoc, NodeSettingsDoc, RolloutPolicyDoc };
