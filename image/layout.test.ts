import { describe, expect, it } from 'vitest';
import { DEFAULT_SIZES, diskLayout, layoutSizesProblem, MiB, PART_LABEL, PART_NUMBER, sgdiskArgs } from './layout.js';

describe('disk layout', () => {
  it('places ESP, boot, A, B, persist in that order, 1 MiB aligned, without overlap', () => {
    const l = diskLayout(DEFAULT_SIZES);
    expect(l.partitions.map((p) => p.label)).toEqual([PART_LABEL.esp, PART_LABEL.boot, PART_LABEL.A, PART_LABEL.B, PART_LABEL.persist]);
    expect(l.partitions.map((p) => p.number)).toEqual([1, 2, 3, 4, 5]);
    let end = MiB;
    for (const p of l.partitions) {
      expect(p.offsetBytes % MiB).toBe(0);
      expect(p.offsetBytes).toBeGreaterThanOrEqual(end);
      end = p.offsetBytes + p.sizeBytes;
    }
    expect(l.totalBytes).toBeGreaterThanOrEqual(end + 33 * 512); // room for the backup GPT
  });

  it('keeps the slot partition numbers grub.cfg assumes (gpt3, gpt4)', () => {
    expect(PART_NUMBER.A).toBe(3);
    expect(PART_NUMBER.B).toBe(4);
  });

  it('writes sgdisk arguments with sector ranges, types and labels', () => {
    const args = sgdiskArgs(diskLayout({ espMiB: 32, bootMiB: 16, slotMiB: 100, persistMiB: 64 }));
    expect(args).toContain('--new=1:2048:67583');
    expect(args).toContain('--typecode=1:ef00');
    expect(args).toContain('--change-name=3:osfleet-A');
  });

  it('refuses sizes that cannot work, saying which and why', () => {
    expect(layoutSizesProblem({ ...DEFAULT_SIZES, espMiB: 8 })).toMatch(/EFI system partition needs at least 32 MiB/);
    expect(layoutSizesProblem({ ...DEFAULT_SIZES, slotMiB: 0 })).toMatch(/slotMiB must be a positive/);
    expect(layoutSizesProblem({ ...DEFAULT_SIZES, slotMiB: 100 }, 200 * MiB)).toMatch(/slot image is 200 MiB but a slot holds 100 MiB: raise --slot-size/);
    expect(() => diskLayout({ ...DEFAULT_SIZES, persistMiB: 1 })).toThrow(/persist partition needs at least 64 MiB/);
  });
});
