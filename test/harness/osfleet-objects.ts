// osfleet objects in the test cluster: the FleetSource a test points at its repository on the git
// harness (branch main, a long poll interval: tests trigger fetches with webhooks), and reads.
import { CoreV1Api, CustomObjectsApi, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { ANNOTATION_SECRET_FLEETSOURCES } from '../../api/index.js';

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
  /** The controller's namespace, where both Secrets live. */
  namespace: string;
  /** Secret with the git credentials, in the controller's namespace. */
  secret: string;
  /** Secret whose key `token` is the webhook secret. */
  webhookSecret: string;
  /** More spec fields (suspend, force, interval, path…), applied over the defaults. */
  spec?: Record<string, unknown>;
}

/**
 * Adds `fleetSource` to the Secret's opt-in annotation (the controller uses a Secret only for the
 * FleetSources it names). Read-modify-write with the resourceVersion, retried on a conflict.
 */
export async function allowSecretFor(kc: KubeConfig, namespace: string, secret: string, fleetSource: string): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  for (let attempt = 0; ; attempt++) {
    const cur = await core.readNamespacedSecret({ name: secret, namespace });
    const annotations = { ...cur.metadata?.annotations };
    const names = new Set((annotations[ANNOTATION_SECRET_FLEETSOURCES] ?? '').split(',').filter((n) => n !== ''));
    if (names.has(fleetSource)) return;
    names.add(fleetSource);
    annotations[ANNOTATION_SECRET_FLEETSOURCES] = [...names].join(',');
    try {
      await core.replaceNamespacedSecret({ name: secret, namespace, body: { ...cur, metadata: { ...cur.metadata, annotations } } });
      return;
    } catch (err) {
      if ((err as { code?: number }).code !== 409 || attempt >= 10) throw err;
    }
  }
}

/** Creates the FleetSource after letting both its Secrets name it. */
export async function createFleetSource(kc: KubeConfig, name: string, f: FleetSourceFor): Promise<void> {
  for (const secret of [f.secret, f.webhookSecret]) await allowSecretFor(kc, f.namespace, secret, name);
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
