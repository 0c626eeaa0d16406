// Creates the FleetSource a test points at its repository on the git harness: branch main, a long
// poll interval (tests trigger fetches with webhooks), the named credentials and webhook Secrets.
import { CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';

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
