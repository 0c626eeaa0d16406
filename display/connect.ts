// The user's kubeconfig (--kubeconfig, else $KUBECONFIG / ~/.kube/config) and an optional clock
// file, the only inputs of the read-only views.
import { readFileSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';

export function loadUserKubeconfig(path: string | undefined): KubeConfig {
  const kc = new KubeConfig();
  if (path) kc.loadFromFile(path);
  else kc.loadFromDefault();
  if (!kc.getCurrentCluster()) throw new Error('the kubeconfig has no current cluster: pass --kubeconfig PATH or set current-context');
  return kc;
}

/** "now" from a file holding an ISO 8601 instant (the controller's --clock-file), else the system clock. */
export function clockFrom(file: string | undefined): () => number {
  if (!file) return Date.now;
  const read = () => {
    const t = Date.parse(readFileSync(file, 'utf8').trim());
    if (Number.isNaN(t)) throw new Error(`clock file ${file} does not hold an ISO 8601 instant`);
    return t;
  };
  read();
  return read;
}
