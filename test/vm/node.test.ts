// A real node, booted for real: the disk image `osfleet image build` made boots under QEMU through
// UEFI firmware, GRUB (agent/boot/grub.cfg) and a Debian kernel; the real agent runs inside the guest
// as a systemd service with a token bound to its pod; the controller and the git server run on the
// host. Every check reads the guest (its /proc/cmdline, /proc/sys, grubenv) or the cluster, never a
// model. One machine lives through the whole story, each step starting where the last one ended:
//   first boot on A → push 2.0.0 (+ a kernel argument) with a power cut mid-download → reboot into B
//   → settings in force after the reboot → git revert → back to A with no download → slots that
//   cannot boot (no kernel, a kernel GRUB cannot load, a kernel panic, no init) and a slot that fails its health check → each
//   time back on A with no person at the console, RolledBack.
// Figures are printed as JSON lines prefixed VM_FIGURE (test/bench/vm.ts collects them).
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startImageServer, type ImageServer } from '../../agent/testing/sandbox.js';
import { startControllerProcess, type ControllerProcess } from '../../controller/testing/controller-process.js';
import { createFleetSource, deletePodNow, getOsfleetObject, git, installDeploy, OSFLEET_NS, podIdentity, sendWebhook, setNodeReady, standInAgentDaemonSet, testbed, until, type WorkClone } from '../harness/index.js';
import { chooseAccel, Vm, type Accel } from '../harness/vm.js';
import { manifestPath, UNHEALTHY_CHECK, GUEST_IMAGE_HOST, GUEST_IMAGE_PORT, type VmImage, type VmImages } from './images.js';

const tb = testbed();
const core = tb.kc.makeApiClient(CoreV1Api);
const p = tb.uniqueName('vm');
const nodeName = `${p}-node`;
const osName = `${p}-fleet`;
const settingsName = `${p}-settings`;
const HOOK = randomBytes(16).toString('hex');
const API_GUEST_IP = '10.0.2.100';
const SYSCTL_KEY = 'net.core.somaxconn';
const SYSCTL_1 = '1234';
const SYSCTL_2 = '2345';
const KARG = 'transparent_hugepage=madvise';
const BOOT_MS = 6 * 60_000;

type Obj = { metadata?: { name?: string }; spec?: any; status?: any };

let images: VmImages;
let server: ImageServer;
let controller: ControllerProcess;
let repo: WorkClone;
let vm: Vm;
let accel: { accel: Accel; why: string };
let workDir: string;
const cleanups: Array<() => Promise<unknown>> = [];
const figures: Record<string, number> = {};

function figure(name: string, value: number): void {
  figures[name] = value;
  process.stdout.write(`VM_FIGURE ${JSON.stringify({ name, value, unit: 's', accel: vm?.accel ?? accel?.accel })}\n`);
}

const osnode = async (): Promise<Obj | undefined> => (await getOsfleetObject(tb.kc, 'osnodes', nodeName)) as Obj | undefined;

function diagnostics(): string {
  const hangs = vm?.resetHangs.length ? `\n--- resets that hung: ${JSON.stringify(vm.resetHangs)}` : '';
  return `--- controller\n${controller?.logTail(30) ?? ''}\n--- QEMU (${vm?.accel})\n${vm?.qemuLogTail() ?? ''}${hangs}\n--- console of ${nodeName}\n${vm?.consoleTail(60) ?? ''}`;
}

async function waitNode(what: string, ok: (o: Obj) => boolean, timeoutMs: number): Promise<Obj> {
  let last: Obj | undefined;
  return until(
    what,
    async () => {
      const o = await osnode();
      last = o;
      return o && ok(o) ? o : undefined;
    },
    { timeoutMs, intervalMs: 500, onTimeout: () => `last status: ${JSON.stringify(last?.status ?? null)}\n${diagnostics()}` },
  );
}

/** Waits until the guest answers and returns its kernel command line. */
async function guestCmdline(timeoutMs = BOOT_MS): Promise<string> {
  await until('the guest agent answers', async () => ((await vm.guestUp()) ? true : undefined), { timeoutMs, intervalMs: 1000, onTimeout: diagnostics });
  return vm.read('/proc/cmdline');
}

const guestSysctl = async (key: string) => vm.read(`/proc/sys/${key.replace(/\./g, '/')}`);

