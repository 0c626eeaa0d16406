// The agent's only Kubernetes door: watch its own OSNode and patch that object's status. Nothing else.
import { CustomObjectsApi, KubeConfig, PatchStrategy, Watch, setHeaderOptions } from '@kubernetes/client-node';
import { GROUP, VERSION } from '../api/meta.js';
import type { OSNode, OSNodeStatus } from '../api/resources.js';

const PLURAL = 'osnodes';

export interface OSNodeClient {
  /** The node's OSNode, or undefined when the controller has not created it yet. */
  get(): Promise<OSNode | undefined>;
  /** Merge-patches status (only the fields given). */
  patchStatus(status: OSNodeStatus): Promise<OSNode>;
  /**
   * Calls onChange with the current object now and on every change, reconnecting the watch with a
   * capped back-off. Returns a stop function.
   */
  watch(onChange: (node: OSNode | undefined) => void, onError: (err: Error) => void): () => void;
}

export function createOSNodeClient(kc: KubeConfig, nodeName: string): OSNodeClient {
  const api = kc.makeApiClient(CustomObjectsApi);
  const path = `/apis/${GROUP}/${VERSION}/${PLURAL}`;

  async function list(): Promise<{ node: OSNode | undefined; resourceVersion: string }> {
    const res = (await api.listClusterCustomObject({
      group: GROUP, version: VERSION, plural: PLURAL, fieldSelector: `metadata.name=${nodeName}`,
    })) as { items: OSNode[]; metadata: { resourceVersion: string } };
    return { node: res.items[0], resourceVersion: res.metadata.resourceVersion };
  }

  return {
    async get() {
      return (await list()).node;
    },
    async patchStatus(status) {
      return (await api.patchClusterCustomObjectStatus(
        { group: GROUP, version: VERSION, plural: PLURAL, name: nodeName, body: { status } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      )) as OSNode;
    },
    watch(onChange, onError) {
      let stopped = false;
      let abort: AbortController | undefined;
      let timer: NodeJS.Timeout | undefined;
      let failures = 0;
      const watcher = new Watch(kc);

      const schedule = () => {
        if (stopped) return;
        const delay = Math.min(30_000, 500 * 2 ** Math.min(failures, 6));
        timer = setTimeout(() => void connect(), delay);
      };

      const connect = async () => {
        if (stopped) return;
        try {
          const { node, resourceVersion } = await list();
          onChange(node);
          abort = await watcher.watch(
            path,
            { fieldSelector: `metadata.name=${nodeName}`, resourceVersion, allowWatchBookmarks: true },
            (phase, obj) => {
              failures = 0;
              if (phase === 'ADDED' || phase === 'MODIFIED') onChange(obj as OSNode);
              else if (phase === 'DELETED') onChange(undefined);
            },
            (err) => {
              if (stopped) return;
              if (err) {
                failures++;
                onError(err instanceof Error ? err : new Error(String(err)));
              }
              schedule();
            },
          );
        } catch (err) {
          failures++;
          onError(err instanceof Error ? err : new Error(String(err)));
          schedule();
        }
      };

      void connect();
      return () => {
        stopped = true;
        if (timer) clearTimeout(timer);
        abort?.abort();
      };
    },
  };
}
