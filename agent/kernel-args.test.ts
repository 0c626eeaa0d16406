import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { armSlot } from './bootloader.js';
import { readGrubEnvFile, writeGrubEnvFile } from './grubenv.js';
import { applyKernelArgs, effectiveKernelArgs } from './kernel-args.js';
import { cleanupTempDirs, tempDir } from './testing/sandbox.js';

afterAll(cleanupTempDirs);

describe('kernel arguments', () => {
  it('removes by argument or by key, and an added key=value replaces the old value', () => {
    expect(effectiveKernelArgs(['quiet', 'console=tty0', 'console=ttyS0', 'mitigations=auto'], { add: ['mitigations=off', 'nosmt'], remove: ['console', 'quiet'] })).toEqual([
      'mitigations=off',
      'nosmt',
    ]);
  });

  it('refuses arguments GRUB would interpret or that the boot entry owns', () => {
    expect(() => effectiveKernelArgs([], { add: ['a b'] })).toThrow(/whitespace/);
    expect(() => effectiveKernelArgs([], { add: ['x=$(y)'] })).toThrow(/\$/);
    expect(() => effectiveKernelArgs([], { add: ['root=/dev/sda1'] })).toThrow(/set by the osfleet boot entry/);
  });

  it("ignores what the boot entry itself passes (panic=10 once, osfleet.try): booted with the slot's args is not pending", async () => {
    const file = path.join(tempDir(), 'grubenv');
    await writeGrubEnvFile(file, new Map([['saved_entry', 'osfleet-B'], ['osfleet_kargs_base', 'console=ttyS0']]));
    const booted = ['BOOT_IMAGE=/boot/vmlinuz', 'root=PARTLABEL=osfleet-B', 'ro', 'panic=10', 'osfleet.slot=B', 'osfleet.try=1', 'console=ttyS0', 'nosmt'];
    expect(await applyKernelArgs(file, 'B', booted, { add: ['nosmt'] })).toEqual({ slot: 'B', args: ['console=ttyS0', 'nosmt'], pendingReboot: false });
    // A slot's own panic= comes after the boot entry's and is the slot's to compare.
    const withPanic = [...booted, 'panic=30'];
    expect((await applyKernelArgs(file, 'B', withPanic, { add: ['nosmt', 'panic=30'] })).pendingReboot).toBe(false);
    expect((await applyKernelArgs(file, 'B', booted, { add: ['nosmt', 'panic=30'] })).pendingReboot).toBe(true);
  });

  it('writes the args of the slot that boots next and reports a pending reboot until booted with them', async () => {
    const file = path.join(tempDir(), 'grubenv');
    await writeGrubEnvFile(file, new Map([['saved_entry', 'osfleet-A'], ['osfleet_kargs_base', 'quiet']]));
    const r = await applyKernelArgs(file, 'A', ['BOOT_IMAGE=/boot/vmlinuz', 'root=PARTLABEL=osfleet-A', 'ro', 'osfleet.slot=A', 'quiet'], { add: ['nosmt'] });
    expect(r).toEqual({ slot: 'A', args: ['quiet', 'nosmt'], pendingReboot: true });
    expect((await readGrubEnvFile(file)).get('osfleet_kargs_A')).toBe('quiet nosmt');
    const after = await applyKernelArgs(file, 'A', ['root=PARTLABEL=osfleet-A', 'ro', 'osfleet.slot=A', 'quiet', 'nosmt'], { add: ['nosmt'] });
    expect(after.pendingReboot).toBe(false);
    await armSlot(file, 'B');
    const armed = await applyKernelArgs(file, 'A', ['osfleet.slot=A', 'quiet', 'nosmt'], { add: ['nosmt'] });
    expect(armed).toMatchObject({ slot: 'B', pendingReboot: true });
    expect((await readGrubEnvFile(file)).get('osfleet_kargs_B')).toBe('quiet nosmt');
  });
});