// ---------- the repository ----------

const versionRef = (img: VmImage) => `${p}-${img.version.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`;
const versionDoc = (img: VmImage) => `apiVersion: osfleet.dev/v1alpha1
kind: OSVersion
metadata:
  name: ${versionRef(img)}
spec:
  version: "${img.version}"
  image:
    url: http://${GUEST_IMAGE_HOST}/${path.basename(img.file)}
    sha256: ${img.sha256}
    size: ${img.size}
`;
const policyDoc = (img: VmImage) => `apiVersion: osfleet.dev/v1alpha1
kind: RolloutPolicy
metadata:
  name: ${osName}
spec:
  nodeSelector:
    matchLabels:
      vm.osfleet.dev/pool: ${p}
  osVersion: ${versionRef(img)}
  strategy:
    batches: ["100%"]
    maxUnavailable: 1
    failureBudget: 1
    stageOutsideWindows: true
  maintenanceWindows:
    - {schedule: "0 0 * * *", duration: 24h, timeZone: UTC}
  drain:
    timeout: 2m
    onTimeout: fail
`;
const settingsDoc = (value: string, kernelArgs: string[]) => `apiVersion: osfleet.dev/v1alpha1
kind: NodeSettings
metadata:
  name: ${settingsName}
spec:
  nodeSelector:
    matchLabels:
      vm.osfleet.dev/pool: ${p}
  priority: 0
  sysctl:
    ${SYSCTL_KEY}: "${value}"
${kernelArgs.length ? `  kernelArgs:\n    add: [${kernelArgs.join(', ')}]\n` : ''}`;

async function push(files: Record<string, string>, message: string): Promise<string> {
  for (const [f, content] of Object.entries(files)) fs.writeFileSync(path.join(repo.dir, f), content);
  await git(['add', '--all'], repo.dir);
  await git(['commit', '--quiet', '-m', message], repo.dir);
  return pushHead();
}
async function pushHead(): Promise<string> {
  await git(['push', '--quiet', 'origin', 'HEAD:refs/heads/main'], repo.dir);
  const commit = await repo.head();
  const r = await sendWebhook(controller.webhookUrl(p), { ref: 'refs/heads/main', after: commit }, HOOK);
  expect(r.status, r.body).toBe(202);
  await until(
    `FleetSource applied ${commit.slice(0, 8)}`,
    async () => ((await getOsfleetObject(tb.kc, 'fleetsources', p))?.status?.lastAppliedRevision === `main@sha1:${commit}` ? true : undefined),
    { timeoutMs: 30_000, onTimeout: diagnostics },
  );
  return commit;
}
const allVersions = () => Object.values({ ...images.good, ...images.broken }).map(versionDoc).join('---\n');

// ---------- set-up ----------

