// `npm run sandbox`: the real control plane from the cached build (kube-apiserver, etcd,
// kube-controller-manager), a git server holding examples/gitrepo, the controller, simulated
// agents on the nodes of examples/fleet.yaml, and the dashboard, all on loopback, from the test
// harness. Everything stops with stop().
import { mkdtempSync, readdirSync, rmSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { CoreV1Api } from '@kubernetes/client-node';
import { pino } from 'pino';
import { readFleetFile } from '../../cli/plan.js';
import { KubeClient } from '../../controller/kube/client.js';
import { startControllerProcess, type ControllerProcess } from '../../controller/testing/controller-process.js';
import { DashboardFeed } from '../../display/dashboard-feed.js';
import { startDashboardServer, type DashboardServer } from '../../display/dashboard-server.js';
import { LiveFleet } from '../../display/live-fleet.js';
import { ensureK8sBinaries, repoRoot } from '../harness/binaries.js';
import { Cluster } from '../harness/cluster.js';
import { createRepo, GitServer, type WorkClone } from '../harness/git-server.js';
import { loadKubeconfig } from '../harness/kubeconfig.js';
import { createFleetSource } from '../harness/osfleet-objects.js';
import { createNodes } from '../integration/rollout-fixtures.js';
import { SimAgents } from '../integration/rollout-sim.js';
import { startFastClock, type FastClock } from './fast-clock.js';

export interface SandboxOptions {
  /** Clock speed: 1 = real time, 600 = ten minutes a second. */
  speed: number;
  /** Where the clock starts (epoch ms). */
  start: number;
  /** Dashboard port on 127.0.0.1 (0 = any free one). */
  port: number;
  /** How long a simulated agent takes to answer a permit (real ms). */
  agentDelayMs: number;
}

export interface Sandbox {
  dashboardUrl: string;
  kubectl: string;
  kubeconfig: string;
  /** A clone of the example repository with push access: commit here and `git push`. */
  workDir: string;
  /** The repository's URL with credentials (for `git clone`). */
  cloneUrl: string;
  clock: FastClock;
  controller: ControllerProcess;
  stop(): Promise<void>;
}

const NAMESPACE = 'osfleet-system';
const FLEETSOURCE = 'example';
const quiet = pino({ level: process.env.OSFLEET_SANDBOX_LOG ?? 'warn' }, pino.destination(2));

export async function startSandbox(opts: SandboxOptions, say: (line: string) => void = () => undefined): Promise<Sandbox> {
  const stops: Array<() => Promise<unknown> | unknown> = [];
  const stop = async () => {
    for (const s of stops.reverse()) await Promise.resolve().then(s).catch(() => undefined);
  };
  try {
    say('control plane: kube-apiserver, etcd, kube-controller-manager (cached build) …');
    const binDir = await ensureK8sBinaries();
    const cluster = await Cluster.start({ binDir, crdDir: join(repoRoot, 'crds') });
    stops.push(() => cluster.stop());
    const kc = loadKubeconfig(cluster.info.kubeconfig);

    say('git server with examples/gitrepo …');
    const auth = { username: 'osfleet', password: randomBytes(9).toString('hex') };
    const git = await GitServer.start({ auth });
    stops.push(() => git.stop());
    const repo: WorkClone = await createRepo(git.info, 'fleet');
    stops.push(() => repo.remove());
    for (const entry of readdirSync(join(repoRoot, 'examples/gitrepo'))) cpSync(join(repoRoot, 'examples/gitrepo', entry), join(repo.dir, entry), { recursive: true });
    await repo.commitAndPush({}, 'the example fleet');

    say('nodes of examples/fleet.yaml, with simulated agents …');
    const fleet = await readFleetFile(join(repoRoot, 'examples/fleet.yaml'));
    const client = new KubeClient(kc);
    stops.push(() => client.close());
    for (const n of fleet) await createNodes(client, [n.name], n.labels);
    const versions = new Set(fleet.map((n) => n.osVersion));
    if (versions.size !== 1) throw new Error('examples/fleet.yaml: the simulated agents start every node at one version');
    const agents = new SimAgents(kc, { nodes: fleet.map((n) => n.name), initialVersion: [...versions][0]!, delayMs: opts.agentDelayMs });
    await agents.start();
    stops.push(() => agents.stop());

    const core = kc.makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: NAMESPACE } } });
    await core.createNamespacedSecret({ namespace: NAMESPACE, body: { metadata: { name: 'git-creds' }, stringData: auth } });
    await core.createNamespacedSecret({ namespace: NAMESPACE, body: { metadata: { name: 'webhook' }, stringData: { token: randomBytes(32).toString('hex') } } });
    await createFleetSource(kc, FLEETSOURCE, { url: repo.url, namespace: NAMESPACE, secret: 'git-creds', webhookSecret: 'webhook', spec: { interval: '10s' } });

    const scratch = mkdtempSync(join(tmpdir(), 'osfleet-sandbox-'));
    stops.push(() => rmSync(scratch, { recursive: true, force: true }));
    const clock = startFastClock(join(scratch, 'clock'), opts.start, opts.speed);
    stops.push(() => clock.stop());

    say('controller (rollout on, clock file) …');
    const controller = await startControllerProcess({
      kubeconfig: cluster.info.kubeconfig, namespace: NAMESPACE, cacheDir: scratch, identity: 'sandbox', logDir: scratch,
      rollout: 'on', clockFile: clock.file, logLevel: 'info',
    });
    stops.push(() => controller.stop());

    const live = new LiveFleet(kc, quiet);
    const feed = new DashboardFeed(live, { now: clock.now });
    const server: DashboardServer = await startDashboardServer(feed, { port: opts.port });
    stops.push(() => server.close());
    stops.push(() => feed.stop());
    await live.start();
    stops.push(() => live.stop());

    const clone = new URL(repo.url);
    clone.username = auth.username;
    clone.password = auth.password;
    return {
      dashboardUrl: server.url,
      kubectl: join(binDir, 'kubectl'),
      kubeconfig: cluster.info.kubeconfig,
      workDir: repo.dir,
      cloneUrl: clone.toString(),
      clock,
      controller,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
