import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { armSlot, bootState, makePermanent, readBootState, simulateGrubBoot } from './bootloader.js';
import { type GrubEnv, readGrubEnvFile, writeGrubEnvFile } from './grubenv.js';
import { cleanupTempDirs, commandUnavailable, REPO_ROOT, tempDir } from './testing/sandbox.js';
import { skipUnlessRequired } from './testing/host-capabilities.js';

afterAll(cleanupTempDirs);

const CFG = path.join(REPO_ROOT, 'agent/boot/grub.cfg');
const env = (o: Record<string, string>): GrubEnv => new Map(Object.entries(o));

describe('simulateGrubBoot (mirror of agent/boot/grub.cfg)', () => {
  it('boots the saved slot when nothing is armed, and leaves the block alone', () => {
    const e = env({ saved_entry: 'osfleet-B', osfleet_kargs_B: 'quiet' });
    const r = simulateGrubBoot(e);
    expect(r).toMatchObject({ bootedSlot: 'B', triedArmed: false, cmdline: ['root=PARTLABEL=osfleet-B', 'ro', 'panic=10', 'osfleet.slot=B', 'quiet'] });
    expect(r.newEnv).toEqual(e);
  });

  it('defaults to slot A for an empty or unexpected saved entry', () => {
    expect(simulateGrubBoot(env({})).bootedSlot).toBe('A');
    expect(simulateGrubBoot(env({ saved_entry: 'Debian GNU/Linux' })).bootedSlot).toBe('A');
  });

  it('one-shot: tries the armed slot once, then falls back to the saved slot', () => {
    const armed = env({ saved_entry: 'osfleet-A', next_entry: 'osfleet-B', osfleet_boot_tries: '0', osfleet_max_tries: '1' });
    const first = simulateGrubBoot(armed);
    expect(first.bootedSlot).toBe('B');
    expect(first.triedArmed).toBe(true);
    expect(first.newEnv.get('next_entry')).toBe('');
    expect(first.newEnv.get('osfleet_boot_tries')).toBe('1');
    const second = simulateGrubBoot(first.newEnv);
    expect(second.bootedSlot).toBe('A');
    expect(second.triedArmed).toBe(false);
    expect(bootState(second.newEnv)).toMatchObject({ saved: 'A', next: undefined, tries: 1 });
  });

  it('counts up to osfleet_max_tries before giving up', () => {
    let e = env({ saved_entry: 'osfleet-A', next_entry: 'osfleet-B', osfleet_boot_tries: '0', osfleet_max_tries: '3' });
    const booted: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = simulateGrubBoot(e);
      booted.push(r.bootedSlot);
      e = r.newEnv;
    }
    expect(booted).toEqual(['B', 'B', 'B', 'A', 'A']);
    expect(e.get('osfleet_boot_tries')).toBe('3');
  });

  it('a slot without a kernel is not tried: the try is counted, the reason saved, the saved slot boots', () => {
    const armed = env({ saved_entry: 'osfleet-A', next_entry: 'osfleet-B', osfleet_boot_tries: '0', osfleet_max_tries: '2' });
    const r = simulateGrubBoot(armed, (slot) => slot === 'A');
    expect(r.bootedSlot).toBe('A');
    expect(r.triedArmed).toBe(false);
    expect(r.cmdline).not.toContain('osfleet.try=1');
    expect(bootState(r.newEnv)).toMatchObject({ saved: 'A', next: undefined, tries: 1 });
    expect(r.newEnv.get('osfleet_boot_error')).toMatch(/no \/boot\/vmlinuz on osfleet-B/);
  });

  it('marks a try of the armed slot on the kernel command line (osfleet.try=1)', () => {
    const r = simulateGrubBoot(env({ saved_entry: 'osfleet-A', next_entry: 'osfleet-B', osfleet_boot_tries: '0' }));
    expect(r.cmdline).toContain('osfleet.try=1');
    expect(simulateGrubBoot(r.newEnv).cmdline).not.toContain('osfleet.try=1');
  });

  it('ignores a next_entry that is not an osfleet slot', () => {
    const r = simulateGrubBoot(env({ saved_entry: 'osfleet-B', next_entry: 'rescue' }));
    expect(r.bootedSlot).toBe('B');
    expect(r.newEnv.get('next_entry')).toBe('');
  });

  it('agent edits: arm, then permanent after a healthy boot', async () => {
    const file = path.join(tempDir(), 'grubenv');
    await writeGrubEnvFile(file, env({ saved_entry: 'osfleet-A' }));
    await armSlot(file, 'B');
    const r = simulateGrubBoot(await readGrubEnvFile(file));
    expect(r.bootedSlot).toBe('B');
    await writeGrubEnvFile(file, r.newEnv);
    await makePermanent(file, 'B');
    expect(await readBootState(file)).toMatchObject({ saved: 'B', next: undefined, tries: 0 });
    expect(simulateGrubBoot(await readGrubEnvFile(file)).bootedSlot).toBe('B');
    await expect(armSlot(file, 'A', 4)).rejects.toThrow(/1 to 3/);
  });
});

describe('agent/boot/grub.cfg', () => {
  const noCheck = skipUnlessRequired('grub-script-check of agent/boot/grub.cfg', commandUnavailable('grub-script-check', 'grub-common'));
  it.skipIf(noCheck !== undefined)('is valid GRUB script (grub-script-check)', () => {
    execFileSync('grub-script-check', [CFG], { stdio: 'pipe' });
  });

  it('uses the variables and steps the simulation mirrors', () => {
    const cfg = readFileSync(CFG, 'utf8');
    for (const line of [
      'load_env --file "${osfleet_grubenv}"',
      'set default="${saved_entry}"',
      'if [ "${default}" != "osfleet-B" ]; then',
      'if [ -z "${osfleet_max_tries}" ]; then set osfleet_max_tries=1; fi',
      'if [ -n "${next_entry}" ]; then',
      'if [ "${osfleet_boot_tries}" -ge "${osfleet_max_tries}" ]; then set osfleet_try=no; fi',
      'set default="${next_entry}"',
      'if [ "${osfleet_try}" = "no" ]; then',
      'set next_entry=',
      'save_env --file "${osfleet_grubenv}" next_entry osfleet_boot_tries osfleet_boot_error',
      'if [ -f "(${osfleet_disk},${osfleet_try_part})/boot/vmlinuz" ]; then',
      'set osfleet_try_arg=osfleet.try=1',
      'menuentry "osfleet slot A" --id osfleet-A {',
      'menuentry "osfleet slot B" --id osfleet-B {',
      'linux /boot/vmlinuz root=PARTLABEL=osfleet-A ro panic=10 osfleet.slot=A ${osfleet_try_arg} ${osfleet_kargs_A}',
      'linux /boot/vmlinuz root=PARTLABEL=osfleet-B ro panic=10 osfleet.slot=B ${osfleet_try_arg} ${osfleet_kargs_B}',
    ]) {
      expect(cfg).toContain(line);
    }
  });
});
