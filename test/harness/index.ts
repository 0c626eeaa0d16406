// What integration tests import: the run's shared cluster and git server
// (started once by global-setup.ts) and the helpers that act on them.
//
//   import { testbed } from '../harness/index.js';
//   const tb = testbed();
//   await tb.createNode(tb.uniqueName('node'), { pool: 'a' });
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CoreV1Api, type KubeConfig, type V1Node, type V1Pod } from '@kubernetes/client-node';
import { inject } from 'vitest';
import type { ClusterInfo } from './cluster.js';
import { createRepo, type GitServerInfo, type WorkClone } from './git-server.js';
import type { TestbedInfo } from './global-setup.js';
import { mintUser, serviceAccountTokenForPod, tokenIdentity, type Identity } from './identities.js';
import { loadKubeconfig } from './kubeconfig.js';
import { createNode, createPodOnNode, type PodOnNode } from './nodes.js';

export { apiMessage, apiStatus, installCrds } from './cluster.js';
export { createRepo, git, hubSignature256, repoUrl, sendWebhook, GitServer, WorkClone } from './git-server.js';
export { mintUser, serviceAccountTokenForPod, tokenIdentity } from './identities.js';
export { installDeploy, OSFLEET_NS, podIdentity, standInAgentDaemonSet, waitAgentPolicyActive, WORKLOAD_KINDS, type Install, type PodIdentity } from './install.js';
export { allowSecretFor, createFleetSource, getOsfleetObject, type FleetSourceFor, type OsfleetObject } from './osfleet-objects.js';
export { createNode, createPodOnNode, deletePodNow, setNodeReady, setPodReady } from './nodes.js';
export { pidAlive, rssKiB, until } from './processes.js';
export { kubeRequest } from './raw-api.js';
export type { ClusterInfo, GitServerInfo, Identity, PodOnNode, TestbedInfo };

const execFileP = promisify(execFile);

export interface Testbed {
  info: TestbedInfo;
  cluster: ClusterInfo;
  /** Admin client configuration (system:masters). */
  kc: KubeConfig;
  git: GitServerInfo;
  /** A DNS-1123 name unique to this run: `<prefix>-<random>`. */
  uniqueName(prefix: string): string;
  /**
   * Runs the pinned kubectl as admin (or with `kubeconfig`) and returns its
   * stdout; rejects on a non-zero exit with kubectl's stderr unless allowFailure.
   */
  kubectl(args: string[], opts?: { kubeconfig?: string; input?: string; allowFailure?: boolean }): Promise<string>;
  mintUser(name: string, groups?: readonly string[]): Promise<Identity>;
  serviceAccountTokenForPod(ns: string, sa: string, pod: string): Promise<string>;
  tokenIdentity(user: string, token: string): Promise<Identity>;
  createNode(name: string, labels?: Record<string, string>): Promise<V1Node>;
  createPodOnNode(spec: PodOnNode): Promise<V1Pod>;
  createNamespace(prefix: string): Promise<string>;
  createRepo(name: string): Promise<WorkClone>;
}

let cached: Testbed | undefined;

export function testbed(): Testbed {
  if (cached) return cached;
  const info = inject('osfleetTestbed');
  if (!info) {
    throw new Error('no test bed: run this file in the vitest `integration` project (globalSetup test/harness/global-setup.ts)');
  }
  const kc = loadKubeconfig(info.cluster.kubeconfig);
  cached = {
    info,
    cluster: info.cluster,
    kc,
    git: info.git,
    uniqueName: (prefix) => `${prefix}-${randomBytes(4).toString('hex')}`,
    kubectl: async (args, opts = {}) => {
      const child = execFileP(
        join(info.cluster.binDir, 'kubectl'),
        ['--kubeconfig', opts.kubeconfig ?? info.cluster.kubeconfig, ...args],
        { maxBuffer: 64 << 20 },
      );
      if (opts.input !== undefined) child.child.stdin?.end(opts.input);
      try {
        return (await child).stdout;
      } catch (err) {
        const e = err as Error & { stderr?: string; stdout?: string };
        if (opts.allowFailure && typeof e.stdout === 'string') return e.stdout;
        throw new Error(`kubectl ${args.join(' ')}: ${e.stderr?.trim() || e.message}`);
      }
    },
    mintUser: (name, groups) => mintUser(info.cluster, name, groups),
    serviceAccountTokenForPod: (ns, sa, pod) => serviceAccountTokenForPod(kc, ns, sa, pod),
    tokenIdentity: (user, token) => tokenIdentity(info.cluster, user, token),
    createNode: (name, labels) => createNode(kc, name, labels),
    createPodOnNode: (spec) => createPodOnNode(kc, spec),
    createNamespace: async (prefix) => {
      const name = cached!.uniqueName(prefix);
      await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name } } });
      return name;
    },
    createRepo: (name) => createRepo(info.git, name),
  };
  return cached;
}
