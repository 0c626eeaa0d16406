// What needs a newer Node than the CLI's user commands: everything that talks to Kubernetes (controller,
// agent, status, dashboard, plan --kubeconfig) loads
// @kubernetes/client-node, which needs Node 22.19 (the `engines` of undici, its HTTP client; on
// Node 20 it fails as it loads). On an older Node (package.json
// `engines` admits 20.20.2 for validate/render/diff/plan --fleet) those say so instead of crashing.

/** The oldest Node the Kubernetes client library runs on; cli/node-version.test.ts keeps it equal to undici's `engines`. */
export const KUBE_CLIENT_MIN_NODE = '22.19.0';

/** Whether `version` (e.g. process.versions.node) is older than `min`. */
export function olderThan(version: string, min: string): boolean {
  const a = version.split('.').map(Number);
  const b = min.split('.').map(Number);
  for (let i = 0; i < 3; i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) < (b[i] ?? 0);
  return false;
}

/** The message for `what` on a Node too old for the Kubernetes client, or undefined when this Node will do. */
export function kubeClientNodeProblem(what: string, version = process.versions.node): string | undefined {
  if (!olderThan(version, KUBE_CLIENT_MIN_NODE)) return undefined;
  return `osfleet: ${what} needs Node.js ${KUBE_CLIENT_MIN_NODE} or newer (the Kubernetes client requires it; osfleet is tested on Node 24), and this is v${version}\n`;
}
