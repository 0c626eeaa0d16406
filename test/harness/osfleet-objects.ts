// osfleet objects in the test cluster: the FleetSource a test points at its repository on the git
// harness (branch main, a long poll interval: tests trigger fetches with webhooks), and reads.
import { CustomObjectsApi, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';

/** An osfleet.dev object with the fields tests read loosely. */
export type OsfleetObject = KubernetesObject & { spec?: any; status?: any };

/** The cluster-scoped osfleet object `plural/name`, or undefined when there is none. */
export async function getOsfleetObject(kc: KubeConfig, plural: string, name: string): Promise<OsfleetObject | undefined> {
  try {
    return (await kc.makeApiClient(CustomObjectsApi).getClusterCustomObject({ group: 'osfleet.dev', version: 'v1alpha1', plural, name })) as OsfleetObject;
  } catch (err) {
    if ((err as { code?: number }).code === 404) return undefined;
    throw err;
  }
}

export interface FleetSourceFor {
  url: string;
  /** Secret with the git credentials, in the controller's namespace. */
  secret: string;
  /** Secret whose key `token` is the webhook secret. */
  webhookSecret: string;
  /** More spec fields (suspend, force, interval, path…), applied over the defaults. */
  spec?: Record<string, unknown>;
}

export async function createFleetSource(kc: KubeConfig, name: string, f: FleetSourceFor): Promise<void> {
  await kc.makeApiClient(CustomObjectsApi).createClusterCustomObject({
    group: 'osfleet.dev',
    version: 'v1alpha1',
    plural: 'fleetsources',
    body: {
      apiVersion: 'osfleet.dev/v1alpha1',
      kind: 'FleetSource',
      metadata: { name },
      spec: { url: f.url, ref: { branch: 'main' }, interval: '1h', secretRef: { name: f.secret }, webhookSecretRef: { name: f.webhookSecret }, ...f.spec },
    },
  });
}
