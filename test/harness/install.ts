// Installing osfleet's deploy/ on the test bed as an operator would (`kubectl apply -k deploy/`):
// namespace, CRDs, RBAC and admission policies for real; the workloads (controller Deployment,
// agent DaemonSet) only by server-side dry-run, since the test bed runs no kubelet or workload
// controllers. And the identities those workloads would run as: service-account tokens bound to a
// pod on a node, as the kubelet requests them for a projected volume.
import { join } from 'node:path';
import { AppsV1Api } from '@kubernetes/client-node';
import { parseAllDocuments, stringify } from 'yaml';
import { repoRoot } from './binaries.js';
import type { Identity } from './identities.js';
import type { Testbed } from './index.js';
import { kubeRequest } from './raw-api.js';
import { until } from './processes.js';

export const OSFLEET_NS = 'osfleet-system';
export const WORKLOAD_KINDS: ReadonlySet<string> = new Set(['Deployment', 'DaemonSet']);

type Obj = Record<string, any>;

export interface Install {
  /** Every object `kubectl kustomize deploy/` builds. */
  built: Obj[];
  /** kubectl's output of the server-side dry-run of the whole of deploy/. */
  dryRun: string;
}

/**
 * Applies deploy/ (server-side apply, field manager osfleet-install): everything but the workloads
 * for real, then the whole kustomization with --dry-run=server. Applying again is a no-op.
 */
export async function installDeploy(tb: Testbed): Promise<Install> {
  const yaml = await tb.kubectl(['kustomize', join(repoRoot, 'deploy')]);
  const built: Obj[] = [];
  for (const doc of parseAllDocuments(yaml)) {
    const obj = doc.toJS() as Obj | null;
    if (obj) built.push(obj);
  }
  const install = built.filter((o) => !WORKLOAD_KINDS.has(o.kind));
  await tb.kubectl(['apply', '--server-side', '--field-manager=osfleet-install', '--force-conflicts', '-f', '-'], {
    input: install.map((o) => stringify(o)).join('---\n'),
  });
  const dryRun = await tb.kubectl(['apply', '-k', join(repoRoot, 'deploy'), '--dry-run=server']);
  return { built, dryRun };
}

/**
 * Waits until the agent admission policy is enforced (the apiserver loads policies
 * asynchronously): a dry-run status write by `agent` to `otherOSNode`, an OSNode that is not its
 * own, must be refused by the policy.
 */
export async function waitAgentPolicyActive(agent: Identity, otherOSNode: string, timeoutMs = 30_000): Promise<void> {
  await until(
    'agent admission policy active',
    async () => {
      const r = await kubeRequest(
        agent.kc,
        'PATCH',
        `/apis/osfleet.dev/v1alpha1/osnodes/${otherOSNode}/status?dryRun=All`,
        { status: { phase: 'Idle', message: 'probe' } },
        'application/merge-patch+json',
      );
      return r.status === 403 && /osfleet agent/.test(r.body) ? true : undefined;
    },
    { timeoutMs, intervalMs: 200 },
  );
}

export interface PodIdentity extends Identity {
  pod: string;
  token: string;
}

/**
 * The identity a workload pod of ServiceAccount `sa` on `node` gets: a pod bound to the node (Ready),
 * and a token bound to that pod. `owner` makes the pod a DaemonSet's, which drains leave alone.
 */
export async function podIdentity(
  tb: Testbed,
  opts: { sa: string; node: string; namespace?: string; pod?: string; owner?: { apiVersion: string; kind: string; name: string; uid: string } },
): Promise<PodIdentity> {
  const namespace = opts.namespace ?? OSFLEET_NS;
  const pod = opts.pod ?? tb.uniqueName(opts.sa);
  await tb.createPodOnNode({
    namespace,
    name: pod,
    node: opts.node,
    serviceAccountName: opts.sa,
    ...(opts.owner ? { ownerReferences: [{ ...opts.owner, controller: true, blockOwnerDeletion: false }] } : {}),
  });
  const token = await tb.serviceAccountTokenForPod(namespace, opts.sa, pod);
  const id = await tb.tokenIdentity(opts.sa, token);
  return { ...id, pod, token };
}

/**
 * The agents' pods belong to a DaemonSet, so drains leave them be. The test bed runs no DaemonSet
 * controller: this stand-in DaemonSet object owns the pods a test binds to each node. Returns the
 * owner reference for podIdentity and a function that deletes the DaemonSet.
 */
export async function standInAgentDaemonSet(tb: Testbed, name: string): Promise<{ owner: { apiVersion: string; kind: string; name: string; uid: string }; remove: () => Promise<unknown> }> {
  const apps = tb.kc.makeApiClient(AppsV1Api);
  const ds = await apps.createNamespacedDaemonSet({
    namespace: OSFLEET_NS,
    body: {
      metadata: { name },
      spec: {
        selector: { matchLabels: { app: name } },
        template: {
          metadata: { labels: { app: name } },
          spec: { serviceAccountName: 'osfleet-agent', containers: [{ name: 'agent', image: 'registry.invalid/osfleet/agent:test' }] },
        },
      },
    },
  });
  return {
    owner: { apiVersion: 'apps/v1', kind: 'DaemonSet', name: ds.metadata!.name!, uid: ds.metadata!.uid! },
    remove: () => apps.deleteNamespacedDaemonSet({ namespace: OSFLEET_NS, name }),
  };
}
