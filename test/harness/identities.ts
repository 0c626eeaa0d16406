// Identities in the test cluster: users with client certificates signed by the
// cluster CA, and service-account tokens bound to a Pod through TokenRequest.
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { ClusterInfo } from './cluster.js';
import { apiStatus } from './cluster.js';
import { issue } from './certs.js';
import { loadKubeconfig, writeKubeconfig } from './kubeconfig.js';

export interface Identity {
  /** Kubeconfig file for kubectl or another process. */
  kubeconfig: string;
  kc: KubeConfig;
}

/** A user authenticated by a client certificate (CN = name, O = groups); RBAC decides what it may do. */
export async function mintUser(info: ClusterInfo, name: string, groups: readonly string[] = []): Promise<Identity> {
  const dir = join(info.workDir, 'users', `${safe(name)}-${randomBytes(4).toString('hex')}`);
  await mkdir(dir, { recursive: true });
  const pair = await issue({ dir, cert: info.caCert, key: info.caKey }, dir, 'client', { cn: name, orgs: groups });
  const kubeconfig = join(dir, 'kubeconfig');
  await writeKubeconfig(kubeconfig, {
    server: info.server,
    caFile: info.caCert,
    user: name,
    credentials: { certFile: pair.cert, keyFile: pair.key },
  });
  return { kubeconfig, kc: loadKubeconfig(kubeconfig) };
}

/**
 * A token for ServiceAccount `ns/sa`, bound to Pod `ns/pod` (as the kubelet
 * would request it for a projected volume). Creates the ServiceAccount if it
 * is missing. The pod must exist; the token dies with it.
 */
export async function serviceAccountTokenForPod(
  admin: KubeConfig,
  ns: string,
  sa: string,
  pod: string,
  opts: { audiences?: string[]; expirationSeconds?: number } = {},
): Promise<string> {
  const core = admin.makeApiClient(CoreV1Api);
  try {
    await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: sa } } });
  } catch (err) {
    if (apiStatus(err) !== 409) throw err;
  }
  const p = await core.readNamespacedPod({ namespace: ns, name: pod });
  const res = await core.createNamespacedServiceAccountToken({
    namespace: ns,
    name: sa,
    body: {
      spec: {
        audiences: opts.audiences ?? [],
        expirationSeconds: opts.expirationSeconds ?? 3600,
        boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod, uid: p.metadata?.uid },
      },
    },
  });
  const token = res.status?.token;
  if (!token) throw new Error(`TokenRequest for ${ns}/${sa} returned no token`);
  return token;
}

/** A client identity that presents a bearer token (e.g. from serviceAccountTokenForPod). */
export async function tokenIdentity(info: ClusterInfo, user: string, token: string): Promise<Identity> {
  const dir = join(info.workDir, 'users', `${safe(user)}-${randomBytes(4).toString('hex')}`);
  await mkdir(dir, { recursive: true });
  const kubeconfig = join(dir, 'kubeconfig');
  await writeKubeconfig(kubeconfig, { server: info.server, caFile: info.caCert, user, credentials: { token } });
  return { kubeconfig, kc: loadKubeconfig(kubeconfig) };
}

function safe(name: string): string {
  return name.replace(/[^a-zA-Z0-9.-]/g, '_').slice(0, 60);
}
