import { createHash, randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootState, readBootState, simulateGrubBoot } from './bootloader.js';
import { readGrubEnvFile, writeGrubEnvFile } from './grubenv.js';
import { type HealthCheck, httpReachable } from './health.js';
import { createHost, type Host } from './host.js';
import { readSlots, writeSlots, type SlotsState } from './slots.js';
import { cleanupTempDirs, createSandbox, type ImageServer, type Sandbox, startImageServer, tempDir } from './testing/sandbox.js';
import { decideUpgrade, type UpgradeDecision, type UpgradeFacts, type UpgradeSpec } from './upgrade.js';
import { gatherUpgradeFacts, performUpgradeAction } from './upgrade-actions.js';

afterAll(cleanupTempDirs);

const SHA = (c: string) => c.repeat(64);
const facts = (over: Partial<UpgradeFacts>): UpgradeFacts => ({
  spec: {},
  booted: 'A',
  slots: { version: 1, slots: { A: { version: '1.0', sha256: SHA('a'), size: 1 } } },
  boot: bootState(new Map([['saved_entry', 'osfleet-A']])),
  ...over,
});
const target = (version: string, sha: string) => ({ target: { version, image: { url: 'https://img.example/x.img', sha256: sha } } });

describe('decideUpgrade (pure)', () => {
  it('is Idle without a target, and Done when the booted slot runs it', () => {
    expect(decideUpgrade(facts({}))).toMatchObject({ phase: 'Idle', reason: 'NoTarget', action: { kind: 'none' } });
    expect(decideUpgrade(facts({ spec: target('1.0', SHA('a')) }))).toMatchObject({ phase: 'Done', reason: 'UpToDate' });
  });

  it('waits for the stage permit, then downloads into the inactive slot', () => {
    const spec: UpgradeSpec = target('2.0', SHA('b'));
    expect(decideUpgrade(facts({ spec }))).toMatchObject({ phase: 'Idle', reason: 'WaitingForStagePermit', message: expect.stringMatching(/needs a download into slot B/) });
    expect(decideUpgrade(facts({ spec: { ...spec, permit: { stage: true } } })).action).toMatchObject({ kind: 'stage', slot: 'B', image: { version: '2.0' } });
    expect(decideUpgrade(facts({ spec, download: { bytesDone: 3 * 1048576, bytesTotal: 8 * 1048576 } }))).toMatchObject({
      phase: 'Downloading',
      download: { bytesDone: 3 * 1048576 },
      message: 'Writing 2.0 into slot B: 3.0 MiB of 8.0 MiB.',
    });
    expect(decideUpgrade(facts({ spec, stageError: 'digest mismatch' }))).toMatchObject({ phase: 'Failed', reason: 'StageFailed' });
  });

  it('a target already in the other slot is a rollback: flip, no download', () => {
    const slots: SlotsState = { version: 1, slots: { A: { version: '2.0', sha256: SHA('b'), size: 1 }, B: { version: '1.0', sha256: SHA('a'), size: 1 } } };
    const d = decideUpgrade(facts({ slots, spec: { ...target('1.0', SHA('a')), permit: { stage: true } } }));
    expect(d).toMatchObject({ phase: 'Staged', reason: 'RollingBack', action: { kind: 'flip', slot: 'B' } });
    // Same version but other bytes: not trusted, download again.
    expect(decideUpgrade(facts({ slots, spec: { ...target('1.0', SHA('c')), permit: { stage: true } } })).action.kind).toBe('stage');
  });

  it('armed: waits for the reboot permit, cancels when the target moves on', () => {
    const slots: SlotsState = { version: 1, slots: {}, attempt: { slot: 'B', version: '2.0', sha256: SHA('b'), fromSlot: 'A' } };
    const boot = bootState(new Map([['saved_entry', 'osfleet-A'], ['next_entry', 'osfleet-B'], ['osfleet_boot_tries', '0']]));
    expect(decideUpgrade(facts({ slots, boot, spec: target('2.0', SHA('b')) }))).toMatchObject({ phase: 'Staged', reason: 'WaitingForRebootPermit' });
    expect(decideUpgrade(facts({ slots, boot, spec: { ...target('2.0', SHA('b')), permit: { reboot: true } } })).action).toEqual({ kind: 'reboot' });
    expect(decideUpgrade(facts({ slots, boot, spec: target('3.0', SHA('c')) })).action).toEqual({ kind: 'cancel', slot: 'B' });
  });
});

