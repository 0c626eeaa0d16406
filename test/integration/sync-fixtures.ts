// Repository documents the git-sync tests push: one OS version pin, one policy, node settings.
// Every name starts with the test's prefix, so tests sharing the cluster never collide.

export const versionDoc = (prefix: string, v: string) => `apiVersion: osfleet.dev/v1alpha1
kind: OSVersion
metadata:
  name: ${prefix}-v${v.replace('.', '-')}
spec:
  version: "${v}"
  image:
    url: https://images.example.com/os/${v}/root.img
    sha256: e4bbe57d6e56e2c8f3552478bdd17df1c11de1635ae5f729e486fee177e940f0
    size: 1000
`;

export const policyDoc = (prefix: string, v: string) => `apiVersion: osfleet.dev/v1alpha1
kind: RolloutPolicy
metadata:
  name: ${prefix}-workers
spec:
  nodeSelector:
    matchLabels:
      pool: ${prefix}
  osVersion: ${prefix}-v${v.replace('.', '-')}
  maintenanceWindows:
    - {schedule: "0 2 * * *", duration: 3h, timeZone: Europe/Berlin}
`;

export const settingsDoc = (prefix: string, name: string, somaxconn: string) => `apiVersion: osfleet.dev/v1alpha1
kind: NodeSettings
metadata:
  name: ${prefix}-${name}
spec:
  nodeSelector: {}
  priority: 0
  sysctl:
    net.core.somaxconn: "${somaxconn}"
`;

/**
 * A RolloutPolicy named `name` for the nodes labelled pool=<prefix>, on <prefix>-v2-0, with batches
 * [1, 50%, 100%], the given maxUnavailable and a failure budget of 1; `more` is appended to the spec
 * (indented two spaces), e.g. a soak or maintenance windows.
 */
export const rolloutPolicyDoc = (prefix: string, name: string, maxUnavailable: number, more = '') => `apiVersion: osfleet.dev/v1alpha1
kind: RolloutPolicy
metadata:
  name: ${name}
spec:
  nodeSelector:
    matchLabels:
      pool: ${prefix}
  osVersion: ${prefix}-v2-0
  strategy:
    batches: [1, "50%", "100%"]
    maxUnavailable: ${maxUnavailable}
    failureBudget: 1
${more}`;
