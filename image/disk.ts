// The disk image for a first install: GPT with an EFI system partition (GRUB as BOOTX64.EFI), the
// boot partition (grub.cfg, grubenv), slot A holding the slot image, an empty slot B and the persist
// partition seeded with the slot metadata. Built from files: no loop devices, no mounts.
import { randomUUID } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PART_LABEL, diskLayout, sgdiskArgs, type LayoutSizes, type PlacedPartition, layoutSizesProblem } from './layout.js';
import { IMAGE_DIR } from './slot.js';
import { run } from './tools.js';
import { SLOTS_FILE, type SlotsState } from '../agent/slots.js';
import { SYSCTL_FILE } from '../agent/sysctl.js';

export const GRUB_CFG = path.join(IMAGE_DIR, '..', 'agent', 'boot', 'grub.cfg');

/** GRUB modules built into BOOTX64.EFI: everything grub.cfg needs, so the boot partition holds no modules. */
export const GRUB_MODULES: readonly string[] = [
  'part_gpt', 'fat', 'ext2', 'squash4', 'gzio', 'xzio', 'lzopio', 'normal', 'linux', 'search', 'search_fs_uuid',
  'regexp', 'test', 'loadenv', 'echo', 'configfile', 'sleep', 'reboot', 'halt', 'efi_gop', 'all_video', 'boot',
];

export interface DiskOptions {
  slotImage: string;
  slotImageSize: number;
  version: string;
  sha256: string;
  sizes: LayoutSizes;
  kernelArgs: readonly string[];
  /** Files to place on the persist partition (relative path → content), e.g. /etc/osfleet/agent.env. */
  persistFiles?: Readonly<Record<string, string>>;
}

async function place(disk: string, part: PlacedPartition, file: string): Promise<void> {
  await run('dd', [`if=${file}`, `of=${disk}`, 'bs=4M', `seek=${part.offsetBytes}`, 'oflag=seek_bytes', 'conv=notrunc,sparse,fsync', 'status=none']);
}

export async function buildDisk(out: string, o: DiskOptions): Promise<{ bootUuid: string }> {
  const problem = layoutSizesProblem(o.sizes, o.slotImageSize);
  if (problem) throw new Error(problem);
  const layout = diskLayout(o.sizes);
  const part = (role: PlacedPartition['role']) => layout.partitions.find((p) => p.role === role) as PlacedPartition;
  const work = await mkdtemp(path.join(path.dirname(out), '.disk-'));
  const bootUuid = randomUUID();
  try {
    // EFI system partition: GRUB finds its boot partition by that filesystem's UUID, so a second
    // osfleet disk in the machine does not confuse it.
    const early = path.join(work, 'early.cfg');
    await writeFile(early, `search --no-floppy --fs-uuid --set=root ${bootUuid}\nset prefix=($root)/grub\n`);
    const efi = path.join(work, 'BOOTX64.EFI');
    await run('grub-mkimage', ['-O', 'x86_64-efi', '-o', efi, '-c', early, '-p', '/grub', ...GRUB_MODULES]);
    const esp = path.join(work, 'esp.img');
    await run('mkfs.vfat', ['-C', '-n', 'OSFLEETESP', esp, String(part('esp').sizeBytes / 1024)]);
    await run('mmd', ['-i', esp, '::/EFI', '::/EFI/BOOT']);
    await run('mcopy', ['-i', esp, efi, '::/EFI/BOOT/BOOTX64.EFI']);

    // Boot partition: the osfleet grub.cfg and its environment block.
    const bootDir = path.join(work, 'boot');
    await mkdir(path.join(bootDir, 'grub'), { recursive: true });
    await copyFile(GRUB_CFG, path.join(bootDir, 'grub/grub.cfg'));
    const env = path.join(bootDir, 'grub/grubenv');
    await run('grub-editenv', [env, 'create']);
    const args = o.kernelArgs.join(' ');
    await run('grub-editenv', [env, 'set', 'saved_entry=osfleet-A', `osfleet_kargs_base=${args}`, `osfleet_kargs_A=${args}`, `osfleet_kargs_B=${args}`]);
    const boot = path.join(work, 'boot.img');
    await run('mke2fs', ['-q', '-t', 'ext2', '-L', PART_LABEL.boot, '-U', bootUuid, '-d', bootDir, boot, `${part('boot').sizeBytes / 1024}k`]);

    // Persist: what slot A holds (the agent's record), the agent's sysctl file, and any seed files.
    const persistDir = path.join(work, 'persist');
    const slots: SlotsState = { version: 1, slots: { A: { version: o.version, sha256: o.sha256, size: o.slotImageSize } } };
    const seed: Record<string, string> = { [SLOTS_FILE]: `${JSON.stringify(slots, null, 2)}\n`, [SYSCTL_FILE]: '', ...(o.persistFiles ?? {}) };
    for (const [rel, content] of Object.entries(seed)) {
      const clean = path.normalize(rel).replace(/^\/+/, '');
      if (clean.startsWith('..')) throw new Error(`persist file ${rel} is outside the persist partition`);
      await mkdir(path.dirname(path.join(persistDir, clean)), { recursive: true });
      await writeFile(path.join(persistDir, clean), content, { mode: 0o600 });
    }
    const persist = path.join(work, 'persist.img');
    await run('mke2fs', ['-q', '-t', 'ext4', '-L', PART_LABEL.persist, '-E', 'root_owner=0:0', '-d', persistDir, persist, `${part('persist').sizeBytes / 1024}k`]);

    const tmp = `${out}.tmp`;
    await rm(tmp, { force: true });
    await run('truncate', ['-s', String(layout.totalBytes), tmp]);
    await run('sgdisk', [...sgdiskArgs(layout), tmp]);
    await place(tmp, part('esp'), esp);
    await place(tmp, part('boot'), boot);
    await place(tmp, part('slot-a'), o.slotImage);
    await place(tmp, part('persist'), persist);
    await run('mv', [tmp, out]);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return { bootUuid };
}

