// Owns getting rendered objects into the cluster: server-side apply under one field manager,
// labels that tie each object to its FleetSource, an inventory for pruning, and the rule
// that an object whose live state already matches is not written at all.
import { createHash } from 'node:crypto';
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import { KubernetesObjectApi, PatchStrategy } from '../api/client-node.js';
import type { Logger } from 'pino';
import {
  ANNOTATION_SOURCE_REVISION,
  FIELD_MANAGER,
  LABEL_FLEETSOURCE,
  LABEL_MANAGED_BY,
  MANAGED_BY_VALUE,
  type InventoryEntry,
} from '../api/index.js';
import type { ControllerMetrics } from './metrics.js';

/** sha256 of the canonical JSON of what osfleet applied (without this annotation and the revision stamp). */
export const ANNOTATION_APPLIED_HASH = 'osfleet.dev/applied-hash';

/** Where the applier looks up live objects; an informer cache in the controller, a LIST in tests. */
export interface LiveObjects {
  get(ref: InventoryEntry): KubernetesObject | undefined;
}

export interface ConflictInfo {
  object: InventoryEntry;
  managers: string[];
  fields: string[];
  message: string;
}

export interface ApplyResult {
  /** Objects written because their live state differed. */
  written: InventoryEntry[];
  /** Objects left alone because they already matched. */
  unchanged: InventoryEntry[];
  pruned: InventoryEntry[];
  /** Previous-inventory objects not deleted because osfleet's labels were gone (someone took them over). */
  skippedPrune: InventoryEntry[];
  /** Objects another field manager's apply owns fields of (not written; spec.force would take them). */
  conflicts: ConflictInfo[];
  /** What this FleetSource now owns: the desired objects (conflicted ones included, they stay ours). */
  inventory: InventoryEntry[];
}

export interface ApplyOptions {
  fleetsource: string;
  force: boolean;
  /** Full revision string, stamped in ANNOTATION_SOURCE_REVISION of objects that change. */
  revision: string;
}

export class ApplyError extends Error {
  constructor(
    readonly object: InventoryEntry,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ApplyError';
  }
}

export function refOf(o: KubernetesObject): InventoryEntry {
  return { apiVersion: o.apiVersion ?? '', kind: o.kind ?? '', name: o.metadata?.name ?? '' };
}

export function refKey(r: InventoryEntry): string {
  return `${r.apiVersion}/${r.kind}/${r.name}`;
}

export function formatRef(r: InventoryEntry): string {
  return `${r.kind}/${r.name}`;
}

/** Deterministic JSON: object keys sorted, so equal content hashes equal. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

/**
 * The object osfleet applies: the rendered content, the FleetSource and managed-by labels,
 * and a hash of that content. Status and server-owned metadata are never part of it.
 */
export function desiredObject(rendered: KubernetesObject, fleetsource: string): KubernetesObject & Record<string, unknown> {
  const { metadata, status: _status, ...rest } = rendered as KubernetesObject & Record<string, unknown>;
  const annotations = { ...(metadata?.annotations ?? {}) };
  delete annotations[ANNOTATION_APPLIED_HASH];
  const obj: KubernetesObject & Record<string, unknown> = {
    ...rest,
    metadata: {
      name: metadata?.name,
      ...(metadata?.namespace ? { namespace: metadata.namespace } : {}),
      labels: { ...(metadata?.labels ?? {}), [LABEL_MANAGED_BY]: MANAGED_BY_VALUE, [LABEL_FLEETSOURCE]: fleetsource },
      annotations,
    },
  };
  const forHash = structuredClone(obj);
  delete forHash.metadata!.annotations![ANNOTATION_SOURCE_REVISION];
  obj.metadata!.annotations![ANNOTATION_APPLIED_HASH] = `sha256:${createHash('sha256').update(canonicalJson(forHash)).digest('hex')}`;
  return obj;
}

/**
 * True when every field osfleet would apply already has that value live. Fields that others
 * added are not osfleet's business; a field osfleet dropped changes the hash annotation.
 * The revision stamp is ignored: it names the revision that last changed the object.
 */
export function liveMatches(desired: KubernetesObject & Record<string, unknown>, live: KubernetesObject | undefined): boolean {
  if (!live) return false;
  const d = structuredClone(desired);
  delete d.metadata!.annotations![ANNOTATION_SOURCE_REVISION];
  return covers(d, live);
}

function covers(want: unknown, have: unknown): boolean {
  if (Array.isArray(want)) {
    return Array.isArray(have) && want.length === have.length && want.every((w, i) => covers(w, have[i]));
  }
  if (want && typeof want === 'object') {
    if (!have || typeof have !== 'object' || Array.isArray(have)) return false;
    const h = have as Record<string, unknown>;
    return Object.entries(want as Record<string, unknown>).every(([k, w]) => w === undefined || covers(w, h[k]));
  }
  return want === have;
}

