// Locates the Kubernetes binaries for the test bed, building them with
// hack/build-k8s.sh (the one entry point for that) when they are missing.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const required = ['kube-apiserver', 'kube-controller-manager', 'etcd', 'kubectl'];

/** The Kubernetes version pinned in hack/k8s-bin/go.mod, e.g. v1.34.4. */
export function pinnedKubeVersion(): string {
  const gomod = readFileSync(join(repoRoot, 'hack/k8s-bin/go.mod'), 'utf8');
  const m = /^\s*k8s\.io\/kubernetes\s+(v\d+\.\d+\.\d+)\b/m.exec(gomod);
  if (!m) throw new Error('cannot find the k8s.io/kubernetes version in hack/k8s-bin/go.mod');
  return m[1]!;
}

function complete(dir: string, needStamp: boolean): boolean {
  return (!needStamp || stampMatchesGoSum(dir)) && required.every((b) => existsSync(join(dir, b)));
}

// A cheap freshness check (the script itself also hashes the binaries): the
// stamp must name the current go.sum, else the pins changed since the build.
function stampMatchesGoSum(dir: string): boolean {
  const stamp = join(dir, '.stamp');
  if (!existsSync(stamp)) return false;
  const sum = createHash('sha256').update(readFileSync(join(repoRoot, 'hack/k8s-bin/go.sum'))).digest('hex');
  return readFileSync(stamp, 'utf8').split('\n').includes(`go.sum ${sum}`);
}

/**
 * The directory holding the four binaries. OSFLEET_K8S_BIN points at a ready
 * directory and skips the build; otherwise the cache
 * (OSFLEET_K8S_CACHE, default ~/.cache/osfleet/k8s) is used and filled by
 * hack/build-k8s.sh when incomplete. Throws with the script's own message
 * (e.g. how to install Go) when it cannot build.
 */
export async function ensureK8sBinaries(): Promise<string> {
  const explicit = process.env.OSFLEET_K8S_BIN;
  if (explicit) {
    if (!complete(explicit, false)) {
      throw new Error(`OSFLEET_K8S_BIN=${explicit} does not hold all of ${required.join(', ')}`);
    }
    return explicit;
  }
  const cache = process.env.OSFLEET_K8S_CACHE ?? join(homedir(), '.cache/osfleet/k8s');
  const dir = join(cache, pinnedKubeVersion());
  if (complete(dir, true)) return dir;
  return runBuildScript();
}

function runBuildScript(): Promise<string> {
  return new Promise((resolve, reject) => {
    process.stderr.write('osfleet test bed: Kubernetes binaries missing; running hack/build-k8s.sh\n');
    const child = spawn('bash', [join(repoRoot, 'hack/build-k8s.sh')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => {
      stderr += c;
      process.stderr.write(c);
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) {
        reject(new Error(`hack/build-k8s.sh failed (exit ${code}); the integration tests need its binaries:\n${stderr.trim()}`));
        return;
      }
      const dir = stdout.trim().split('\n').pop() ?? '';
      if (!complete(dir, false)) reject(new Error(`hack/build-k8s.sh reported ${dir}, which lacks binaries`));
      else resolve(dir);
    });
  });
}
