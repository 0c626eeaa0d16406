// The cluster as the dashboard and `osfleet status` see it: list-then-watch caches of FleetSources,
// OS, OSConfig, OSNode, Node (labels only) and osfleet's Events, with one change callback.
// Read-only: it never writes.
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { GROUP, VERSION } from '../api/meta.js';
import type { FleetSource, OS, OSConfig, OSNode } from '../api/resources.js';
import { KubeClient } from '../controller/kube/client.js';
import { WatchCache, stripManagedFields, type CachedObject } from '../controller/kube/watch-cache.js';
import type { EventObj } from './fleet-view.js';
import type { NodeLabels } from './fleet-timeline.js';

export type FleetKind = 'sources' | 'oses' | 'configs' | 'osnodes' | 'nodes' | 'events';

const osfleet = (plural: string) => `/apis/${GROUP}/${VERSION}/${plural}`;

export class LiveFleet {
  private readonly client: KubeClient;
  readonly sources: WatchCache<FleetSource & CachedObject>;
  readonly oses: WatchCache<OS & CachedObject>;
  readonly configs: WatchCache<OSConfig & CachedObject>;
  readonly osnodes: WatchCache<OSNode & CachedObject>;
  readonly nodes: WatchCache<NodeLabels & CachedObject>;
  readonly events: WatchCache<EventObj & CachedObject>;
  private readonly all: Array<WatchCache<CachedObject>>;

  constructor(kc: KubeConfig, logger: Logger) {
    this.client = new KubeClient(kc, { maxSockets: 8 });
    const cache = <T extends CachedObject>(path: string, extra: { fieldSelector?: string; transform?: (raw: unknown) => T } = {}) =>
      new WatchCache<T>({ kubeConfig: kc, client: this.client, path, logger, ...extra });
    this.sources = cache(osfleet('fleetsources'));
    this.oses = cache(osfleet('oses'));
    this.configs = cache(osfleet('osconfigs'));
    this.osnodes = cache(osfleet('osnodes'));
    // Only names and labels: a Node object is mostly status the dashboard never shows.
    this.nodes = cache('/api/v1/nodes', {
      transform: (raw) => {
        const m = (raw as { metadata: { name: string; namespace?: string; resourceVersion?: string; labels?: Record<string, string> } }).metadata;
        return { metadata: { name: m.name, resourceVersion: m.resourceVersion, labels: m.labels ?? {} } } as NodeLabels & CachedObject;
      },
    });
    this.events = cache('/api/v1/events', { fieldSelector: `involvedObject.apiVersion=${GROUP}/${VERSION}`, transform: (raw) => stripManagedFields(raw) });
    this.all = [this.sources, this.oses, this.configs, this.osnodes, this.nodes, this.events] as unknown as Array<WatchCache<CachedObject>>;
  }

  /** Called on every add, update or delete of any watched object, with the object before the change. */
  onChange(handler: (kind: FleetKind, obj: CachedObject, old: CachedObject | undefined) => void): void {
    this.sources.onChange((_t, o, old) => handler('sources', o, old));
    this.oses.onChange((_t, o, old) => handler('oses', o, old));
    this.configs.onChange((_t, o, old) => handler('configs', o, old));
    this.osnodes.onChange((_t, o, old) => handler('osnodes', o, old));
    this.nodes.onChange((_t, o, old) => handler('nodes', o, old));
    this.events.onChange((_t, o, old) => handler('events', o, old));
  }

  /** Resolves when every cache has its first list. */
  async start(): Promise<void> {
    await Promise.all(this.all.map((c) => c.start()));
  }

  stop(): void {
    for (const c of this.all) c.stop();
    this.client.close();
  }
}