export interface ApplierOptions {
  kc: KubeConfig;
  logger?: Logger;
  metrics?: ControllerMetrics;
  fieldManager?: string;
}

export class Applier {
  private readonly api: KubernetesObjectApi;
  private readonly manager: string;

  constructor(private readonly opts: ApplierOptions) {
    this.api = KubernetesObjectApi.makeApiClient(opts.kc);
    this.manager = opts.fieldManager ?? FIELD_MANAGER;
  }

  /**
   * Applies `rendered`, then prunes what `previous` had and `rendered` has not. Writes nothing
   * for objects whose live state (from `live`) already matches. Throws ApplyError on the first
   * object the API refuses for a reason other than a field-manager conflict.
   */
  async apply(rendered: KubernetesObject[], previous: InventoryEntry[], live: LiveObjects, opts: ApplyOptions): Promise<ApplyResult> {
    const result: ApplyResult = { written: [], unchanged: [], pruned: [], skippedPrune: [], conflicts: [], inventory: [] };
    const wanted = new Set<string>();
    for (const r of rendered) {
      const desired = desiredObject(r, opts.fleetsource);
      const ref = refOf(desired);
      wanted.add(refKey(ref));
      result.inventory.push(ref);
      let current = live.get(ref);
      if (!current) {
        // Not among the objects osfleet labels (the cache holds no others): if it exists anyway, it is
        // someone else's, and osfleet never takes over an object it did not create.
        const existing = await this.readLive(ref);
        if (existing && existing.metadata?.labels?.[LABEL_MANAGED_BY] !== MANAGED_BY_VALUE) {
          result.inventory.pop();
          result.conflicts.push({
            object: ref,
            managers: [],
            fields: [],
            message:
              `${formatRef(ref)} already exists and is not managed by osfleet (no ${LABEL_MANAGED_BY}=${MANAGED_BY_VALUE} label); ` +
              'osfleet never takes over an object it did not create: delete it so osfleet can create it, or rename the document',
          });
          continue;
        }
        current = existing;
      }
      const owner = current?.metadata?.labels?.[LABEL_FLEETSOURCE];
      if (current && owner && owner !== opts.fleetsource && current.metadata?.labels?.[LABEL_MANAGED_BY] === MANAGED_BY_VALUE) {
        result.inventory.pop();
        result.conflicts.push({
          object: ref,
          managers: [],
          fields: [],
          message: `${formatRef(ref)} already belongs to FleetSource ${owner}; two FleetSources may not render the same object`,
        });
        continue;
      }
      if (liveMatches(desired, current)) {
        result.unchanged.push(ref);
        continue;
      }
      desired.metadata!.annotations![ANNOTATION_SOURCE_REVISION] = opts.revision;
      const conflict = await this.applyOne(desired, ref, opts.force, current);
      if (conflict) result.conflicts.push(conflict);
      else result.written.push(ref);
    }
    this.opts.metrics?.objectsApplied.inc({ fleetsource: opts.fleetsource }, result.written.length);

    for (const old of previous) {
      if (wanted.has(refKey(old))) continue;
      const pruned = await this.pruneOne(old, live, opts.fleetsource);
      (pruned ? result.pruned : result.skippedPrune).push(old);
    }
    this.opts.metrics?.objectsPruned.inc({ fleetsource: opts.fleetsource }, result.pruned.length);
    return result;
  }

  /** The live object, or undefined when there is none. */
  private async readLive(ref: InventoryEntry): Promise<KubernetesObject | undefined> {
    try {
      return await this.api.read({ apiVersion: ref.apiVersion, kind: ref.kind, metadata: { name: ref.name } });
    } catch (err) {
      if (statusCode(err) === 404) return undefined;
      throw new ApplyError(ref, `reading ${formatRef(ref)} before applying it failed: ${apiMessage(err)}`, { cause: err });
    }
  }

