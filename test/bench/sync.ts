// Figures for git → cluster sync on the real test bed: webhook-to-applied latency over 20
// pushes, the cost of an unchanged poll (HTTP round trips at the git server, API writes), and
// the controller's RSS after syncing a 1,000-document repository.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { ensureK8sBinaries, repoRoot } from '../harness/binaries.js';
import { Cluster } from '../harness/cluster.js';
import { hubSignature256 } from '../harness/git-server.js';
import { loadKubeconfig } from '../harness/kubeconfig.js';
import { allowSecretFor } from '../harness/osfleet-objects.js';
import { buildDistSync } from '../harness/build.js';
import { imageNodeFlags, workloadEnv } from '../harness/dockerfile.js';
import { GiveUp, rssKiB, until } from '../harness/processes.js';
import { startControllerProcess, type ControllerProcess } from '../../controller/testing/controller-process.js';
import { startGitServer, WorkRepo } from '../../controller/testing/git-http-server.js';

interface Figure {
  name: string;
  value: number;
  unit: string;
}

const G = { group: 'osfleet.dev', version: 'v1alpha1' };
const HOOK = 'bench-hook-secret-0123456789abcdef';

const settings = (name: string, value: number, shard?: number) => `apiVersion: osfleet.dev/v1alpha1
kind: NodeSettings
metadata:
  name: ${name}
spec:
  nodeSelector: ${shard === undefined ? '{}' : `{matchLabels: {bench.osfleet.dev/shard: "s${shard}"}}`}
  priority: ${shard === undefined ? 0 : 10}
  sysctl:
    net.core.somaxconn: "${value}"
`;

function percentile(sorted: number[], p: number): number {
  const i = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, i)]!;
}

