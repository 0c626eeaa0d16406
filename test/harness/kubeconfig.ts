// Self-contained kubeconfig files (certificates embedded as data) for the test
// cluster's identities, usable by @kubernetes/client-node and kubectl alike.
import { readFile, writeFile } from 'node:fs/promises';
import { KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';

export type Credentials = { certFile: string; keyFile: string } | { token: string };

const b64 = async (file: string) => (await readFile(file)).toString('base64');

export async function writeKubeconfig(
  path: string,
  opts: { server: string; caFile: string; user: string; credentials: Credentials },
): Promise<void> {
  const user =
    'token' in opts.credentials
      ? { token: opts.credentials.token }
      : {
          'client-certificate-data': await b64(opts.credentials.certFile),
          'client-key-data': await b64(opts.credentials.keyFile),
        };
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'testbed', cluster: { server: opts.server, 'certificate-authority-data': await b64(opts.caFile) } }],
    users: [{ name: opts.user, user }],
    contexts: [{ name: opts.user, context: { cluster: 'testbed', user: opts.user } }],
    'current-context': opts.user,
  };
  await writeFile(path, stringify(doc), { mode: 0o600 });
}

export function loadKubeconfig(path: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(path);
  return kc;
}