// ---------------------------------------------------------------------------
// Simulated reboots: the real agent code on a sandbox host; "reboot" runs the GRUB
// logic of agent/boot/grub.cfg (simulateGrubBoot) on the env block and restarts the agent.

interface Node {
  sb: Sandbox;
  host: Host;
  reboots: number;
}

function makeNode(): Node {
  const sb = createSandbox({ booted: 'A' });
  const node: Node = { sb, host: createHost(sb.config), reboots: 0 };
  node.host = { ...createHost(sb.config), reboot: async () => void node.reboots++ };
  return node;
}

/** The machine restarts: GRUB picks a slot from the env block, the kernel gets its cmdline. */
async function bootMachine(node: Node): Promise<string> {
  const r = simulateGrubBoot(await readGrubEnvFile(node.sb.config.grubenvPath));
  await writeGrubEnvFile(node.sb.config.grubenvPath, r.newEnv);
  node.sb.boot(r.cmdline);
  return r.bootedSlot;
}

/** One agent lifetime: decide and act until there is nothing to do or the machine reboots. */
async function runAgent(node: Node, spec: UpgradeSpec, checks: HealthCheck[]): Promise<UpgradeDecision[]> {
  const decisions: UpgradeDecision[] = [];
  let health;
  for (let i = 0; i < 10; i++) {
    const d = decideUpgrade(await gatherUpgradeFacts(node.host, spec, { health }));
    decisions.push(d);
    if (d.action.kind === 'none') break;
    const res = await performUpgradeAction({ host: node.host, healthChecks: checks, healthOptions: { attempts: 2, intervalMs: 10, timeoutMs: 2000 } }, d.action);
    if (res.kind === 'health') health = res.health;
    if (res.kind === 'rebooting') break;
  }
  return decisions;
}

