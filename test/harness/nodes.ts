// Nodes and pods without kubelets: objects created through the API, bound to
// nodes and marked Ready by writing their status as a kubelet would.
import { CoreV1Api, type KubeConfig, type V1Node, type V1OwnerReference, type V1Pod } from '@kubernetes/client-node';
import { apiStatus } from './cluster.js';

export async function createNode(admin: KubeConfig, name: string, labels: Record<string, string> = {}): Promise<V1Node> {
  const core = admin.makeApiClient(CoreV1Api);
  const node = await core.createNode({ body: { metadata: { name, labels } } });
  return setNodeReady(admin, node, true);
}

/** Writes the Ready condition (and a minimal node status) as the node's kubelet would. */
export async function setNodeReady(admin: KubeConfig, node: V1Node | string, ready: boolean): Promise<V1Node> {
  const core = admin.makeApiClient(CoreV1Api);
  const current = typeof node === 'string' ? await core.readNode({ name: node }) : node;
  const now = new Date();
  const others = (current.status?.conditions ?? []).filter((c) => c.type !== 'Ready');
  current.status = {
    ...current.status,
    conditions: [
      ...others,
      {
        type: 'Ready',
        status: ready ? 'True' : 'False',
        reason: ready ? 'KubeletReady' : 'KubeletNotReady',
        message: 'set by the osfleet test bed',
        lastHeartbeatTime: now,
        lastTransitionTime: now,
      },
    ],
    addresses: [{ type: 'InternalIP', address: '127.0.0.1' }],
  };
  return core.replaceNodeStatus({ name: current.metadata!.name!, body: current });
}

export interface PodOnNode {
  namespace: string;
  name: string;
  node: string;
  labels?: Record<string, string>;
  serviceAccountName?: string;
  ownerReferences?: V1OwnerReference[];
  /** Mark the pod Running and Ready (default true). */
  ready?: boolean;
}

/**
 * Creates a pod bound to `node` (spec.nodeName, so no scheduler is involved)
 * and, unless ready is false, reports it Running and Ready. Creates the
 * namespace's `default` ServiceAccount if the controller manager has not yet,
 * since the ServiceAccount admission plugin refuses pods until it exists.
 */
export async function createPodOnNode(admin: KubeConfig, spec: PodOnNode): Promise<V1Pod> {
  const core = admin.makeApiClient(CoreV1Api);
  const sa = spec.serviceAccountName ?? 'default';
  try {
    await core.createNamespacedServiceAccount({ namespace: spec.namespace, body: { metadata: { name: sa } } });
  } catch (err) {
    if (apiStatus(err) !== 409) throw err;
  }
  const pod = await core.createNamespacedPod({
    namespace: spec.namespace,
    body: {
      metadata: { name: spec.name, labels: spec.labels, ownerReferences: spec.ownerReferences },
      spec: {
        nodeName: spec.node,
        serviceAccountName: sa,
        automountServiceAccountToken: false,
        containers: [{ name: 'main', image: 'registry.invalid/osfleet/testbed-placeholder:0' }],
      },
    },
  });
  if (spec.ready === false) return pod;
  return setPodReady(admin, pod, true);
}

/** Writes phase Running and the Ready conditions into a pod's status, as its kubelet would. */
export async function setPodReady(admin: KubeConfig, pod: V1Pod, ready: boolean): Promise<V1Pod> {
  const core = admin.makeApiClient(CoreV1Api);
  const now = new Date();
  const status = ready ? 'True' : 'False';
  pod.status = {
    ...pod.status,
    phase: 'Running',
    hostIP: '127.0.0.1',
    podIP: '127.0.0.1',
    startTime: pod.status?.startTime ?? now,
    conditions: ['PodScheduled', 'Initialized', 'ContainersReady', 'Ready'].map((type) => ({
      type,
      status: type === 'PodScheduled' || type === 'Initialized' ? 'True' : status,
      lastTransitionTime: now,
    })),
  };
  return core.replaceNamespacedPodStatus({ namespace: pod.metadata!.namespace!, name: pod.metadata!.name!, body: pod });
}

/** Deletes a pod at once: there is no kubelet to finish a graceful deletion. */
export async function deletePodNow(admin: KubeConfig, namespace: string, name: string): Promise<void> {
  const core = admin.makeApiClient(CoreV1Api);
  try {
    await core.deleteNamespacedPod({ namespace, name, gracePeriodSeconds: 0 });
  } catch (err) {
    if (apiStatus(err) !== 404) throw err;
  }
}
