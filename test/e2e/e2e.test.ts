// The whole story on the real test bed, as a platform team would live it: deploy/ installed on a real
// apiserver (CRDs, RBAC, admission policies for real; workloads by server-side dry-run), the
// controller as a process with its deployed service-account identity, five nodes whose agents run as
// processes with their own identities on sandbox hosts (one on loop devices), an image server on
// loopback, a git repository on the smart-HTTP server, and an injected clock. Then:
//   1. push of a new OSVersion pin → waits for the window → batches → all nodes run the new version;
//   2. push of a settings change → applied live, no reboot;
//   3. push of an invalid change → nothing moves; `osfleet diff` shows the error;
//   4. `git revert` → rollback to the other slot without a download;
//   5. `osfleet plan` before (1) and (4) predicts the batches and the order that then happened.
// Figures (wall time, per-step latencies) are printed as JSON lines prefixed "E2E_FIGURE".
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AppsV1Api, CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions, Watch, type KubernetesObject } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startImageServer, type ImageServer } from '../../agent/testing/sandbox.js';
import { startControllerProcess, type ControllerProcess } from '../../controller/testing/controller-process.js';
import {
  createFleetSource,
  getOsfleetObject,
  deletePodNow,
  git,
  installDeploy,
  OSFLEET_NS,
  podIdentity,
  sendWebhook,
  setNodeReady,
  standInAgentDaemonSet,
  testbed,
  until,
  waitAgentPolicyActive,
  type Install,
  type WorkClone,
} from '../harness/index.js';
import { runOsfleet } from '../harness/osfleet-cli.js';
import { SandboxNode } from '../harness/sandbox-node.js';

const tb = testbed();
const G = { group: 'osfleet.dev', version: 'v1alpha1' };
const custom = tb.kc.makeApiClient(CustomObjectsApi);
const core = tb.kc.makeApiClient(CoreV1Api);
const apps = tb.kc.makeApiClient(AppsV1Api);

const p = tb.uniqueName('e2e');
const POOL_LABEL = 'e2e.osfleet.dev/pool';
const ZONE = 'topology.kubernetes.io/zone';
const HOOK = randomBytes(16).toString('hex');
const SOAK_MS = 10 * 60_000;
const IMAGE_BYTES = 3 * 1024 * 1024 + 12345; // a few MiB, not a multiple of any chunk size
const SLOT_BYTES = 8 * 1024 * 1024;
// Zones make the order differ from name order: zone-a takes n2, n4, n5; zone-b n1, n3 → n2 n1 n4 n3 n5.
const NODES = [
  { suffix: 'n1', zone: 'zone-b', slots: 'loop' as const },
  { suffix: 'n2', zone: 'zone-a', slots: 'file' as const },
  { suffix: 'n3', zone: 'zone-b', slots: 'file' as const },
  { suffix: 'n4', zone: 'zone-a', slots: 'file' as const },
  { suffix: 'n5', zone: 'zone-a', slots: 'file' as const },
];
const nodeName = (suffix: string) => `${p}-${suffix}`;
const POOL = new Set(NODES.map((n) => nodeName(n.suffix)));
const osName = `${p}-fleet`;
const settingsName = `${p}-net`;
const fsName = p;

// Clock: the window is 01:00-05:00 Europe/Berlin daily (00:00-04:00 UTC in January).
const T_SETUP = '2026-01-05T00:30:00.000Z'; // Monday 01:30 Berlin: inside, so first settings apply
const T_DAY = '2026-01-05T12:00:00.000Z'; // Monday 13:00 Berlin: outside
const T_WINDOW = '2026-01-06T00:00:30.000Z'; // Tuesday 01:00:30 Berlin: inside

type Obj = KubernetesObject & { spec?: any; status?: any };

const started = Date.now();
const figures: Record<string, number> = {};
const cleanups: Array<() => Promise<unknown>> = [];
let install: Install;
let repo: WorkClone;
let images: ImageServer;
let controller: ControllerProcess;
let clockFile: string;
let workDir: string;
const nodes = new Map<string, SandboxNode>();
let v1: { file: string; sha: string };
let v2: { file: string; sha: string };
const commits: Record<string, string> = {};
const commit = (k: string): string => commits[k] ?? '';

