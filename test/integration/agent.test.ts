// The node agent end to end: the real `osfleet agent` process, with its real ServiceAccount token
// (bound to a pod on its node, so the RBAC and admission policy from deploy/ apply), against the
// real apiserver, on a sandbox host: persist dir and GRUB env block in a temp dir, slots A and B on
// loop devices named by partition label (a by-partlabel directory of symlinks under the sandbox root),
// sysctls in a network namespace (the agent runs inside it with `ip netns exec`, so
// its /proc/sys/net is the namespace's; the apiserver and the image server are forwarded into the
// namespace's loopback over Unix sockets), and a reboot command that only records the request.
// The test plays the controller (writes OSNode spec) and the machine (performs the reboot: kills the
// agent, boots what GRUB would boot from the env block, starts the agent again), and checks what
// the agent reports in OSNode status against what it did to the host. The agent runs with an
// operator health check (`--health-check kubelet=exec:…`) whose outcome the test controls, so a new
// slot can come up unhealthy.
//
// Wall time: 30-50 s after the test bed is up (6 agent starts under tsx and a 5 s throttled download
// dominate); printed at the end.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simulateGrubBoot } from '../../agent/bootloader.js';
import { readGrubEnvFile, writeGrubEnvFile } from '../../agent/grubenv.js';
import type { Slot } from '../../agent/host.js';
import { SYSCTL_FILE } from '../../agent/sysctl.js';
import { writeSlots } from '../../agent/slots.js';
import {
  attachLoop,
  cleanupTempDirs,
  createNetns,
  createSandbox,
  deleteNetns,
  detachLoop,
  forwardIntoNetns,
  loopUnavailable,
  netnsUnavailable,
  sha256OfFile,
  startImageServer,
  tempDir,
  type ImageServer,
  type NetnsForward,
  type Sandbox,
} from '../../agent/testing/sandbox.js';
import { skipUnlessRequired } from '../../agent/testing/host-capabilities.js';
import { osfleetArgv } from '../harness/osfleet-cli.js';
import { deletePodNow, installDeploy, kubeRequest, podIdentity, testbed, until, waitAgentPolicyActive } from '../harness/index.js';
import { logTail, startProcess, type Supervised } from '../harness/processes.js';
import { KubeClient } from '../../controller/kube/client.js';
import { WatchCache, type CachedObject } from '../../controller/kube/watch-cache.js';
import { quietLog } from './rollout-fixtures.js';

type Obj = Record<string, any>;

const unavailable = skipUnlessRequired('agent end-to-end test (loop devices, network namespaces)', loopUnavailable() ?? netnsUnavailable());

const OSNODES = '/apis/osfleet.dev/v1alpha1/osnodes';
const MiB = 1024 * 1024;
const SLOT_BYTES = 16 * MiB;

