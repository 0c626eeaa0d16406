// Reads what the container images run, so tests and benchmarks start Node the way production does
// (one source: the Dockerfile's ENTRYPOINT, and the workload's env).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { fileURLToPath } from 'node:url';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

/** The exec-form ENTRYPOINT of deploy/images/<image>.Dockerfile's final stage, as argv. */
export function imageEntrypoint(image: 'controller' | 'agent'): string[] {
  const text = readFileSync(join(repoRoot, 'deploy/images', `${image}.Dockerfile`), 'utf8');
  const lines = text.split('\n').filter((l) => l.startsWith('ENTRYPOINT '));
  const last = lines[lines.length - 1];
  if (!last) throw new Error(`deploy/images/${image}.Dockerfile has no ENTRYPOINT`);
  return JSON.parse(last.slice('ENTRYPOINT '.length)) as string[];
}

/** The options the image passes to `node` before the script (e.g. --optimize-for-size). */
export function imageNodeFlags(image: 'controller' | 'agent'): string[] {
  const argv = imageEntrypoint(image);
  const script = argv.findIndex((a, i) => i > 0 && !a.startsWith('-'));
  // OSFLEET_BENCH_NODE_FLAGS: Node options to try on top of the image's (space-separated), for benchmarks.
  const extra = (process.env.OSFLEET_BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean);
  return [...argv.slice(1, script < 0 ? argv.length : script), ...extra];
}

/** Literal env values of the workload's first container (valueFrom entries are left out). */
export function workloadEnv(image: 'controller' | 'agent'): Record<string, string> {
  const file = image === 'controller' ? 'deploy/base/controller/deployment.yaml' : 'deploy/base/agent/daemonset.yaml';
  for (const doc of parseAllDocuments(readFileSync(join(repoRoot, file), 'utf8'))) {
    const o = doc.toJS() as { kind?: string; spec?: { template?: { spec?: { containers?: Array<{ env?: Array<{ name: string; value?: string }> }> } } } };
    const env = o?.spec?.template?.spec?.containers?.[0]?.env;
    if (o?.kind === (image === 'controller' ? 'Deployment' : 'DaemonSet') && env) {
      return Object.fromEntries(env.filter((e) => e.value !== undefined).map((e) => [e.name, e.value!]));
    }
  }
  return {};
}