beforeAll(async () => {
  const manifest = manifestPath();
  if (!fs.existsSync(manifest)) throw new Error(`no VM images (${manifest}): hack/test.sh builds them with test/vm/images.ts (as root) before the tests`);
  images = JSON.parse(fs.readFileSync(manifest, 'utf8')) as VmImages;
  // OSFLEET_VM_DIR: where hack/demo-vm.sh follows the console.
  workDir = process.env.OSFLEET_VM_DIR ?? fs.mkdtempSync(path.join(os.tmpdir(), 'osfleet-vm-'));
  accel = await chooseAccel(images.kernel, workDir);
  process.stdout.write(`VM accel: ${accel.accel} (${accel.why})\n`);
  await installDeploy(tb);

  server = await startImageServer(path.dirname(images.good.v1.file));
  cleanups.push(() => server.close());

  await tb.createNode(nodeName, { 'vm.osfleet.dev/pool': p });
  cleanups.push(() => core.deleteNode({ name: nodeName }));
  await setNodeReady(tb.kc, nodeName, true);
  const cpNode = `${p}-cp`;
  await tb.createNode(cpNode, { 'node-role.kubernetes.io/control-plane': '' });
  cleanups.push(() => core.deleteNode({ name: cpNode }));
  const { owner, remove: removeDs } = await standInAgentDaemonSet(tb, `${p}-agent`);
  cleanups.push(removeDs);
  const ctl = await podIdentity(tb, { sa: 'osfleet-controller', node: cpNode, pod: `${p}-controller` });
  cleanups.push(() => deletePodNow(tb.kc, OSFLEET_NS, ctl.pod));
  const agent = await podIdentity(tb, { sa: 'osfleet-agent', node: nodeName, pod: `${p}-agent`, owner });
  cleanups.push(() => deletePodNow(tb.kc, OSFLEET_NS, agent.pod));

  repo = await tb.createRepo(p);
  cleanups.push(() => repo.remove());
  await repo.commitAndPush({ 'versions.yaml': allVersions(), 'policy.yaml': policyDoc(images.good.v1), 'settings.yaml': settingsDoc(SYSCTL_1, []) }, 'fleet: 1.0.0');
  await core.createNamespacedSecret({ namespace: OSFLEET_NS, body: { metadata: { name: `${p}-git` }, stringData: { username: tb.git.auth!.username, password: tb.git.auth!.password } } });
  cleanups.push(() => core.deleteNamespacedSecret({ namespace: OSFLEET_NS, name: `${p}-git` }));
  await core.createNamespacedSecret({ namespace: OSFLEET_NS, body: { metadata: { name: `${p}-hook` }, stringData: { token: HOOK } } });
  cleanups.push(() => core.deleteNamespacedSecret({ namespace: OSFLEET_NS, name: `${p}-hook` }));
  await createFleetSource(tb.kc, p, { url: repo.url, namespace: OSFLEET_NS, secret: `${p}-git`, webhookSecret: `${p}-hook` });
  controller = await startControllerProcess({
    kubeconfig: ctl.kubeconfig,
    namespace: OSFLEET_NS,
    cacheDir: path.join(workDir, 'git-cache'),
    identity: `${p}-controller`,
    logDir: workDir,
    leaseName: `${p}-leader`,
    rollout: 'on',
  });
  cleanups.push(() => controller.stop());

  // The node's identity, as a provisioning system would hand it over: the agent's environment and
  // a kubeconfig with the pod-bound token, through QEMU fw_cfg (image/rootfs-files/usr/lib/osfleet/provision).
  const ca = fs.readFileSync(tb.cluster.caCert).toString('base64');
  const kubeconfig = `apiVersion: v1
kind: Config
clusters: [{name: test, cluster: {server: "https://${API_GUEST_IP}:443", certificate-authority-data: ${ca}}}]
users: [{name: agent, user: {token: "${agent.token}"}}]
contexts: [{name: test, context: {cluster: test, user: agent}}]
current-context: test
`;
  const apiPort = Number(new URL(tb.cluster.server).port);
  const imagePort = Number(new URL(server.url).port);
  vm = await Vm.create({
    name: nodeName,
    disk: images.disk,
    workDir,
    accel: accel.accel,
    fwCfg: { 'agent.env': `NODE_NAME=${nodeName}\nOSFLEET_AGENT_ARGS=--health-check-interval 2s\n`, kubeconfig, hostname: nodeName },
    forwards: [
      { guestIp: API_GUEST_IP, guestPort: 443, hostPort: apiPort },
      { guestIp: GUEST_IMAGE_HOST, guestPort: GUEST_IMAGE_PORT, hostPort: imagePort },
    ],
  });
  cleanups.push(() => vm.stop());
}, 300_000);

afterAll(async () => {
  // The serial console of every boot, kept as a test artifact (test-artifacts/ is not committed).
  if (vm) {
    const dir = path.join(import.meta.dirname, '../../test-artifacts/vm');
    fs.mkdirSync(dir, { recursive: true });
    fs.copyFileSync(vm.consoleLog, path.join(dir, `${nodeName}.console.log`));
    fs.copyFileSync(vm.qemuLog, path.join(dir, `${nodeName}.qemu.log`));
  }
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  if (Object.keys(figures).length) process.stdout.write(`VM figures (${accel?.accel}): ${JSON.stringify(figures)}\n`);
  if (vm?.resetHangs.length) process.stdout.write(`VM resets that hung and were power-cycled: ${JSON.stringify(vm.resetHangs)}\n`);
  if (!process.env.OSFLEET_KEEP_LOGS) fs.rmSync(workDir, { recursive: true, force: true });
});

// ---------- the story ----------

