// The agent's reconcile loop and its reboot bookkeeping: one reboot per permit token, but a reboot
// that did not happen (the command failed) does not use the token up.
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readBootState } from './bootloader.js';
import { readGrubEnvFile, writeGrubEnvFile } from './grubenv.js';
import { startAgent } from './daemon.js';
import { createHost } from './host.js';
import { readAgentState } from './settings-state.js';
import { writeSlots } from './slots.js';
import { memoryClient, until, upgradeOSNode } from './testing/memory-osnode.js';
import { cleanupTempDirs, createSandbox, type ImageServer, startImageServer, tempDir } from './testing/sandbox.js';

afterAll(cleanupTempDirs);

describe('agent reboot bookkeeping', () => {
  let images: ImageServer;
  const v1 = randomBytes(1 << 20);
  const v2 = randomBytes(1 << 20);
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

  beforeAll(async () => {
    const www = tempDir();
    writeFileSync(path.join(www, 'v2.img'), v2);
    images = await startImageServer(www);
  });
  afterAll(() => images.close());

  it('a reboot command that fails leaves the permit usable: the agent asks again instead of holding a drained node', async () => {
    // GIVEN a node on slot A, permitted to stage 2.0 and reboot, whose reboot command fails once
    const sb = createSandbox({ booted: 'A' });
    writeFileSync(await createHost(sb.config).slotDevicePath('A'), v1);
    await writeSlots(sb.config.persistDir, { version: 1, slots: { A: { version: '1.0', sha256: sha(v1), size: v1.length } } });
    const client = memoryClient(upgradeOSNode({ version: '2.0', url: `${images.url}/v2.img`, sha256: sha(v2), size: v2.length }));
    let attempts = 0;
    let reboots = 0;
    const host = {
      ...createHost(sb.config),
      reboot: async () => {
        attempts++;
        if (attempts === 1) throw new Error('reboot command systemctl reboot failed: Operation inhibited by "backup"');
        reboots++;
      },
    };
    // WHEN the agent runs (a short resync stands in for the watch waking it again)
    const agent = startAgent({ nodeName: 'n1', host, client, logger: pino({ level: 'silent' }), resyncMs: 100 });
    try {
      // THEN it stages, fails to reboot once, and on a later pass asks again, on the same boot
      await until('a reboot that went through', () => reboots === 1);
      expect(attempts).toBe(2);
      expect(await readBootState(sb.config.grubenvPath)).toMatchObject({ saved: 'A', next: 'B' });
      const state = await readAgentState(sb.config.persistDir);
      expect(state.rebootedForToken).toBe('t1');
      expect(state.rebootBootId).toBe(await host.bootId());
    } finally {
      await agent.stop();
    }

    // AND once the machine has booted (a new boot id), the same token never reboots it again,
    // even when it came back on the old slot (GRUB fell back, or someone booted A by hand).
    sb.boot(['ro', 'osfleet.slot=A']);
    const again = startAgent({ nodeName: 'n1', host, client, logger: pino({ level: 'silent' }), resyncMs: 100 });
    try {
      // settled() runs a full pass and resolves when it is done: three passes are three chances to
      // reboot again, observed as they finish instead of slept through.
      for (let i = 0; i < 3; i++) await again.settled();
      expect(attempts).toBe(2);
    } finally {
      await again.stop();
    }
  });

  it('a rollback flip boots the old slot with the kernel arguments in force, not the ones it carried', async () => {
    // GIVEN a node on slot B (2.0, booted with nosmt), slot A still holding 1.0 and its old nosmt argument
    const sb = createSandbox({ booted: 'B' });
    writeFileSync(await createHost(sb.config).slotDevicePath('A'), v1);
    writeFileSync(await createHost(sb.config).slotDevicePath('B'), v2);
    await writeSlots(sb.config.persistDir, { version: 1, slots: { A: { version: '1.0', sha256: sha(v1), size: v1.length }, B: { version: '2.0', sha256: sha(v2), size: v2.length } } });
    await writeGrubEnvFile(sb.config.grubenvPath, new Map([['saved_entry', 'osfleet-B'], ['osfleet_kargs_A', 'nosmt'], ['osfleet_kargs_B', 'nosmt']]));
    sb.boot(['root=PARTLABEL=osfleet-B', 'ro', 'osfleet.slot=B', 'nosmt']);
    // WHEN git reverts both the version and the argument: target 1.0 (in slot A) with no kernel arguments
    const node = upgradeOSNode({ version: '1.0', url: `${images.url}/v1.img`, sha256: sha(v1), size: v1.length });
    node.spec.config = { hash: 'sha256:reverted', sysctl: {}, kernelArgs: { add: [], remove: [] } };
    node.spec.permit = { token: 't1', stage: true, applySettings: true, reboot: true };
    let reboots = 0;
    const host = { ...createHost(sb.config), reboot: async () => void reboots++ };
    const agent = startAgent({ nodeName: 'n1', host, client: memoryClient(node), logger: pino({ level: 'silent' }), resyncMs: 100 });
    try {
      await until('the reboot into slot A', () => reboots === 1);
    } finally {
      await agent.stop();
    }
    // THEN slot A is armed without a download and boots without the reverted argument
    const env = await readGrubEnvFile(sb.config.grubenvPath);
    expect(env.get('next_entry')).toBe('osfleet-A');
    expect(env.get('osfleet_kargs_A')).toBe('');
    expect(images.requests.filter((r) => r.path === '/v1.img')).toEqual([]);
  });
});
