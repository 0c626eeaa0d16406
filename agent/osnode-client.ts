// The agent's only Kubernetes door: watch its own OSNode and patch that object's status. Nothing else.
import { CustomObjectsApi, KubeConfig, PatchStrategy, Watch, setHeaderOptions } from '../api/client-node.js';
import { GROUP, VERSION } from '../api/meta.js';
import type { OSNode, OSNodeStatus } from '../api/resources.js';

const PLURAL = 'osnodes';

export interface OSNodeClient {
  /** The node's OSNode, or undefined when the controller has not created it yet. */
  get(): Promise<OSNode | undefined>;
  /** Merge-patches status: the fields given change, the others stay (progress updates). */
  patchStatus(status: OSNodeStatus): Promise<OSNode>;
  /**
   * Replaces the whole status: fields not given are removed (a finished download, a rewritten slot).
   * With `uid`, only if the object still has that uid: a status meant for a deleted OSNode never lands
   * on a recreated one of the same name (the patch fails with 422 instead).
   */
  replaceStatus(status: OSNodeStatus, uid?: string): Promise<OSNode>;
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
    async replaceStatus(status, uid) {
      // JSON patch `add` on /status sets it whether or not it exists, without a resourceVersion
      // precondition: the agent is the only writer of its OSNode's status. The `test` on the uid makes
      // the whole patch fail when the object was deleted and recreated since the agent read it.
      const ops: object[] = [];
      if (uid !== undefined) ops.push({ op: 'test', path: '/metadata/uid', value: uid });
      ops.push({ op: 'add', path: '/status', value: status });
      return (await api.patchClusterCustomObjectStatus(
        { group: GROUP, version: VERSION, plural: PLURAL, name: nodeName, body: ops },
        setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
      )) as OSNode;
    },
    watch(onChange, onError) {
      let stopped = false;
      let abort: AbortController | undefined;
      let timer: NodeJS.Timeout | undefined;
      let failures = 0;
      const watcher = new Watch(kc);

      const schedule = () => {
        if (stopped || timer) return;
        const delay = Math.min(30_000, 500 * 2 ** Math.min(failures, 6));
        timer = setTimeout(() => {
          timer = undefined;
          void connect();
        }, delay);
      };

      // A watch resumes from the last resourceVersion it saw when the client library ends it for
      // 30 s of silence (an OSNode is quiet most of the time: that is not a failure, and relisting
      // every node's OSNode twice a minute would load the API server); anything else relists.
      const watchFrom = async (resourceVersion: string): Promise<void> => {
        let last = resourceVersion;
        const controller = await watcher.watch(
          path,
          { fieldSelector: `metadata.name=${nodeName}`, resourceVersion, allowWatchBookmarks: true },
          (phase, obj) => {
            const rv = (obj as OSNode | undefined)?.metadata?.resourceVersion;
            if (phase !== 'ERROR' && rv) last = rv;
            if (phase === 'ADDED' || phase === 'MODIFIED') {
              failures = 0;
              onChange(obj as OSNode);
            } else if (phase === 'DELETED') {
              failures = 0;
              onChange(undefined);
            }
          },
          (err) => {
            if (stopped) return;
            if ((err as { name?: unknown } | null)?.name === 'TimeoutError') {
              watchFrom(last).catch(failed);
              return;
            }
            if (err) failed(err);
            else schedule();
          },
        );
        // stop() may have run while the watch was connecting: do not leave it open.
        if (stopped) controller.abort();
        else abort = controller;
      };

      const failed = (err: unknown): void => {
        failures++;
        onError(err instanceof Error ? err : new Error(String(err)));
        schedule();
      };

      const connect = async () => {
        if (stopped) return;
        try {
          const { node, resourceVersion } = await list();
          if (stopped) return;
          onChange(node);
          await watchFrom(resourceVersion);
        } catch (err) {
          failed(err);
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
