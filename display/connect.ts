// The user's kubeconfig (--kubeconfig, else $KUBECONFIG / ~/.kube/config) and an optional clock
// file, the only inputs of the read-only views.
import { readFileSync } from 'node:fs';
import type { KubeConfig } from '@kubernetes/client-node';
import { PooledKubeConfig } from '../agent/kube-config.js';

/** A kubeconfig that cannot be used; the commands print its message and exit 1. */
export class KubeconfigError extends Error {}

export function loadUserKubeconfig(path: string | undefined): KubeConfig {
  const kc = new PooledKubeConfig();
  const where = path ?? (process.env.KUBECONFIG || '~/.kube/config');
  try {
    if (path) kc.loadFromFile(path);
    else kc.loadFromDefault();
  } catch (err) {
    throw new KubeconfigError(`kubeconfig ${where}: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!kc.getCurrentCluster()) throw new KubeconfigError(`kubeconfig ${where} has no current cluster: pass --kubeconfig PATH or set current-context`);
  return kc;
}

/** "now" from a file holding an ISO 8601 instant (a test controller's --clock-file, controller/testing/main-with-clock.ts), else the system clock. */
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