// ---------- the injected clock ----------

let clockMs = Date.parse(T_SETUP);
function setClock(iso: string | number): void {
  clockMs = typeof iso === 'number' ? iso : Date.parse(iso);
  const tmp = `${clockFile}.tmp`;
  fs.writeFileSync(tmp, new Date(clockMs).toISOString());
  fs.renameSync(tmp, clockFile);
}

// ---------- reading the cluster ----------

const getObj = async (plural: string, name: string): Promise<Obj | undefined> => (await getOsfleetObject(tb.kc, plural, name)) as Obj | undefined;
const cond = (o: Obj | undefined, type: string) => ((o?.status?.conditions ?? []) as Array<{ type: string; status: string; reason: string; message: string }>).find((c) => c.type === type);

async function osnodes(): Promise<Map<string, Obj>> {
  const list = (await custom.listClusterCustomObject({ ...G, plural: 'osnodes' })) as { items: Obj[] };
  return new Map(list.items.filter((o) => POOL.has(o.metadata!.name!)).map((o) => [o.metadata!.name!, o]));
}

function diagnostics(): string {
  const parts = [`--- controller\n${controller?.logTail(40) ?? ''}`];
  for (const n of nodes.values()) parts.push(`--- agent ${n.name}\n${n.logTail(8)}`);
  return parts.join('\n');
}

// ---------- what the test watches while the story runs ----------

interface Grant {
  node: string;
  token: string;
  at: number;
  clock: number;
}
/** Reboot permits in the order the controller granted them (first sight of each token). */
let rebootGrants: Grant[] = [];
let applyGrants: Grant[] = [];
let maxCordoned = 0;
let soakSkip = false;
const reboots: Array<{ node: string; slot: string; at: number }> = [];
let watching = true;
let watchError: unknown;

/**
 * Records every permit the controller writes, from a watch: a live-settings grant lives only until
 * the agent reports the settings applied and the planner withdraws it, which can be shorter than
 * one poll of observe().
 */
async function watchPermits(): Promise<() => void> {
  const seen = new Set<string>();
  const record = (o: Obj) => {
    const name = o.metadata?.name;
    const permit = o.spec?.permit;
    if (!name || !POOL.has(name) || !permit?.token || seen.has(permit.token)) return;
    seen.add(permit.token);
    const g = { node: name, token: permit.token, at: Date.now(), clock: clockMs };
    if (permit.reboot) rebootGrants.push(g);
    if (permit.applySettings) applyGrants.push(g);
  };
  const list = (await custom.listClusterCustomObject({ ...G, plural: 'osnodes' })) as { items: Obj[]; metadata: { resourceVersion: string } };
  for (const o of list.items) record(o);
  let rv = list.metadata.resourceVersion;
  let stopped = false;
  let abort: AbortController | undefined;
  const watch = new Watch(tb.kc);
  const start = async (): Promise<void> => {
    if (stopped) return;
    abort = await watch.watch(
      `/apis/${G.group}/${G.version}/osnodes`,
      { resourceVersion: rv, allowWatchBookmarks: true },
      (type: string, o: Obj) => {
        if (o?.metadata?.resourceVersion) rv = o.metadata.resourceVersion;
        if (type === 'ADDED' || type === 'MODIFIED') record(o);
      },
      // The apiserver ends watches after a while: resume from the last resourceVersion seen.
      (err: unknown) => {
        if (stopped) return;
        if (err) watchError = err;
        setTimeout(() => void start().catch((e: unknown) => (watchError = e)), 100);
      },
    );
  };
  await start();
  return () => {
    stopped = true;
    abort?.abort();
  };
}
let stopPermitWatch: (() => void) | undefined;

