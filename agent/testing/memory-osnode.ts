// Test support: an OSNode client kept in memory, for running the agent's reconcile loop on a sandbox
// host without an apiserver (the integration tests run the same loop against the real one).
import type { OSNode, OSNodeStatus } from '../../api/resources.js';
import type { ImageRef } from '../image-writer.js';
import type { OSNodeClient } from '../osnode-client.js';

export type MemoryOSNodeClient = OSNodeClient & { statuses: OSNodeStatus[]; node: OSNode };

/** Every status write is kept in `statuses`, in order; `node` is the object as it is now. */
export function memoryClient(node: OSNode): MemoryOSNodeClient {
  const listeners = new Set<(n: OSNode | undefined) => void>();
  const c = {
    node,
    statuses: [] as OSNodeStatus[],
    get: async () => c.node,
    patchStatus: async (s: OSNodeStatus) => {
      c.node = { ...c.node, status: { ...c.node.status, ...s } };
      c.statuses.push(c.node.status!);
      return c.node;
    },
    replaceStatus: async (s: OSNodeStatus) => {
      c.node = { ...c.node, status: s };
      c.statuses.push(s);
      return c.node;
    },
    watch(onChange: (n: OSNode | undefined) => void) {
      listeners.add(onChange);
      queueMicrotask(() => onChange(c.node));
      return () => listeners.delete(onChange);
    },
  };
  return c;
}

/** Polls `f` every 20 ms until it returns something other than undefined or false. */
export async function until<T>(what: string, f: () => T | undefined | Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** OSNode `n1` as the controller writes it for an upgrade: target `image`, permit `t1` to stage and reboot. */
export function upgradeOSNode(image: ImageRef): OSNode {
  return {
    apiVersion: 'osfleet.dev/v1alpha1',
    kind: 'OSNode',
    metadata: { name: 'n1', uid: 'u1', generation: 1 },
    spec: {
      nodeName: 'n1',
      target: { osName: 'workers', version: image.version, image: { url: image.url, sha256: image.sha256, ...(image.size !== undefined ? { size: image.size } : {}) } },
      permit: { token: 't1', stage: true, applySettings: false, reboot: true },
    },
  };
}