export async function run(): Promise<Figure[]> {
  const binDir = await ensureK8sBinaries();
  const cluster = await Cluster.start({ binDir, crdDir: path.join(repoRoot, 'crds') });
  const git = await startGitServer();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'osfleet-bench-sync-'));
  const work: WorkRepo[] = [];
  let ctl: ControllerProcess | undefined;
  try {
    const kc = loadKubeconfig(cluster.info.kubeconfig);
    const custom = kc.makeApiClient(CustomObjectsApi);
    const core = kc.makeApiClient(CoreV1Api);
    const ns = 'osfleet-bench';
    await core.createNamespace({ body: { metadata: { name: ns } } });
    await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'hook' }, stringData: { token: HOOK } } });

    const createSource = async (name: string, repoName: string): Promise<WorkRepo> => {
      const url = git.createRepo(`${repoName}.git`);
      const w = new WorkRepo(path.join(git.root, `${repoName}.git`));
      work.push(w);
      await allowSecretFor(kc, ns, 'hook', name);
      await custom.createClusterCustomObject({
        ...G,
        plural: 'fleetsources',
        body: { apiVersion: `${G.group}/${G.version}`, kind: 'FleetSource', metadata: { name }, spec: { url, interval: '1h', webhookSecretRef: { name: 'hook' } } },
      });
      return w;
    };
    const applied = async (name: string, commit: string, timeoutMs = 60_000): Promise<void> => {
      await until(
        `${name} applied ${commit.slice(0, 8)}`,
        async () => {
          const f = (await custom.getClusterCustomObject({ ...G, plural: 'fleetsources', name })) as {
            status?: { lastAppliedRevision?: string; lastAttemptedRevision?: string; conditions?: Array<{ type: string; reason: string; message: string }> };
          };
          const ready = f.status?.conditions?.find((c) => c.type === 'Ready');
          if (f.status?.lastAttemptedRevision === `main@sha1:${commit}` && ready?.reason === 'ValidationFailed') {
            throw new GiveUp(`${name}: the bench repository is invalid: ${ready.message}`);
          }
          return f.status?.lastAppliedRevision === `main@sha1:${commit}` ? true : undefined;
        },
        { timeoutMs, intervalMs: 5 },
      );
    };
    const hook = async (name: string, body: string): Promise<void> => {
      const r = await fetch(ctl!.webhookUrl(name), {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-hub-signature-256': hubSignature256(body, HOOK) },
        body,
      });
      if (r.status !== 202) throw new Error(`webhook answered ${r.status}: ${await r.text()}`);
    };

    // Small repository: latency over 20 pushes.
    const small = await createSource('bench-small', 'small');
    small.write('base.yaml', settings('bench-base', 1000)).write('other.yaml', settings('bench-other', 700, 0));
    const first = small.commitAndPush('initial');
    // The compiled controller, as it runs in production (tsx alone adds tens of MiB of RSS).
    // Built as `npm run build` builds it (tsc, then the client-node bundle).
    buildDistSync();
    // Node started as the image starts it: the ENTRYPOINT's Node options and the Deployment's env.
    ctl = await startControllerProcess({
      kubeconfig: cluster.info.kubeconfig,
      namespace: ns,
      cacheDir: path.join(tmp, 'cache'),
      identity: 'bench',
      logDir: tmp,
      logLevel: 'info',
      compiled: true,
      nodeOptions: imageNodeFlags('controller'),
      env: workloadEnv('controller'),
    });
    await applied('bench-small', first);
    const latencies: number[] = [];
    for (let i = 1; i <= 20; i++) {
      const commit = small.write('base.yaml', settings('bench-base', 1000 + i)).commitAndPush(`push ${i}`);
      const t0 = performance.now();
      await hook('bench-small', JSON.stringify({ after: commit }));
      await applied('bench-small', commit);
      latencies.push(performance.now() - t0);
    }
    latencies.sort((a, b) => a - b);

    // Unchanged poll: wake the reconciler with a webhook but push nothing.
    await new Promise((r) => setTimeout(r, 500));
    const fetchesBefore = await ctl.metric('osfleet_git_fetch_duration_seconds_count', { fleetsource: 'bench-small' });
    const writesBefore = await ctl.metric('osfleet_api_writes_total');
    const requestsBefore = git.requests.length;
    await hook('bench-small', JSON.stringify({ poll: Date.now() }));
    await until('unchanged poll done', async () =>
      (await ctl!.metric('osfleet_git_fetch_duration_seconds_count', { fleetsource: 'bench-small' })) > fetchesBefore ? true : undefined,
    );
    await new Promise((r) => setTimeout(r, 500));
    const pollRequests = git.requests.length - requestsBefore;
    const pollWrites = (await ctl.metric('osfleet_api_writes_total')) - writesBefore;

    // 1,000 documents.
    const big = await createSource('bench-big', 'big');
    for (let i = 0; i < 1000; i++) big.write(`docs/s${i}.yaml`, settings(`bench-big-${i}`, 1000 + i, i));
    const bigCommit = big.commitAndPush('1000 documents');
    await hook('bench-big', JSON.stringify({ after: bigCommit }));
    await applied('bench-big', bigCommit, 180_000);
    await new Promise((r) => setTimeout(r, 1000));
    const rss = (rssKiB(ctl.pid) ?? NaN) / 1024;

    return [
      { name: 'sync.webhook_to_applied_p50_ms', value: Math.round(percentile(latencies, 50)), unit: 'ms' },
      { name: 'sync.webhook_to_applied_p99_ms', value: Math.round(percentile(latencies, 99)), unit: 'ms' },
      { name: 'sync.unchanged_poll_http_round_trips', value: pollRequests, unit: 'requests' },
      { name: 'sync.unchanged_poll_api_writes', value: pollWrites, unit: 'writes' },
      { name: 'sync.controller_rss_mb', value: Math.round(rss * 10) / 10, unit: 'MiB' },
    ];
  } catch (err) {
    if (ctl) process.stderr.write(`controller log tail:\n${ctl.logTail(20)}\n`);
    throw err;
  } finally {
    await ctl?.stop().catch(() => undefined);
    for (const w of work) w.cleanup();
    await git.close();
    await cluster.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