async function observe(): Promise<void> {
  const handled = new Map<string, number>();
  while (watching) {
    try {
      // maxUnavailable as the cluster shows it.
      const list = await core.listNode({ labelSelector: `${POOL_LABEL}=${p}` });
      maxCordoned = Math.max(maxCordoned, list.items.filter((n) => n.spec?.unschedulable).length);
      // The machines: a reboot command that ran is a reboot (kubelet down, GRUB, kernel, agent, kubelet up).
      for (const n of nodes.values()) {
        const requests = n.rebootRequests().length;
        if (requests > (handled.get(n.name) ?? 0)) {
          handled.set(n.name, requests);
          await setNodeReady(tb.kc, n.name, false);
          const r = await n.reboot();
          reboots.push({ node: n.name, slot: r.slot, at: Date.now() });
          await setNodeReady(tb.kc, n.name, true);
        }
      }
      // Soak between batches passes at once on the injected clock.
      if (soakSkip) {
        const soakUntil = (await getObj('oses', osName))?.status?.rollout?.soakUntil;
        const until = soakUntil ? Date.parse(soakUntil) : NaN;
        if (Number.isFinite(until) && until >= clockMs) setClock(until + 1000);
      }
    } catch (err) {
      watchError = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
let observer: Promise<void> | undefined;

/**
 * The batches `osfleet plan` predicted are the batches that happened: grants within a batch share
 * a soak period, and a new batch starts only a soak after the one before it.
 */
function expectPlannedBatches(grants: readonly Grant[], predicted: readonly string[][]): void {
  const batchOf = new Map(predicted.flatMap((b, i) => b.map((n) => [n, i] as const)));
  const seen = grants.map((g) => [batchOf.get(g.node)!, g.clock] as const);
  for (let i = 1; i < seen.length; i++) {
    const [batch, clock] = seen[i]!;
    const [prevBatch, prevClock] = seen[i - 1]!;
    expect(batch).toBeGreaterThanOrEqual(prevBatch);
    if (batch > prevBatch) expect(clock - prevClock).toBeGreaterThanOrEqual(SOAK_MS);
    else expect(clock - prevClock).toBeLessThan(SOAK_MS);
  }
}

// ---------- the repository ----------

const versionDoc = (v: string, file: string, sha: string) => `apiVersion: osfleet.dev/v1alpha1
kind: OSVersion
metadata:
  name: ${p}-v${v.replace('.', '-')}
spec:
  version: "${v}"
  image:
    url: ${images.url}/${path.basename(file)}
    sha256: ${sha}
    size: ${IMAGE_BYTES}
`;
const policyDoc = (version: string) => `# The e2e fleet: a canary, half, everything; one node at a time; nights in Berlin.
apiVersion: osfleet.dev/v1alpha1
kind: RolloutPolicy
metadata:
  name: ${osName}
spec:
  nodeSelector:
    matchLabels:
      ${POOL_LABEL}: ${p}
  osVersion: ${version}
  strategy:
    batches: [1, "50%", "100%"]
    maxUnavailable: 1
    soak: 10m
    failureBudget: 1
    stageOutsideWindows: true
  maintenanceWindows:
    - {schedule: "0 1 * * *", duration: 4h, timeZone: Europe/Berlin}
  drain:
    timeout: 5m
    onTimeout: fail
`;
const settingsDoc = (sysctl: Record<string, string>) => `apiVersion: osfleet.dev/v1alpha1
kind: NodeSettings
metadata:
  name: ${settingsName}
spec:
  nodeSelector:
    matchLabels:
      ${POOL_LABEL}: ${p}
  priority: 0
  sysctl:
${Object.entries(sysctl)
  .map(([k, v]) => `    ${k}: "${v}"`)
  .join('\n')}
`;
const SETTINGS_1 = { 'net.core.somaxconn': '1024', 'net.ipv4.tcp_fin_timeout': '30' };
const SETTINGS_2 = { 'net.core.somaxconn': '8192', 'net.ipv4.tcp_fin_timeout': '30', 'net.ipv4.tcp_keepalive_time': '3600' };
// The "kernel" defaults in each sandbox's /proc/sys (same widths as what is written: see SandboxNode).
const KERNEL_SYSCTL = { 'net.core.somaxconn': '4096', 'net.ipv4.tcp_fin_timeout': '60', 'net.ipv4.tcp_keepalive_time': '7200' };

async function commitLocally(files: Record<string, string>, message: string): Promise<string> {
  for (const [f, content] of Object.entries(files)) fs.writeFileSync(path.join(repo.dir, f), content);
  await git(['add', '--all'], repo.dir);
  await git(['commit', '--quiet', '-m', message], repo.dir);
  return repo.head();
}
async function pushAndHook(): Promise<{ commit: string; pushedAt: number }> {
  await git(['push', '--quiet', 'origin', 'HEAD:refs/heads/main'], repo.dir);
  const pushedAt = Date.now();
  const commit = await repo.head();
  const r = await sendWebhook(controller.webhookUrl(fsName), { ref: 'refs/heads/main', after: commit }, HOOK);
  expect(r.status, r.body).toBe(202);
  return { commit, pushedAt };
}

/**
 * Waits until a whole rollout pass that started after this call has ended, its writes included.
 * Passes run one at a time, so of the passes that end from now on, the second began after now;
 * a label on a node wakes the executor for each. What that pass did not write, it will not.
 */
async function rolloutPassAfterNow(): Promise<void> {
  const ended = () => controller.metric('osfleet_rollout_reconcile_duration_seconds_count');
  const c0 = await ended();
  const node = [...nodes.keys()][0]!;
  for (const k of [1, 2]) {
    await core.patchNode(
      { name: node, body: { metadata: { labels: { 'osfleet-test-wake': `${c0}-${k}` } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    await until(`rollout pass ${k} after now`, async () => ((await ended()) >= c0 + k ? true : undefined), { timeoutMs: 15_000, onTimeout: diagnostics });
  }
}

/** Waits until the controller has no reconcile of the FleetSource queued or running: the run that wrote the last status has ended. */
async function fleetSourceCaughtUp(): Promise<void> {
  // The series must be there and read 0 (an absent one would read 0 too).
  await until('no FleetSource reconcile queued or running', async () => ((await (await fetch(controller.metricsUrl)).text()).includes(`osfleet_reconciles_pending{fleetsource="${fsName}"} 0\n`) ? true : undefined), {
    timeoutMs: 15_000,
    onTimeout: diagnostics,
  });
}

async function waitApplied(commit: string, timeoutMs = 20_000): Promise<Obj> {
  return until(
    `FleetSource applied ${commit.slice(0, 8)}`,
    async () => {
      const f = await getObj('fleetsources', fsName);
      return f?.status?.lastAppliedRevision === `main@sha1:${commit}` && cond(f, 'Ready')?.status === 'True' ? f : undefined;
    },
    { timeoutMs, onTimeout: diagnostics },
  );
}

async function plan(from: string, to: string): Promise<{ batches: string[][]; raw: unknown }> {
  const r = await runOsfleet(['plan', repo.dir, '--kubeconfig', tb.cluster.kubeconfig, '--from', from, '--to', to, '--format', 'json', '--now', new Date(clockMs).toISOString()]);
  expect(r.code, r.stderr).toBe(0);
  const json = JSON.parse(r.stdout) as { policies: Array<{ name: string; batches: Array<{ index: number; nodes: string[] }> }> };
  const pol = json.policies.find((x) => x.name === osName);
  expect(pol, r.stdout).toBeDefined();
  return { batches: pol!.batches.map((b) => b.nodes), raw: json };
}

/** Every node runs `version` from `slot`, reports Done with the desired settings, and the OS is Ready. */
async function waitFleetAt(version: string, slot: 'A' | 'B', what: string, timeoutMs = 120_000): Promise<{ lastDone: number; osReady: number }> {
  const doneAt = new Map<string, number>();
  let lastDone = 0;
  await until(
    what,
    async () => {
      if (watchError) throw watchError;
      const all = await osnodes();
      for (const [name, o] of all) {
        const st = o.status ?? {};
        const done =
          st.bootedVersion === version &&
          st.bootedSlot === slot &&
          (st.phase === 'Done' || st.phase === 'Idle') &&
          o.spec?.config?.hash !== undefined &&
          st.appliedConfigHash === o.spec.config.hash &&
          (st.pendingReboot ?? []).length === 0;
        if (done && !doneAt.has(name)) doneAt.set(name, Date.now());
      }
      if (doneAt.size < POOL.size) return undefined;
      lastDone = Math.max(...doneAt.values());
      const osObj = await getObj('oses', osName);
      return cond(osObj, 'Ready')?.status === 'True' && osObj?.status?.counts?.updated === POOL.size ? true : undefined;
    },
    { timeoutMs, intervalMs: 100, onTimeout: diagnostics },
  );
  return { lastDone, osReady: Date.now() };
}

function figure(name: string, ms: number): void {
  figures[name] = ms;
  console.log(`E2E_FIGURE ${JSON.stringify({ figure: name, ms })}`);
}

// ---------- setup ----------

beforeAll(async () => {
  install = await installDeploy(tb);
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'osfleet-e2e-'));
  cleanups.push(async () => (process.env.OSFLEET_KEEP_LOGS ? process.stderr.write(`e2e files kept in ${workDir}\n`) : fs.rmSync(workDir, { recursive: true, force: true })));

  // Images: two versions of a few MiB, served on loopback.
  const imgDir = path.join(workDir, 'images');
  fs.mkdirSync(imgDir);
  const mk = (name: string) => {
    const file = path.join(imgDir, name);
    const data = randomBytes(IMAGE_BYTES);
    fs.writeFileSync(file, data);
    return { file, sha: createHash('sha256').update(data).digest('hex') };
  };
  v1 = mk('v1.img');
  v2 = mk('v2.img');
  images = await startImageServer(imgDir);
  cleanups.push(() => images.close());

  // Nodes: five in the pool, one more for the controller's pod (so a drain never evicts it).
  const cpNode = `${p}-cp`;
  for (const n of NODES) {
    await tb.createNode(nodeName(n.suffix), { [POOL_LABEL]: p, [ZONE]: n.zone });
    cleanups.push(() => core.deleteNode({ name: nodeName(n.suffix) }));
  }
  await tb.createNode(cpNode, { 'node-role.kubernetes.io/control-plane': '' });
  cleanups.push(() => core.deleteNode({ name: cpNode }));

  const { owner, remove: removeDs } = await standInAgentDaemonSet(tb, `${p}-agent`);
  cleanups.push(removeDs);

  // The controller's identity: the deployed ServiceAccount, token bound to its pod.
  const ctl = await podIdentity(tb, { sa: 'osfleet-controller', node: cpNode, pod: `${p}-controller` });
  cleanups.push(() => deletePodNow(tb.kc, OSFLEET_NS, ctl.pod));

  // The repository and its FleetSource.
  repo = await tb.createRepo(p);
  cleanups.push(() => repo.remove());
  commits.initial = await repo.commitAndPush(
    {
      'versions.yaml': `${versionDoc('1.0', v1.file, v1.sha)}---\n${versionDoc('2.0', v2.file, v2.sha)}`,
      'policy.yaml': policyDoc(`${p}-v1-0`),
      'settings.yaml': settingsDoc(SETTINGS_1),
    },
    'fleet: v1.0 everywhere, base net settings',
  );
  await core.createNamespacedSecret({
    namespace: OSFLEET_NS,
    body: { metadata: { name: `${p}-git` }, stringData: { username: tb.git.auth!.username, password: tb.git.auth!.password } },
  });
  cleanups.push(() => core.deleteNamespacedSecret({ namespace: OSFLEET_NS, name: `${p}-git` }));
  await core.createNamespacedSecret({ namespace: OSFLEET_NS, body: { metadata: { name: `${p}-hook` }, stringData: { token: HOOK } } });
  cleanups.push(() => core.deleteNamespacedSecret({ namespace: OSFLEET_NS, name: `${p}-hook` }));
  await createFleetSource(tb.kc, fsName, { url: repo.url, namespace: OSFLEET_NS, secret: `${p}-git`, webhookSecret: `${p}-hook` });
  cleanups.push(async () => {
    await custom.deleteClusterCustomObject({ ...G, plural: 'fleetsources', name: fsName }).catch(() => undefined);
    for (const [plural, name] of [['oses', osName], ['osconfigs', settingsName]] as const) {
      await custom.deleteClusterCustomObject({ ...G, plural, name }).catch(() => undefined);
    }
  });

  // The controller process.
  clockFile = path.join(workDir, 'clock');
  setClock(T_SETUP);
  controller = await startControllerProcess({
    kubeconfig: ctl.kubeconfig,
    namespace: OSFLEET_NS,
    cacheDir: path.join(workDir, 'git-cache'),
    identity: `${p}-controller`,
    logDir: workDir,
    leaseName: `${p}-leader`,
    rollout: 'on',
    clockFile,
    leaseDuration: '4s',
    renewDeadline: '3s',
    retryPeriod: '500ms',
  });
  cleanups.push(() => controller.stop());
  await waitApplied(commit('initial'), 30_000);
  await until('an OSNode for every node of the pool', async () => ((await osnodes()).size === POOL.size ? true : undefined), { timeoutMs: 20_000, onTimeout: diagnostics });

  // The agents: each with a token bound to its pod on its node, on its own sandbox host.
  for (const n of NODES) {
    const name = nodeName(n.suffix);
    const agent = await podIdentity(tb, { sa: 'osfleet-agent', node: name, pod: `${p}-agent-${n.suffix}`, owner });
    cleanups.push(() => deletePodNow(tb.kc, OSFLEET_NS, agent.pod));
    if (n.suffix === 'n1') await waitAgentPolicyActive(agent, nodeName('n2'));
    const sn = await SandboxNode.create({
      name,
      kubeconfig: agent.kubeconfig,
      slots: n.slots,
      slotBytes: SLOT_BYTES,
      installed: { version: '1.0', imageFile: v1.file },
      sysctl: KERNEL_SYSCTL,
    });
    nodes.set(name, sn);
    sn.start();
  }
  stopPermitWatch = await watchPermits();
  observer = observe();

  // The fleet settles: v1.0 from slot A everywhere, the first settings applied (inside a window).
  soakSkip = true;
  await waitFleetAt('1.0', 'A', 'the fleet at 1.0 with its first settings', 90_000);
  soakSkip = false;
  for (const n of nodes.values()) expect(n.sysctl('net.core.somaxconn')).toBe('1024');
  expect(reboots).toEqual([]);
}, 180_000);

afterAll(async () => {
  watching = false;
  stopPermitWatch?.();
  await observer;
  for (const n of nodes.values()) await n.destroy({ keepDir: !!process.env.OSFLEET_KEEP_LOGS }).catch(() => undefined);
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  // OSNodes are owned by their Nodes (garbage-collected), but do not wait for the collector.
  for (const n of NODES) await custom.deleteClusterCustomObject({ ...G, plural: 'osnodes', name: nodeName(n.suffix) }).catch(() => undefined);
  await custom.deleteClusterCustomObject({ ...G, plural: 'osnodes', name: `${p}-cp` }).catch(() => undefined);
  figure('e2eWallTime', Date.now() - started);
});

describe('osfleet end to end', () => {
  it('installs: deploy/ accepted whole, workloads by server-side dry-run', () => {
    for (const kind of ['deployment.apps/osfleet-controller', 'daemonset.apps/osfleet-agent', 'validatingadmissionpolicy']) expect(install.dryRun).toContain(kind);
  });

  let predicted1: string[][];
  it('1. a pushed OSVersion pin waits for the window, then goes batch by batch until every node runs it', async () => {
    // Day time: outside the window.
    setClock(T_DAY);
    await until('OS sees the window closed', async () => ((await getObj('oses', osName))?.status?.windowOpen === false ? true : undefined), { timeoutMs: 10_000, onTimeout: diagnostics });
    commits.good1 = commit('initial');
    commits.pin = await commitLocally({ 'policy.yaml': policyDoc(`${p}-v2-0`) }, 'fleet: roll to 2.0');
    predicted1 = (await plan(commit('good1'), commit('pin'))).batches;
    rebootGrants = [];
    const requestsBefore = images.requests.length;

    const { pushedAt } = await pushAndHook();
    await until('OS targets 2.0', async () => ((await getObj('oses', osName))?.spec?.osVersion?.version === '2.0' ? true : undefined), { timeoutMs: 10_000, onTimeout: diagnostics });
    figure('pushToOSApplied', Date.now() - pushedAt);

    // Outside the window the canary may stage (stageOutsideWindows) but nobody may reboot.
    await until(
      'the canary staged 2.0 outside the window',
      async () => ((await osnodes()).get(predicted1[0]![0]!)?.status?.phase === 'Staged' ? true : undefined),
      { timeoutMs: 30_000, onTimeout: diagnostics },
    );
    await rolloutPassAfterNow(); // a pass that saw the canary staged outside the window has ended
    expect(rebootGrants).toEqual([]);
    expect(reboots).toEqual([]);
    for (const o of (await osnodes()).values()) expect(o.spec?.permit?.reboot ?? false).toBe(false);
    const osWaiting = await getObj('oses', osName);
    expect(osWaiting?.status?.windowOpen).toBe(false);
    expect(osWaiting?.status?.nextWindow).toBe('2026-01-06T00:00:00.000Z');

    // The window opens.
    setClock(T_WINDOW);
    const windowOpenedAt = Date.now();
    soakSkip = true;
    await until('first reboot permit', async () => (rebootGrants.length > 0 ? true : undefined), { timeoutMs: 20_000, onTimeout: diagnostics });
    figure('windowOpenToFirstRebootGranted', rebootGrants[0]!.at - windowOpenedAt);

    const { lastDone, osReady } = await waitFleetAt('2.0', 'B', 'every node on 2.0 from slot B', 150_000);
    figure('lastNodeDoneToOSReady', osReady - lastDone);
    figure('windowOpenToOSReady', osReady - windowOpenedAt);
    soakSkip = false;

    console.log(`E2E_REBOOT_GRANTS ${JSON.stringify(rebootGrants.map((g) => ({ node: g.node.slice(p.length + 1), clock: new Date(g.clock).toISOString() })))}`);
    // What happened is what `osfleet plan` said: same batches, same order, one node at a time.
    expect(rebootGrants.map((g) => g.node)).toEqual(predicted1.flat());
    expect(reboots.map((r) => r.node)).toEqual(predicted1.flat());
    expect(reboots.every((r) => r.slot === 'B')).toBe(true);
    expect(maxCordoned).toBe(1);
    expect(predicted1.map((b) => b.length)).toEqual([1, 2, 2]);
    // Not only do plan and controller agree (both call the planner): the order is the one the
    // README's rules give (zones take turns, by name within a zone), written out by hand.
    expect(predicted1).toEqual([['n2'], ['n1', 'n4'], ['n3', 'n5']].map((b) => b.map(nodeName)));
    expectPlannedBatches(rebootGrants, predicted1);
    // Each node downloaded 2.0 once and holds it in slot B; slot A still holds 1.0.
    const downloads = images.requests.slice(requestsBefore).filter((r) => r.path === '/v2.img');
    expect(downloads.length).toBe(POOL.size);
    for (const n of nodes.values()) {
      expect(n.slotDigest('B', IMAGE_BYTES)).toBe(v2.sha);
      const slots = await n.slotsState();
      expect(slots.slots.A?.version).toBe('1.0');
      expect(slots.slots.B?.version).toBe('2.0');
    }
  });

  it('2. a pushed settings change is applied live on every node, without a reboot', async () => {
    const rebootsBefore = reboots.length;
    const boots = new Map([...nodes.values()].map((n) => [n.name, n.boots]));
    rebootGrants = [];
    applyGrants = [];
    await commitLocally({ 'settings.yaml': settingsDoc(SETTINGS_2) }, 'settings: more connections, shorter keepalive');
    const { pushedAt } = await pushAndHook();
    await until('OSConfig carries the change', async () => ((await getObj('osconfigs', settingsName))?.spec?.sysctl?.['net.core.somaxconn'] === '8192' ? true : undefined), {
      timeoutMs: 10_000,
      onTimeout: diagnostics,
    });
    figure('settingsPushToOSConfigApplied', Date.now() - pushedAt);
    soakSkip = true;
    await waitFleetAt('2.0', 'B', 'the new settings on every node', 60_000);
    soakSkip = false;
    figure('settingsPushToAppliedEverywhere', Date.now() - pushedAt);
    for (const n of nodes.values()) {
      expect(n.sysctl('net.core.somaxconn')).toBe('8192');
      expect(n.sysctl('net.ipv4.tcp_keepalive_time')).toBe('3600');
      expect(n.persistedSysctl()).toContain('net.ipv4.tcp_keepalive_time = 3600');
      expect(n.boots).toBe(boots.get(n.name));
    }
    expect(reboots.length).toBe(rebootsBefore);
    expect(rebootGrants).toEqual([]);
    expect(new Set(applyGrants.map((g) => g.node))).toEqual(POOL);
  });

  it('3. a pushed invalid change moves nothing, and `osfleet diff` on that commit shows the error', async () => {
    commits.good = await repo.head();
    const rv = async () => {
      const out: Record<string, string> = {};
      for (const [plural, name] of [['oses', osName], ['osconfigs', settingsName]] as const) out[`${plural}/${name}`] = (await getObj(plural, name))!.metadata!.resourceVersion!;
      for (const [name, o] of await osnodes()) out[`osnodes/${name}`] = JSON.stringify(o.spec);
      return out;
    };
    const before = await rv();
    commits.bad = await commitLocally({ 'policy.yaml': policyDoc(`${p}-v3-0`) }, 'fleet: roll to 3.0 (which nobody pinned)');
    await pushAndHook();
    const f = await until(
      'FleetSource refuses the revision',
      async () => {
        const o = await getObj('fleetsources', fsName);
        return o?.status?.lastAttemptedRevision === `main@sha1:${commits.bad}` && cond(o, 'Ready')?.status === 'False' ? o : undefined;
      },
      { timeoutMs: 15_000, onTimeout: diagnostics },
    );
    expect(cond(f, 'Ready')?.reason).toBe('ValidationFailed');
    expect(f.status?.lastAppliedRevision).toBe(`main@sha1:${commits.good}`);
    await fleetSourceCaughtUp(); // the reconcile that refused the revision has ended
    await rolloutPassAfterNow(); // and so has a rollout pass after it
    expect(await rv()).toEqual(before);

    const diff = await runOsfleet(['diff', repo.dir, '--from', commits.good, '--to', commits.bad]);
    expect(diff.code, diff.stderr).toBe(1);
    const errorLine = `${diff.stdout}\n${diff.stderr}`.split('\n').find((l) => l.includes('policy.yaml:') && /error/.test(l) && l.includes(`${p}-v3-0`));
    expect(errorLine, diff.stdout + diff.stderr).toBeDefined();
    expect(errorLine).toMatch(/policy\.yaml:\d+:\d+/);
    expect(errorLine).toContain('no OSVersion named');
    expect(cond(f, 'Ready')?.message).toContain('no OSVersion named');
  });

  it('4. `git revert` rolls every node back to the other slot, without a download', async () => {
    await git(['revert', '--no-edit', commits.bad!], repo.dir);
    await git(['revert', '--no-edit', commits.pin!], repo.dir);
    const reverted = await repo.head();
    const predicted4 = (await plan(commits.good!, reverted)).batches;
    const requestsBefore = images.requests.length;
    rebootGrants = [];
    const rebootsBefore = reboots.length;
    const { pushedAt } = await pushAndHook();
    await until('OS targets 1.0 again', async () => ((await getObj('oses', osName))?.spec?.osVersion?.version === '1.0' ? true : undefined), { timeoutMs: 10_000, onTimeout: diagnostics });
    figure('revertPushToOSApplied', Date.now() - pushedAt);
    soakSkip = true;
    const { lastDone, osReady } = await waitFleetAt('1.0', 'A', 'every node back on 1.0 from slot A', 150_000);
    soakSkip = false;
    figure('revertPushToOSReady', osReady - pushedAt);
    figure('rollbackLastNodeDoneToOSReady', osReady - lastDone);
    expect(images.requests.length).toBe(requestsBefore);
    expect(rebootGrants.map((g) => g.node)).toEqual(predicted4.flat());
    expect(predicted4.map((b) => b.length)).toEqual([1, 2, 2]);
    expectPlannedBatches(rebootGrants, predicted4);
    expect(reboots.slice(rebootsBefore).map((r) => r.node)).toEqual(predicted4.flat());
    expect(reboots.slice(rebootsBefore).every((r) => r.slot === 'A')).toBe(true);
    for (const n of nodes.values()) expect(n.sysctl('net.core.somaxconn')).toBe('8192');
    expect(watchError).toBeUndefined();
  });
});