describe.skipIf(unavailable !== undefined)('osfleet agent on a sandbox host, against the real apiserver', () => {
  const tb = testbed();
  const cleanups: Array<() => Promise<unknown> | unknown> = [];
  const node = tb.uniqueName('agent-node');
  const ns = `osf-agent-${randomBytes(3).toString('hex')}`;
  const started = Date.now();
  let dir: string;
  let sandbox: Sandbox;
  let devices: Record<Slot, string>;
  let kubeconfig: string;
  let images: ImageServer;
  let forward: NetnsForward;
  let agent: Supervised | undefined;
  let boots = 0;
  const rebootLog = () => path.join(dir, 'reboot-requests');
  /** While this file exists, the "kubelet" health check passes. */
  const kubeletUp = () => path.join(dir, 'kubelet-up');
  const kubeletCheck = () => path.join(dir, 'kubelet-check.sh');
  const v1 = { version: '1.0', bytes: randomBytes(4 * MiB) };
  const v2 = { version: '2.0', bytes: randomBytes(10 * MiB) };
  const v3 = { version: '3.0', bytes: randomBytes(1 * MiB) };
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
  let slotAHash: string;

  // ---- the machine ----

  function startAgent(): void {
    const c = sandbox.config;
    const [node_, args] = osfleetArgv([
      'agent',
      '--node-name', node,
      '--kubeconfig', kubeconfig,
      '--host-root', dir,
      '--proc-sys', '/proc/sys', // the namespace's: the agent runs inside it
      '--persist', c.persistDir,
      '--grubenv', c.grubenvPath,
      '--cmdline', c.cmdlinePath,
      '--slot-a', 'partlabel:osfleet-A',
      '--slot-b', 'partlabel:osfleet-B',
      '--partlabel-dir', path.join(dir, 'dev/disk/by-partlabel'),
      '--reboot-command', `/bin/sh ${path.join(dir, 'reboot.sh')}`,
      '--health-check', `kubelet@3s=exec:/bin/sh ${kubeletCheck()}`,
      '--health-check-attempts', '3',
      '--health-check-interval', '300ms',
      '--log-level', 'debug',
    ]);
    boots++;
    agent = startProcess(`agent-boot-${boots}`, 'ip', ['netns', 'exec', ns, node_, ...args], path.join(dir, 'agent.log'));
  }

  function rebootRequests(): number {
    return existsSync(rebootLog()) ? readFileSync(rebootLog(), 'utf8').split('\n').filter(Boolean).length : 0;
  }

  /** Waits for the agent's reboot request, then reboots: the agent dies, GRUB boots, the agent starts. */
  async function rebootWhenAsked(expectedRequests: number): Promise<{ slot: Slot; cmdline: string[] }> {
    await until('the agent to run its reboot command', async () => (rebootRequests() >= expectedRequests ? true : undefined), {
      timeoutMs: 30_000,
      onTimeout: diagnostics,
    });
    // It asks once and then waits for the machine to go down, whatever wakes it meanwhile.
    await wakeAndWaitForPass();
    expect(rebootRequests()).toBe(expectedRequests);
    const pid = agent!.pid;
    process.kill(pid, 'SIGKILL'); // the machine goes down
    await agent!.exited;
    const boot = simulateGrubBoot(await readGrubEnvFile(sandbox.config.grubenvPath));
    await writeGrubEnvFile(sandbox.config.grubenvPath, boot.newEnv);
    sandbox.boot(boot.cmdline);
    startAgent();
    return { slot: boot.bootedSlot, cmdline: boot.cmdline };
  }

  function liveSysctl(key: string): string {
    return execFileSync('ip', ['netns', 'exec', ns, 'cat', `/proc/sys/${key.replaceAll('.', '/')}`], { encoding: 'utf8' }).trim().split(/\s+/).join(' ');
  }

  async function grubenv(): Promise<Map<string, string>> {
    return readGrubEnvFile(sandbox.config.grubenvPath);
  }

  // ---- the controller ----

  async function osnode(): Promise<Obj> {
    const r = await kubeRequest(tb.kc, 'GET', `${OSNODES}/${node}`);
    expect(r.status, r.body).toBe(200);
    return r.json<Obj>();
  }

  /** Sets (replaces, not merges: a key removed from config must go) the given spec fields. */
  async function setSpec(spec: Obj): Promise<void> {
    const ops = Object.entries(spec).map(([k, value]) => ({ op: 'add', path: `/spec/${k}`, value }));
    const r = await kubeRequest(tb.kc, 'PATCH', `${OSNODES}/${node}`, ops, 'application/json-patch+json');
    expect(r.status, r.body).toBe(200);
  }

  /**
   * Wakes the agent with a write to its OSNode (an annotation: the spec stays as it is) and waits for
   * the agent to log the end of a pass over that object or a later one. What the pass did not do
   * after that is observed, not hoped for after a sleep.
   */
  let wakes = 0;
  async function wakeAndWaitForPass(): Promise<void> {
    const r = await kubeRequest(tb.kc, 'PATCH', `${OSNODES}/${node}`, { metadata: { annotations: { 'osfleet.test/wake': String(++wakes) } } }, 'application/merge-patch+json');
    expect(r.status, r.body).toBe(200);
    const rv = Number(r.json<Obj>().metadata.resourceVersion);
    await until(
      `an agent pass over resourceVersion ${rv}`,
      async () => {
        const lines = existsSync(agent!.logFile) ? readFileSync(agent!.logFile, 'utf8').split('\n') : [];
        return lines.some((l) => {
          if (!l.includes('"pass over"')) return false;
          const e = JSON.parse(l) as { msg?: string; resourceVersion?: string };
          return e.msg === 'pass over' && Number(e.resourceVersion) >= rv;
        })
          ? true
          : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 50, onTimeout: diagnostics },
    );
  }

  let lastStatus: Obj | undefined;
  function diagnostics(): string {
    return `status: ${JSON.stringify(lastStatus, null, 1)}\nagent log:\n${agent ? logTail(agent.logFile, 25) : '(not started)'}`;
  }

  /** Polls the OSNode until its status satisfies `ok`; returns that status. */
  async function statusWhen(what: string, ok: (s: Obj) => boolean, timeoutMs = 30_000): Promise<Obj> {
    return until(
      what,
      async () => {
        lastStatus = (await osnode()).status ?? {};
        return ok(lastStatus!) ? lastStatus : undefined;
      },
      { timeoutMs, intervalMs: 100, onTimeout: diagnostics },
    );
  }

  /** Every phase the status went through, as the watch saw it (a poll could miss a short one). */
  const phases: string[] = [];
  /** Every Downloading status the watch saw. */
  const downloading: Obj[] = [];
  /** `phases` from the first occurrence of `p` on (a late event of the phase before may lead). */
  const phasesFrom = (p: string) => (phases.includes(p) ? phases.slice(phases.indexOf(p)) : phases);
  let stopPhaseWatch: (() => void) | undefined;

  function configOf(sysctl: Record<string, string>, kernelArgs: { add: string[]; remove: string[] } = { add: [], remove: [] }): Obj {
    return { hash: `sha256:${createHash('sha256').update(JSON.stringify({ kernelArgs, sysctl })).digest('hex')}`, sysctl, kernelArgs };
  }
  const permit = (token: string, p: { stage?: boolean; applySettings?: boolean; reboot?: boolean }) => ({
    token,
    stage: p.stage ?? false,
    applySettings: p.applySettings ?? false,
    reboot: p.reboot ?? false,
  });
  const target = (version: string, bytes: Buffer, file: string, digest = sha(bytes)) => ({
    osName: 'workers',
    version,
    image: { url: `${images.url}/${file}`, sha256: digest, size: bytes.length },
  });

  beforeAll(async () => {
    await installDeploy(tb);

    // The Node, the OSNode the controller would create for it, and one of another node.
    const other = tb.uniqueName('agent-other');
    for (const n of [node, other]) {
      const created = await tb.createNode(n);
      cleanups.push(() => kubeRequest(tb.kc, 'DELETE', `/api/v1/nodes/${n}`));
      const r = await kubeRequest(tb.kc, 'POST', OSNODES, {
        apiVersion: 'osfleet.dev/v1alpha1',
        kind: 'OSNode',
        metadata: { name: n, ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: n, uid: created.metadata!.uid! }] },
        spec: { nodeName: n },
      });
      expect(r.status, r.body).toBe(201);
      cleanups.push(() => kubeRequest(tb.kc, 'DELETE', `${OSNODES}/${n}`));
    }
    // The agent's identity as the DaemonSet pod on `node` gets it; its writes go through the policy.
    const id = await podIdentity(tb, { sa: 'osfleet-agent', node });
    cleanups.push(() => deletePodNow(tb.kc, 'osfleet-system', id.pod));
    kubeconfig = id.kubeconfig;
    await waitAgentPolicyActive(id, other);

    // The host: slot A holds the installed 1.0 image; slot B is empty.
    dir = tempDir('osfleet-agent-e2e-');
    devices = { A: '', B: '' };
    for (const slot of ['A', 'B'] as const) {
      const loop = attachLoop(dir, `slot-${slot}.backing`, SLOT_BYTES);
      cleanups.push(() => detachLoop(loop.device));
      devices[slot] = loop.device;
    }
    // The slots as udev names GPT partitions: /dev/disk/by-partlabel/<label> → the device node.
    mkdirSync(path.join(dir, 'dev/disk/by-partlabel'), { recursive: true });
    for (const slot of ['A', 'B'] as const) symlinkSync(devices[slot], path.join(dir, 'dev/disk/by-partlabel', `osfleet-${slot}`));
    sandbox = createSandbox({ dir, slotDevices: devices, booted: 'A' });
    sandbox.boot(['osfleet.slot=A']);
    const fh = await open(devices.A, 'r+');
    await fh.write(v1.bytes, 0, v1.bytes.length, 0);
    await fh.sync();
    await fh.close();
    await writeSlots(sandbox.config.persistDir, { version: 1, slots: { A: { version: v1.version, sha256: sha(v1.bytes), size: v1.bytes.length } } });
    slotAHash = await sha256OfFile(devices.A);
    writeFileSync(path.join(dir, 'reboot.sh'), `#!/bin/sh\necho "$(date +%s%3N)" >> ${rebootLog()}\n`);
    chmodSync(path.join(dir, 'reboot.sh'), 0o755);
    writeFileSync(kubeletCheck(), `#!/bin/sh\ntest -e ${kubeletUp()} || { echo "kubelet is not running (no ${kubeletUp()})" >&2; exit 1; }\n`);
    writeFileSync(kubeletUp(), '');

    // The image server (host loopback), and the network namespace the agent lives in.
    const imageDir = tempDir('osfleet-images-');
    writeFileSync(path.join(imageDir, 'v2.img'), v2.bytes);
    writeFileSync(path.join(imageDir, 'v3.img'), v3.bytes);
    images = await startImageServer(imageDir);
    cleanups.push(() => images.close());
    createNetns(ns);
    cleanups.push(() => deleteNetns(ns));
    forward = await forwardIntoNetns(ns, [Number(new URL(tb.cluster.server).port), Number(new URL(images.url).port)]);
    cleanups.push(() => forward.close());

    // Phase history through a watch, as the controller sees it: the controller's own informer, which
    // resumes from the last resourceVersion when a watch ends, so no event is lost in between.
    const phaseClient = new KubeClient(tb.kc);
    const phaseWatch = new WatchCache<Obj & CachedObject>({ kubeConfig: tb.kc, client: phaseClient, path: OSNODES, fieldSelector: `metadata.name=${node}`, logger: quietLog, name: 'phases' });
    phaseWatch.onChange((type, obj) => {
      if (type === 'delete') return;
      const p = obj.status?.phase as string | undefined;
      if (p && phases[phases.length - 1] !== p) phases.push(p);
      if (p === 'Downloading') downloading.push(obj.status);
    });
    await phaseWatch.start();
    stopPhaseWatch = () => {
      phaseWatch.stop();
      phaseClient.close();
    };

    startAgent();
  }, 120_000);

  afterAll(async () => {
    stopPhaseWatch?.();
    if (agent && !agent.hasExited()) await agent.stop(2000);
    for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined);
    cleanupTempDirs();
    console.log(`agent end-to-end: ${((Date.now() - started) / 1000).toFixed(1)} s, ${boots} agent boots`);
  });

  it('reports the booted system before anything is permitted', async () => {
    const s = await statusWhen('first status', (s) => s.bootedSlot === 'A' && s.phase === 'Idle');
    expect(s.bootedVersion).toBe('1.0');
    expect(s.slots).toEqual({ A: { version: '1.0', sha256: sha(v1.bytes) } });
    expect(s.message).toMatch(/No target version/);
  });

  it('applies net.* sysctls live in its network namespace and persists them; a removed key gets its old value back', async () => {
    const before = { forward: liveSysctl('net.ipv4.ip_forward'), somaxconn: liveSysctl('net.core.somaxconn') };
    const hostForward = readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim();
    const wanted = { forward: before.forward === '1' ? '0' : '1', somaxconn: before.somaxconn === '1234' ? '1235' : '1234' };
    const cfg = configOf({ 'net.ipv4.ip_forward': wanted.forward, 'net.core.somaxconn': wanted.somaxconn });

    // Config without permission: nothing changes, but the grant is answered.
    await setSpec({ config: cfg, permit: permit('s0', {}) });
    let s = await statusWhen('settings refused without applySettings', (s) => s.observedPermitToken === 's0');
    expect(s.appliedConfigHash).toBeUndefined();
    expect(liveSysctl('net.core.somaxconn')).toBe(before.somaxconn);

    await setSpec({ permit: permit('s1', { applySettings: true }) });
    s = await statusWhen('settings applied', (s) => s.observedPermitToken === 's1');
    expect(s.appliedConfigHash).toBe(cfg.hash);
    expect(s.phase).toBe('Idle');
    expect(s.pendingReboot).toEqual([]);
    expect(s.conditions.find((c: Obj) => c.type === 'SettingsApplied')).toMatchObject({ status: 'True', reason: 'Applied' });
    expect(liveSysctl('net.ipv4.ip_forward')).toBe(wanted.forward);
    expect(liveSysctl('net.core.somaxconn')).toBe(wanted.somaxconn);
    expect(readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim()).toBe(hostForward); // the host's own is untouched
    const persisted = readFileSync(path.join(sandbox.config.persistDir, SYSCTL_FILE), 'utf8');
    expect(persisted).toContain(`net.core.somaxconn = ${wanted.somaxconn}`);
    expect(persisted).toContain(`net.ipv4.ip_forward = ${wanted.forward}`);

    const smaller = configOf({ 'net.ipv4.ip_forward': wanted.forward });
    await setSpec({ config: smaller, permit: permit('s2', { applySettings: true }) });
    s = await statusWhen('key removed', (s) => s.observedPermitToken === 's2');
    expect(s.appliedConfigHash).toBe(smaller.hash);
    expect(liveSysctl('net.core.somaxconn')).toBe(before.somaxconn);
    expect(liveSysctl('net.ipv4.ip_forward')).toBe(wanted.forward);
    expect(readFileSync(path.join(sandbox.config.persistDir, SYSCTL_FILE), 'utf8')).not.toContain('somaxconn');
  });

  it('upgrades A → B: downloads into slot B only with stage (progress in status), waits for reboot, verifies the new slot and reports it', async () => {
    const t = target(v2.version, v2.bytes, 'v2.img');
    await setSpec({ target: t, permit: permit('u0', { applySettings: true }) });
    let s = await statusWhen('waiting for stage permit', (s) => s.observedPermitToken === 'u0');
    expect(s.phase).toBe('Idle');
    expect(s.message).toMatch(/waiting for permission to stage/);
    expect(images.requests).toHaveLength(0);

    phases.length = 0;
    downloading.length = 0;
    images.throttle(2 * MiB); // 10 MiB in about 5 s: long enough for progress reports
    await setSpec({ permit: permit('u1', { stage: true, applySettings: true }) });
    s = await statusWhen('staged', (s) => s.observedPermitToken === 'u1');
    images.throttle(undefined);
    expect(s.phase).toBe('Staged');
    // While it streamed, status said how far it was, in bytes of the whole image.
    const progress = downloading.filter((d) => d.download !== undefined);
    expect(progress.length, JSON.stringify(downloading)).toBeGreaterThan(0);
    for (const d of progress) {
      expect(d.download.bytesTotal).toBe(v2.bytes.length);
      expect(d.download.bytesDone).toBeGreaterThan(0);
      expect(d.download.bytesDone).toBeLessThanOrEqual(v2.bytes.length);
      expect(d.message).toMatch(/^Writing the new image: \d+ MiB of 10 MiB\.$/);
    }
    expect(progress.some((d) => d.download.bytesDone < v2.bytes.length), 'a report from the middle of the download').toBe(true);
    const done = progress.map((d) => d.download.bytesDone as number);
    expect([...done].sort((a, b) => a - b)).toEqual(done); // never backwards
    expect(s.conditions.find((c: Obj) => c.type === 'Ready')).toMatchObject({ status: 'True', reason: 'WaitingForRebootPermit' });
    // The poll above can see Staged before the watch delivers it (failed once in CI under load).
    await until('the watch to see Staged', async () => (phases.at(-1) === 'Staged' ? true : undefined), { timeoutMs: 5000 });
    expect(phases.filter((p) => p !== 'Idle')).toEqual(['Downloading', 'Staged']);
    expect(s.slots.B).toEqual({ version: '2.0', sha256: sha(v2.bytes) });
    expect(s.download).toBeUndefined(); // a finished download is not reported as one
    expect(await sha256OfFile(devices.B, v2.bytes.length)).toBe(sha(v2.bytes));
    expect(await sha256OfFile(devices.A)).toBe(slotAHash);
    expect((await grubenv()).get('next_entry')).toBe('osfleet-B');
    expect(rebootRequests()).toBe(0);

    phases.length = 0;
    await setSpec({ permit: permit('u2', { stage: true, applySettings: true, reboot: true }) });
    await statusWhen('rebooting', (s) => s.phase === 'Rebooting');
    const boot = await rebootWhenAsked(1);
    expect(boot.slot).toBe('B');
    s = await statusWhen('upgraded', (s) => s.bootedSlot === 'B' && s.phase === 'Done' && s.observedPermitToken === 'u2');
    // On the new slot: health checks first (Verifying), permanent only after they passed (Done).
    await until('the watch to see Done', async () => (phases.at(-1) === 'Done' ? true : undefined), { timeoutMs: 5000 });
    expect(phasesFrom('Rebooting')).toEqual(['Rebooting', 'Verifying', 'Done']);
    expect(s.bootedVersion).toBe('2.0');
    expect(s.message).toMatch(/Running the target version 2.0 from slot B/);
    const env = await grubenv();
    expect(env.get('saved_entry')).toBe('osfleet-B'); // made permanent after the health check
    expect(env.get('next_entry')).toBe('');
    expect(await sha256OfFile(devices.A)).toBe(slotAHash);
    // The sysctls applied before are still what the (unchanged) config says.
    expect(s.appliedConfigHash).toBe((await osnode()).spec.config.hash);
  });

  it('rolls back to the version still in slot A without a single HTTP request', async () => {
    const requests = images.requests.length;
    await setSpec({ target: target(v1.version, v1.bytes, 'v1.img'), permit: permit('r1', { stage: true, applySettings: true, reboot: true }) });
    const boot = await rebootWhenAsked(2);
    expect(boot.slot).toBe('A');
    const s = await statusWhen('rolled back', (s) => s.bootedSlot === 'A' && s.phase === 'Done' && s.observedPermitToken === 'r1');
    expect(s.bootedVersion).toBe('1.0');
    expect(images.requests.length).toBe(requests);
    expect((await grubenv()).get('saved_entry')).toBe('osfleet-A');
    expect(await sha256OfFile(devices.A)).toBe(slotAHash);
  });

  it('writes kernel args for the next boot, reboots once when permitted, and then has nothing pending', async () => {
    const cfg = configOf({ 'net.ipv4.ip_forward': liveSysctl('net.ipv4.ip_forward') }, { add: ['quiet', 'osfleet.test=1'], remove: [] });
    await setSpec({ config: cfg, permit: permit('k1', { stage: true, applySettings: true }) });
    let s = await statusWhen('kernel args pending', (s) => s.observedPermitToken === 'k1');
    expect(s.appliedConfigHash).toBe(cfg.hash);
    expect(s.pendingReboot).toEqual(['kernelArgs']);
    expect(s.conditions.find((c: Obj) => c.type === 'SettingsApplied')).toMatchObject({ status: 'True', reason: 'WaitingForReboot' });
    expect((await grubenv()).get('osfleet_kargs_A')).toBe('quiet osfleet.test=1');
    expect(rebootRequests()).toBe(2);

    await setSpec({ permit: permit('k2', { stage: true, applySettings: true, reboot: true }) });
    const boot = await rebootWhenAsked(3);
    expect(boot.slot).toBe('A');
    expect(boot.cmdline).toEqual(expect.arrayContaining(['osfleet.slot=A', 'quiet', 'osfleet.test=1']));
    s = await statusWhen('kernel args in effect', (s) => s.observedPermitToken === 'k2' && s.pendingReboot?.length === 0);
    expect(s.phase).toBe('Done');
    expect(s.conditions.find((c: Obj) => c.type === 'SettingsApplied')).toMatchObject({ status: 'True', reason: 'Applied' });
    // One reboot per grant: the same permit does not reboot the node again.
    await wakeAndWaitForPass();
    expect(rebootRequests()).toBe(3);
  });

  it('refuses an image whose digest does not match: Failed with a readable message, never armed, no reboot', async () => {
    const wrong = sha(Buffer.from('not the image'));
    const requests = images.requests.length;
    await setSpec({ target: target(v3.version, v3.bytes, 'v3.img', wrong), permit: permit('d1', { stage: true, applySettings: true, reboot: true }) });
    const s = await statusWhen('digest mismatch', (s) => s.observedPermitToken === 'd1');
    expect(s.phase).toBe('Failed');
    expect(s.message).toContain(`has sha256 ${sha(v3.bytes)}, but the pinned digest is ${wrong}`);
    expect(s.message).toContain('slot B was NOT armed');
    expect(s.conditions.find((c: Obj) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'StageFailed' });
    expect(images.requests.length).toBeGreaterThan(requests);
    expect(s.slots).toEqual({ A: { version: '1.0', sha256: sha(v1.bytes) } }); // slot B's old content is gone, and reported so
    expect(s.bootedSlot).toBe('A');
    expect((await grubenv()).get('next_entry') ?? '').toBe('');
    await wakeAndWaitForPass();
    expect(rebootRequests()).toBe(3);
  });

  it('a new slot that fails its health checks is never made permanent: fallback reboot, RolledBack with the reason', async () => {
    phases.length = 0;
    await setSpec({ target: target(v3.version, v3.bytes, 'v3.img'), permit: permit('h1', { stage: true, applySettings: true, reboot: true }) });
    await statusWhen('armed and rebooting', (s) => s.phase === 'Rebooting' && s.slots?.B?.version === '3.0');
    expect((await grubenv()).get('next_entry')).toBe('osfleet-B');
    rmSync(kubeletUp()); // the kubelet on the new system will not come up
    try {
      const intoB = await rebootWhenAsked(4);
      expect(intoB.slot).toBe('B');
      let s = await statusWhen('health check failed on B', (s) => s.bootedSlot === 'B' && s.phase === 'Rebooting');
      const why = `kubelet: "/bin/sh ${kubeletCheck()}" exited with code 1: kubelet is not running (no ${kubeletUp()})`;
      expect(s.message).toBe(`slot B (version 3.0) booted but failed its health checks (${why}); rebooting so GRUB falls back to slot A.`);
      expect(s.conditions.find((c: Obj) => c.type === 'Ready')).toMatchObject({ reason: 'HealthCheckFailed' });
      await until('the fallback reboot request', async () => (rebootRequests() >= 5 ? true : undefined), { timeoutMs: 30_000, onTimeout: diagnostics });
      const env = await grubenv();
      expect(env.get('saved_entry')).toBe('osfleet-A'); // never made permanent
      expect(env.get('next_entry') ?? '').toBe(''); // and disarmed before the fallback reboot

      const back = await rebootWhenAsked(5);
      expect(back.slot).toBe('A');
      s = await statusWhen('rolled back', (s) => s.bootedSlot === 'A' && s.phase === 'RolledBack' && s.observedPermitToken === 'h1');
      expect(s.message).toBe(
        `The node was set to boot slot B (version 3.0) once; it booted but failed its health checks (${why}), so GRUB fell back to slot A (version 1.0). Set a different target version to try again.`,
      );
      expect(s.conditions.find((c: Obj) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'FellBack' });
      expect(s.bootedVersion).toBe('1.0');
      await until('the watch to see RolledBack', async () => (phases.at(-1) === 'RolledBack' ? true : undefined), { timeoutMs: 5000 });
      expect(phasesFrom('Downloading')).toEqual(['Downloading', 'Rebooting', 'Verifying', 'Rebooting', 'RolledBack']);
      expect((await grubenv()).get('saved_entry')).toBe('osfleet-A');
      expect(await sha256OfFile(devices.A)).toBe(slotAHash);
      // Sticky: the same target is not tried again, the node stays up on A.
      await wakeAndWaitForPass();
      expect(rebootRequests()).toBe(5);
      expect((await osnode()).status.phase).toBe('RolledBack');
    } finally {
      writeFileSync(kubeletUp(), '');
    }
  });

  it('reports into a deleted and recreated OSNode', async () => {
    const old = await osnode();
    expect((await kubeRequest(tb.kc, 'DELETE', `${OSNODES}/${node}`)).status).toBe(200);
    const r = await kubeRequest(tb.kc, 'POST', OSNODES, {
      apiVersion: 'osfleet.dev/v1alpha1',
      kind: 'OSNode',
      metadata: { name: node, ownerReferences: old.metadata.ownerReferences },
      spec: { nodeName: node },
    });
    expect(r.status, r.body).toBe(201);
    const s = await statusWhen('status in the new object', (s) => s.phase === 'Idle' && s.bootedSlot === 'A');
    expect(s.bootedVersion).toBe('1.0');
    expect(s.observedPermitToken).toBeUndefined();
    expect(s.slots).toEqual({ A: { version: '1.0', sha256: sha(v1.bytes) }, B: { version: '3.0', sha256: sha(v3.bytes) } });
  });

  it('stops cleanly on SIGTERM', async () => {
    const a = agent!;
    const t0 = Date.now();
    process.kill(a.pid, 'SIGTERM');
    expect(await a.exited).toBe(0);
    expect(Date.now() - t0).toBeLessThan(3000);
  });
});