// In order: each step builds on the last (vitest runs a file's tests one after another unless told otherwise).
// Once a step fails, the ones after it fail at once instead of each waiting out its timeout on a
// machine that is not where they expect it.
let brokenAt: string | undefined;
function step(name: string, fn: () => Promise<void>, timeoutMs: number): void {
  it(name, async ({ onTestFailed }) => {
    if (brokenAt) throw new Error(`not run: the story broke at "${brokenAt}", and each step starts where the one before it ended`);
    onTestFailed(() => {
      brokenAt ??= name;
    });
    await fn();
  }, timeoutMs);
}

describe(`a real node under QEMU`, () => {
  step('first boot: GRUB boots slot A, the agent reports slot A and 1.0.0, the sysctl is applied live', async () => {
    const t0 = Date.now();
    vm.start();
    await waitNode('the agent reports slot A with 1.0.0', (o) => o.status?.bootedSlot === 'A' && o.status?.bootedVersion === '1.0.0', BOOT_MS);
    figure('vm.boot_to_agent_ready_s', (Date.now() - t0) / 1000);
    const cmdline = await guestCmdline();
    expect(cmdline).toMatch(/(^| )osfleet\.slot=A( |$)/);
    expect(cmdline).not.toContain('osfleet.try=1');
    await until('sysctl applied in the guest', async () => ((await guestSysctl(SYSCTL_KEY)) === SYSCTL_1 ? true : undefined), { timeoutMs: 120_000, intervalMs: 1000, onTimeout: diagnostics });
    // The persist partition and the /etc overlay are in place.
    const mounts = await vm.read('/proc/mounts');
    expect(mounts).toMatch(/ \/persist ext4 rw/);
    // (The overlay's options name the paths as the initramfs saw them, under its /root.)
    expect(mounts).toMatch(/^overlay \/etc overlay .*upperdir=[^,]*\/persist\/overlay\/etc\/upper/m);
    expect(mounts).toMatch(/^overlay \/var overlay .*upperdir=[^,]*\/persist\/overlay\/var\/upper/m);
    expect(mounts).toMatch(/^\/dev\/vda3 \/ squashfs ro/m);
  }, BOOT_MS + 180_000);

  step('push 2.0.0 with a kernel argument; power cut mid-download; the write completes; reboot into B; Done', async () => {
    server.throttle(4 * 1024 * 1024);
    const pushedAt = Date.now();
    await push({ 'policy.yaml': policyDoc(images.good.v2), 'settings.yaml': settingsDoc(SYSCTL_2, [KARG]) }, 'fleet: 2.0.0, THP madvise');
    // The cut: while the image streams into slot B.
    await waitNode('a download in progress', (o) => o.status?.phase === 'Downloading' && (o.status?.download?.bytesDone ?? 0) > 8 * 1024 * 1024, 5 * 60_000);
    const bootsBefore = vm.kernelBoots();
    await vm.powerCut();
    server.throttle(undefined);
    vm.start();
    expect(await guestCmdline()).toMatch(/(^| )osfleet\.slot=A( |$)/); // an interrupted write is never armed
    expect(vm.kernelBoots()).toBe(bootsBefore + 1);
    const done = await waitNode(
      'the node runs 2.0.0 from slot B, Done',
      (o) => o.status?.bootedSlot === 'B' && o.status?.bootedVersion === '2.0.0' && o.status?.phase === 'Done',
      12 * 60_000,
    );
    figure('vm.upgrade_push_to_done_s', (Date.now() - pushedAt) / 1000);
    expect(done.status.slots.B).toMatchObject({ version: '2.0.0', sha256: images.good.v2.sha256 });
    const cmdline = await guestCmdline();
    expect(cmdline).toMatch(/(^| )osfleet\.slot=B( |$)/);
    expect(cmdline.split(' ')).toContain(KARG);
    expect(await vm.read('/sys/kernel/mm/transparent_hugepage/enabled')).toContain('[madvise]');
    // Read back from the disk before it was armed (the agent's journal on the console).
    expect(vm.console()).toMatch(/"device":"\/dev\/vda4","bytes":\d+,"ms":\d+,"cache":"dropped","msg":"written slot verified on its device before arming"/);
    // Made permanent by the agent on B.
    expect(await vm.read('/boot/osfleet/grub/grubenv')).toMatch(/^saved_entry=osfleet-B$/m);
    // The settings: in force on the new slot after the reboot, from the persisted file.
    expect(await guestSysctl(SYSCTL_KEY)).toBe(SYSCTL_2);
    expect(await vm.read('/etc/sysctl.d/90-osfleet.conf')).toContain(`${SYSCTL_KEY} = ${SYSCTL_2}`);
  }, 20 * 60_000);

  step('git revert: back to 1.0.0 on slot A from the other slot, without a download', async () => {
    const requestsBefore = server.requests.length;
    const from = vm.consoleSize();
    await git(['revert', '--no-edit', 'HEAD'], repo.dir);
    const t0 = Date.now();
    await pushHead();
    await waitNode('the node runs 1.0.0 from slot A, Done', (o) => o.status?.bootedSlot === 'A' && o.status?.bootedVersion === '1.0.0' && o.status?.phase === 'Done', 10 * 60_000);
    figure('vm.revert_push_to_done_s', (Date.now() - t0) / 1000);
    expect(server.requests.slice(requestsBefore)).toEqual([]);
    // No download, but slot A was read back from the disk (its cache dropped) before it was armed.
    expect(vm.console().slice(from)).toMatch(/"action":"flip","device":"\/dev\/vda3","bytes":\d+,"ms":\d+,"cache":"dropped","msg":"slot verified on its device before arming"/);
    const cmdline = await guestCmdline();
    expect(cmdline).toMatch(/(^| )osfleet\.slot=A( |$)/);
    expect(cmdline.split(' ')).not.toContain(KARG);
    expect(await vm.read('/boot/osfleet/grub/grubenv')).toMatch(/^saved_entry=osfleet-A$/m);
    expect(await guestSysctl(SYSCTL_KEY)).toBe(SYSCTL_1);
  }, 12 * 60_000);

  const brokenCases: Array<[string, () => VmImage, RegExp, RegExp | undefined]> = [
    ['it has no kernel', () => images.broken.noKernel, /GRUB could not start it \(no \/boot\/vmlinuz on osfleet-B/, undefined],
    ['GRUB cannot load the kernel it finds', () => images.broken.badKernel, /never reported healthy/, /invalid magic number|you need to load the kernel first/],
    ['its kernel panics', () => images.broken.panic, /never reported healthy/, /Kernel panic/],
    ['its init cannot start', () => images.broken.noInit, /never reported healthy/, /No init found|requested \/sbin\/init|Attempted to kill init/],
  ];
  for (const [what, img, reason, onConsole] of brokenCases) {
    step(`a slot that cannot boot (${what}) falls back to A with no person at the console: RolledBack`, async () => {
      const from = vm.consoleSize();
      const t0 = Date.now();
      await push({ 'policy.yaml': policyDoc(img()) }, `fleet: ${img().version}`);
      // The message names the version: a RolledBack left from the case before does not count.
      const o = await waitNode(`RolledBack from ${img().version}`, (n) => n.status?.phase === 'RolledBack' && (n.status?.message ?? '').includes(`(version ${img().version})`), 12 * 60_000);
      if (what === 'it has no kernel') figure('vm.fallback_s', (Date.now() - t0) / 1000);
      expect(o.status.message).toMatch(reason);
      expect(o.status.bootedSlot).toBe('A');
      expect(o.status.bootedVersion).toBe('1.0.0');
      if (onConsole) expect(vm.console().slice(from)).toMatch(onConsole);
      expect(await guestCmdline()).toMatch(/(^| )osfleet\.slot=A( |$)/);
      expect(await vm.read('/boot/osfleet/grub/grubenv')).toMatch(/^saved_entry=osfleet-A$/m);
    }, 14 * 60_000);
  }

  step('a slot that boots but fails its health check falls back to A: RolledBack naming the check', async () => {
    const t0 = Date.now();
    await push({ 'policy.yaml': policyDoc(images.good.unhealthy) }, 'fleet: 3.0.0-unhealthy');
    const o = await waitNode('RolledBack from 3.0.0-unhealthy', (n) => n.status?.phase === 'RolledBack' && /3\.0\.0-unhealthy/.test(n.status?.message ?? ''), 15 * 60_000);
    figure('vm.health_fallback_s', (Date.now() - t0) / 1000);
    expect(o.status.message).toContain(UNHEALTHY_CHECK);
    expect(o.status.bootedSlot).toBe('A');
    expect(await guestCmdline()).toMatch(/(^| )osfleet\.slot=A( |$)/);
  }, 16 * 60_000);
});