  /** Server-side apply; returns conflict details instead of throwing when another manager owns fields. */
  private async applyOne(
    desired: KubernetesObject,
    ref: InventoryEntry,
    force: boolean,
    current: KubernetesObject | undefined,
  ): Promise<ConflictInfo | undefined> {
    try {
      await this.patch(desired, force);
      return undefined;
    } catch (err) {
      if (statusCode(err) !== 409) {
        throw new ApplyError(ref, `applying ${formatRef(ref)} failed: ${apiMessage(err)}`, { cause: err });
      }
      const conflict = parseConflict(ref, err);
      // Drift from an imperative edit (kubectl edit / patch / replace: an Update operation) is
      // ours to undo; a co-owner that also applies declaratively is a real conflict.
      const ops = new Map((current?.metadata?.managedFields ?? []).map((m) => [m.manager ?? '', m.operation ?? '']));
      const onlyImperative = conflict.managers.length > 0 && conflict.managers.every((m) => ops.get(m) === 'Update');
      if (!onlyImperative) return conflict;
      this.opts.logger?.info({ object: formatRef(ref), managers: conflict.managers }, 'restoring fields changed by hand');
      try {
        await this.patch(desired, true);
        return undefined;
      } catch (err2) {
        throw new ApplyError(ref, `applying ${formatRef(ref)} failed: ${apiMessage(err2)}`, { cause: err2 });
      }
    }
  }

  private async patch(desired: KubernetesObject, force: boolean): Promise<void> {
    this.opts.metrics?.apiWrites.inc({ verb: 'apply', kind: desired.kind ?? '' });
    await this.api.patch(desired, undefined, undefined, this.manager, force, PatchStrategy.ServerSideApply);
  }

  private async pruneOne(ref: InventoryEntry, live: LiveObjects, fleetsource: string): Promise<boolean> {
    const current = live.get(ref);
    if (!current) return true; // already gone
    const labels = current.metadata?.labels ?? {};
    if (labels[LABEL_MANAGED_BY] !== MANAGED_BY_VALUE || labels[LABEL_FLEETSOURCE] !== fleetsource) {
      this.opts.logger?.info({ object: formatRef(ref) }, 'not pruning: the object no longer carries osfleet labels for this FleetSource');
      return false;
    }
    try {
      this.opts.metrics?.apiWrites.inc({ verb: 'delete', kind: ref.kind });
      await this.api.delete(
        { apiVersion: ref.apiVersion, kind: ref.kind, metadata: { name: ref.name } },
        undefined,
        undefined,
        undefined,
        undefined,
        'Background',
        // Only the object we looked at: not one recreated under the same name meanwhile.
        { preconditions: { uid: current.metadata?.uid } },
      );
      return true;
    } catch (err) {
      const code = statusCode(err);
      if (code === 404) return true;
      if (code === 409) return false;
      throw new ApplyError(ref, `pruning ${formatRef(ref)} failed: ${apiMessage(err)}`, { cause: err });
    }
  }

  /** A LIST-backed LiveObjects for the given kinds, filtered to osfleet-managed objects. */
  async listLive(kinds: Array<{ apiVersion: string; kind: string }>): Promise<LiveObjects> {
    const map = new Map<string, KubernetesObject>();
    for (const k of kinds) {
      const list = await this.api.list(k.apiVersion, k.kind, undefined, undefined, undefined, undefined, undefined, `${LABEL_MANAGED_BY}=${MANAGED_BY_VALUE}`);
      for (const item of list.items) {
        map.set(refKey({ apiVersion: k.apiVersion, kind: k.kind, name: item.metadata?.name ?? '' }), item);
      }
    }
    return { get: (ref) => map.get(refKey(ref)) };
  }
}

function parseConflict(ref: InventoryEntry, err: unknown): ConflictInfo {
  const body = errorBody(err);
  const causes = (body?.details?.causes ?? []) as Array<{ message?: string; field?: string }>;
  const managers = new Set<string>();
  const fields: string[] = [];
  for (const c of causes) {
    const m = /conflict with "([^"]+)"/.exec(c.message ?? '');
    if (m) managers.add(m[1]!);
    if (c.field) fields.push(c.field);
  }
  return {
    object: ref,
    managers: [...managers],
    fields,
    message:
      `${formatRef(ref)}: field${fields.length === 1 ? '' : 's'} ${fields.join(', ') || '(unknown)'} ` +
      `owned by ${[...managers].map((m) => `"${m}"`).join(', ') || 'another field manager'}; ` +
      `set spec.force: true on the FleetSource to take them over`,
  };
}

function errorBody(err: unknown): { message?: string; details?: { causes?: unknown[] } } | undefined {
  const b = (err as { body?: unknown })?.body;
  if (typeof b === 'string') {
    try {
      return JSON.parse(b) as { message?: string; details?: { causes?: unknown[] } };
    } catch {
      return { message: b };
    }
  }
  if (b && typeof b === 'object') return b as { message?: string };
  return undefined;
}

export function statusCode(err: unknown): number | undefined {
  const c = (err as { code?: unknown })?.code;
  return typeof c === 'number' ? c : undefined;
}

export function apiMessage(err: unknown): string {
  return errorBody(err)?.message ?? (err as Error)?.message ?? String(err);
}