describe('A/B upgrade across simulated reboots', () => {
  let server: ImageServer;
  let api: http.Server;
  let apiUrl = '';
  const v1 = randomBytes(1 << 20);
  const v2 = randomBytes(3 << 20);
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
  const healthy = (): HealthCheck[] => [httpReachable('API reachable', apiUrl)];
  const unhealthy = (): HealthCheck[] => [...healthy(), { name: 'kubelet', check: async () => Promise.reject(new Error('kubelet did not start (exit code 1)')) }];
  const spec2: UpgradeSpec = { target: { version: '2.0', image: { url: '', sha256: sha(v2), size: v2.length } }, permit: { stage: true, reboot: true } };

  beforeAll(async () => {
    const www = tempDir();
    mkdirSync(www, { recursive: true });
    writeFileSync(path.join(www, 'v2.img'), v2);
    writeFileSync(path.join(www, 'v1.img'), v1);
    server = await startImageServer(www);
    spec2.target!.image.url = `${server.url}/v2.img`;
    api = http.createServer((_req, res) => res.writeHead(403).end()); // an apiserver saying "forbidden" is up
    await new Promise<void>((r) => api.listen(0, '127.0.0.1', r));
    apiUrl = `http://127.0.0.1:${(api.address() as AddressInfo).port}/healthz`;
  });
  afterAll(async () => {
    await server.close();
    api.closeAllConnections();
    await new Promise((r) => api.close(r));
  });

  async function nodeOnV1(): Promise<Node> {
    const node = makeNode();
    writeFileSync(await node.host.slotDevicePath('A'), v1);
    await writeSlots(node.sb.config.persistDir, { version: 1, slots: { A: { version: '1.0', sha256: sha(v1), size: v1.length } } });
    return node;
  }

  it('success: stage, reboot into B, healthy → permanent, and it stays on B', async () => {
    const node = await nodeOnV1();
    const first = await runAgent(node, spec2, healthy());
    expect(first.map((d) => d.phase)).toEqual(['Downloading', 'Rebooting']);
    expect(node.reboots).toBe(1);
    expect(await bootMachine(node)).toBe('B');
    const second = await runAgent(node, spec2, healthy());
    expect(second.map((d) => [d.phase, d.action.kind])).toEqual([
      ['Verifying', 'check-health'],
      ['Verifying', 'commit'],
      ['Done', 'none'],
    ]);
    expect(await readBootState(node.sb.config.grubenvPath)).toMatchObject({ saved: 'B', next: undefined });
    expect(await bootMachine(node)).toBe('B');
    expect((await runAgent(node, spec2, healthy())).at(-1)).toMatchObject({ phase: 'Done', reason: 'UpToDate' });
  });

  it('unhealthy new slot: fallback reboot, GRUB returns to A, RolledBack with the reason', async () => {
    const node = await nodeOnV1();
    await runAgent(node, spec2, healthy());
    expect(await bootMachine(node)).toBe('B');
    const onB = await runAgent(node, spec2, unhealthy());
    expect(onB.map((d) => [d.phase, d.action.kind])).toEqual([
      ['Verifying', 'check-health'],
      ['Rebooting', 'fallback'],
    ]);
    expect(node.reboots).toBe(2);
    expect(await bootMachine(node)).toBe('A');
    const onA = await runAgent(node, spec2, healthy());
    expect(onA[0]).toMatchObject({ phase: 'RolledBack', reason: 'FellBack' });
    expect(onA[0]!.message).toBe(
      'The node was set to boot slot B (version 2.0) once; it booted but failed its health checks (kubelet: kubelet did not start (exit code 1)), so GRUB fell back to slot A (version 1.0).',
    );
    // Sticky: no retry loop for the same target, and the machine keeps booting A.
    expect(onA.at(-1)).toMatchObject({ phase: 'RolledBack', action: { kind: 'none' } });
    expect(node.reboots).toBe(2);
    expect(await bootMachine(node)).toBe('A');
    expect((await readSlots(node.sb.config.persistDir)).lastFailure).toMatchObject({ kind: 'RolledBack', version: '2.0' });
  });

  it('a new slot that never comes up (no agent ran on it) falls back on the next boot → RolledBack', async () => {
    const node = await nodeOnV1();
    await runAgent(node, spec2, healthy());
    expect(await bootMachine(node)).toBe('B'); // …and hangs; the watchdog resets the machine
    expect(await bootMachine(node)).toBe('A');
    const d = await runAgent(node, spec2, healthy());
    expect(d[0]!.message).toMatch(/slot B \(version 2\.0\) once; it never reported healthy .* within 1 boot attempt, so GRUB fell back to slot A/);
  });

  it('rollback to the version in the other slot makes zero HTTP requests', async () => {
    const node = await nodeOnV1();
    await runAgent(node, spec2, healthy());
    await bootMachine(node);
    await runAgent(node, spec2, healthy());
    expect(await readBootState(node.sb.config.grubenvPath)).toMatchObject({ saved: 'B' });
    server.requests.length = 0;
    const back: UpgradeSpec = { target: { version: '1.0', image: { url: `${server.url}/v1-not-served.img`, sha256: sha(v1) } }, permit: { stage: true, reboot: true } };
    const d = await runAgent(node, back, healthy());
    expect(d.map((x) => [x.phase, x.action.kind])).toEqual([
      ['Staged', 'flip'],
      ['Rebooting', 'reboot'],
    ]);
    expect(await bootMachine(node)).toBe('A');
    expect((await runAgent(node, back, healthy())).at(-1)).toMatchObject({ phase: 'Done' });
    expect(await readBootState(node.sb.config.grubenvPath)).toMatchObject({ saved: 'A', next: undefined });
    expect(server.requests).toHaveLength(0);
  });

  it('a rollback slot whose bytes changed on its device since they were written is not armed: forgotten, then written again', async () => {
    const node = await nodeOnV1();
    await runAgent(node, spec2, healthy());
    await bootMachine(node);
    await runAgent(node, spec2, healthy());
    expect(await readBootState(node.sb.config.grubenvPath)).toMatchObject({ saved: 'B' });
    // Slot A, not touched by the agent since, changes on its device (a bad sector, a mount by hand).
    const deviceA = await node.host.slotDevicePath('A');
    const fd = openSync(deviceA, 'r+');
    writeSync(fd, Buffer.from([0xff ^ v1[4096]!]), 0, 1, 4096);
    closeSync(fd);
    server.requests.length = 0;
    const back: UpgradeSpec = { target: { version: '1.0', image: { url: `${server.url}/v1.img`, sha256: sha(v1), size: v1.length } }, permit: { stage: true, reboot: true } };
    const d = await runAgent(node, back, healthy());
    // The flip is decided from the record, refused by the device; the next pass downloads.
    expect(d.map((x) => [x.phase, x.action.kind])).toEqual([
      ['Staged', 'flip'],
      ['Downloading', 'stage'],
      ['Rebooting', 'reboot'],
    ]);
    expect(d[1]!.message).toMatch(/^Starting the download of 1\.0 into slot A\. Slot A had 1\.0, but its bytes changed on the device since they were written \(slot A \(.*\) does not hold 1\.0 as it was written: the sha256 of its first 1048576 bytes is [0-9a-f]{64}, but [0-9a-f]{64} was written/);
    expect(server.requests.map((r) => r.path)).toEqual(['/v1.img']);
    expect(createHash('sha256').update(readFileSync(deviceA).subarray(0, v1.length)).digest('hex')).toBe(sha(v1));
    const slots = await readSlots(node.sb.config.persistDir);
    expect(slots.discarded).toBeUndefined(); // written again: nothing left to report
    expect(slots.slots.A).toMatchObject({ version: '1.0', sha256: sha(v1) });
    expect(await bootMachine(node)).toBe('A');
    expect((await runAgent(node, back, healthy())).at(-1)).toMatchObject({ phase: 'Done' });
  });

  it('a verified slot whose arming GRUB lost is checked again before it is re-armed', async () => {
    const node = await nodeOnV1();
    const stageOnly: UpgradeSpec = { ...spec2, permit: { stage: true } };
    expect((await runAgent(node, stageOnly, healthy())).at(-1)).toMatchObject({ phase: 'Staged', reason: 'WaitingForRebootPermit' });
    // Someone clears next_entry, and slot B's bytes change while the node waits for its reboot permit.
    const env = await readGrubEnvFile(node.sb.config.grubenvPath);
    env.delete('next_entry');
    await writeGrubEnvFile(node.sb.config.grubenvPath, env);
    const fd = openSync(await node.host.slotDevicePath('B'), 'r+');
    writeSync(fd, Buffer.from('not the image'), 0, 13, 0);
    closeSync(fd);
    const d = await runAgent(node, stageOnly, healthy());
    expect(d.map((x) => [x.phase, x.action.kind])).toEqual([
      ['Staged', 'rearm'],
      ['Downloading', 'stage'],
      ['Staged', 'none'],
    ]);
    expect((await readBootState(node.sb.config.grubenvPath)).next).toBe('B');
    expect(createHash('sha256').update(readFileSync(await node.host.slotDevicePath('B')).subarray(0, v2.length)).digest('hex')).toBe(sha(v2));
  });
});
