// The osfleet disk layout: which partition holds what, in which order and at which offset.
// Pure: the builder (image/disk.ts), grub.cfg (partition numbers) and the agent (partition
// labels) all follow this one table.

export const MiB = 1024 * 1024;

/** GPT partition type GUIDs (sgdisk short codes). */
const TYPE = { esp: 'ef00', linux: '8300' } as const;

export interface PartitionSpec {
  /** GPT partition number (1-based): grub.cfg finds slots by it. */
  number: number;
  /** GPT partition label (PARTLABEL): the agent and the initramfs find partitions by it. */
  label: string;
  /** Filesystem label inside the partition, where osfleet makes the filesystem. */
  fsLabel?: string;
  type: string;
  sizeBytes: number;
  role: 'esp' | 'boot' | 'slot-a' | 'slot-b' | 'persist';
}

export interface PlacedPartition extends PartitionSpec {
  offsetBytes: number;
}

export interface DiskLayout {
  partitions: PlacedPartition[];
  /** Size of the whole image: partitions, the 1 MiB lead-in and room for the backup GPT. */
  totalBytes: number;
}

export interface LayoutSizes {
  espMiB: number;
  bootMiB: number;
  slotMiB: number;
  persistMiB: number;
}

export const DEFAULT_SIZES: LayoutSizes = { espMiB: 32, bootMiB: 64, slotMiB: 2048, persistMiB: 1024 };

export const PART_LABEL = {
  esp: 'osfleet-esp',
  boot: 'osfleet-boot',
  A: 'osfleet-A',
  B: 'osfleet-B',
  persist: 'osfleet-persist',
} as const;

/** Partition numbers grub.cfg assumes (osfleet_part_A / _B default to gpt3 / gpt4). */
export const PART_NUMBER = { esp: 1, boot: 2, A: 3, B: 4, persist: 5 } as const;

/** Why a size set cannot make a disk, or undefined. */
export function layoutSizesProblem(s: LayoutSizes, slotImageBytes?: number): string | undefined {
  for (const [k, v] of Object.entries(s)) {
    if (!Number.isInteger(v) || v <= 0) return `${k} must be a positive whole number of MiB, got ${v}`;
  }
  if (s.espMiB < 32) return `the EFI system partition needs at least 32 MiB for a FAT filesystem UEFI firmware reads, got ${s.espMiB}`;
  if (s.bootMiB < 16) return `the boot partition needs at least 16 MiB (GRUB modules, grub.cfg, grubenv), got ${s.bootMiB}`;
  if (s.persistMiB < 64) return `the persist partition needs at least 64 MiB, got ${s.persistMiB}`;
  if (slotImageBytes !== undefined && slotImageBytes > s.slotMiB * MiB) {
    return `the slot image is ${Math.ceil(slotImageBytes / MiB)} MiB but a slot holds ${s.slotMiB} MiB: raise --slot-size (every later version must fit too)`;
  }
  return undefined;
}

/** Place the five partitions one after another, 1 MiB aligned, after a 1 MiB lead-in. */
export function diskLayout(s: LayoutSizes): DiskLayout {
  const problem = layoutSizesProblem(s);
  if (problem) throw new Error(problem);
  const specs: PartitionSpec[] = [
    { number: PART_NUMBER.esp, label: PART_LABEL.esp, fsLabel: 'OSFLEETESP', type: TYPE.esp, sizeBytes: s.espMiB * MiB, role: 'esp' },
    { number: PART_NUMBER.boot, label: PART_LABEL.boot, fsLabel: PART_LABEL.boot, type: TYPE.linux, sizeBytes: s.bootMiB * MiB, role: 'boot' },
    { number: PART_NUMBER.A, label: PART_LABEL.A, type: TYPE.linux, sizeBytes: s.slotMiB * MiB, role: 'slot-a' },
    { number: PART_NUMBER.B, label: PART_LABEL.B, type: TYPE.linux, sizeBytes: s.slotMiB * MiB, role: 'slot-b' },
    { number: PART_NUMBER.persist, label: PART_LABEL.persist, fsLabel: PART_LABEL.persist, type: TYPE.linux, sizeBytes: s.persistMiB * MiB, role: 'persist' },
  ];
  let offset = MiB;
  const partitions = specs.map((p) => {
    const placed = { ...p, offsetBytes: offset };
    offset += p.sizeBytes;
    return placed;
  });
  return { partitions, totalBytes: offset + MiB };
}

/** sgdisk arguments that write this layout's GPT (partition numbers, sectors, types, labels). */
export function sgdiskArgs(layout: DiskLayout): string[] {
  const args = ['--clear'];
  for (const p of layout.partitions) {
    const first = p.offsetBytes / 512;
    const last = (p.offsetBytes + p.sizeBytes) / 512 - 1;
    args.push(`--new=${p.number}:${first}:${last}`, `--typecode=${p.number}:${p.type}`, `--change-name=${p.number}:${p.label}`);
  }
  return args;
}
