// The node agent's one door to the machine: every path it reads or writes and
// every command it runs is configured here, so the same code runs on a real node
// (defaults) and on a sandbox host in tests (temp dirs, loop devices, a netns).
import { execFile } from 'node:child_process';
import { readFile, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { dropBlockDeviceCache } from './slot-verify.js';

export type Slot = 'A' | 'B';
export const SLOTS: readonly Slot[] = ['A', 'B'];

export function otherSlot(slot: Slot): Slot {
  return slot === 'A' ? 'B' : 'A';
}

export function isSlot(value: unknown): value is Slot {
  return value === 'A' || value === 'B';
}

/** A slot's block device, either a path or a GPT partition label (resolved via /dev/disk/by-partlabel). */
export type SlotDevice = { path: string } | { partLabel: string };

/**
 * Why a GPT partition label cannot name a slot, or undefined. udev names the by-partlabel link after
 * the label with unsafe characters escaped, so a label never contains "/"; one that does (or is "." /
 * "..") would resolve outside the label directory.
 */
export function partLabelProblem(label: string): string | undefined {
  if (label === '') return 'is empty';
  if (label.includes('/') || label.includes('\0') || label === '.' || label === '..') return 'is not a partition label (it must not contain "/" or be "." or "..")';
  return undefined;
}

export interface HostConfig {
  /** Host root filesystem as the agent sees it (`/host` in the DaemonSet). Relative paths below resolve against it. */
  root: string;
  /** Where the sysctl tree is; `/proc/sys` unless tests redirect it. Not under `root`: /proc is per-namespace. */
  procSysRoot: string;
  /** The persist partition's mount point; sysctl file, slot metadata and agent state live here. */
  persistDir: string;
  /** The GRUB environment block the boot script loads. */
  grubenvPath: string;
  /** Kernel command line of the running system (booted-slot detection). */
  cmdlinePath: string;
  /** The kernel's id of this boot (`/proc/sys/kernel/random/boot_id`): tells whether a reboot happened. */
  bootIdPath: string;
  /** Parameter on the kernel command line that names the booted slot (`osfleet.slot=A`). */
  slotCmdlineParam: string;
  slotDevices: Record<Slot, SlotDevice>;
  /** Directory holding partition-label symlinks. */
  partLabelDir: string;
  /** argv of the reboot command. */
  rebootCommand: readonly string[];
  /** argv, before the device path, that drops an unmounted block device's page cache (BLKFLSBUF). */
  flushDeviceCommand?: readonly string[];
}

/** Production defaults: host root mounted at `/host`, /proc from the host PID namespace. */
export function defaultHostConfig(root = '/host'): HostConfig {
  return {
    root,
    procSysRoot: '/proc/sys',
    persistDir: path.join(root, 'persist'),
    grubenvPath: path.join(root, 'boot/grub/grubenv'),
    cmdlinePath: '/proc/cmdline',
    bootIdPath: '/proc/sys/kernel/random/boot_id',
    slotCmdlineParam: 'osfleet.slot',
    slotDevices: { A: { partLabel: 'osfleet-A' }, B: { partLabel: 'osfleet-B' } },
    partLabelDir: path.join(root, 'dev/disk/by-partlabel'),
    rebootCommand: ['chroot', root, 'systemctl', 'reboot'],
    flushDeviceCommand: ['blockdev', '--flushbufs'],
  };
}

export interface Host {
  readonly config: HostConfig;
  /** The slot the running kernel was booted from, read from the kernel command line. */
  bootedSlot(): Promise<Slot>;
  /** The kernel command line of the running system, split into arguments. */
  cmdline(): Promise<string[]>;
  /** Absolute, symlink-free path of a slot's block device. */
  slotDevicePath(slot: Slot): Promise<string>;
  /** Ask the machine to reboot. Resolves once the command was accepted; the process is expected to die soon after. */
  reboot(): Promise<void>;
  /** The id of the running boot, or undefined when the kernel does not say (then reboots cannot be told apart). */
  bootId(): Promise<string | undefined>;
  /** Drop a slot device's page cache so reads come from the disk: "dropped", or why it was kept. */
  dropDeviceCache(device: string): Promise<string>;
}

export function createHost(config: HostConfig): Host {
  async function cmdline(): Promise<string[]> {
    let text: string;
    try {
      text = await readFile(config.cmdlinePath, 'utf8');
    } catch (err) {
      throw new Error(`cannot read the kernel command line at ${config.cmdlinePath}: ${(err as Error).message}`);
    }
    return text.trim().split(/\s+/).filter((a) => a.length > 0);
  }

  return {
    config,
    cmdline,
    async bootedSlot() {
      const args = await cmdline();
      const prefix = `${config.slotCmdlineParam}=`;
      const found = args.filter((a) => a.startsWith(prefix)).map((a) => a.slice(prefix.length));
      const last = found[found.length - 1];
      if (!isSlot(last)) {
        throw new Error(
          `cannot tell which slot is booted: the kernel command line (${config.cmdlinePath}) has ` +
            (last === undefined ? `no ${prefix}A or ${prefix}B` : `${prefix}${last}, expected A or B`) +
            '; boot through the osfleet grub.cfg fragment, which sets it',
        );
      }
      return last;
    },
    async slotDevicePath(slot) {
      const dev = config.slotDevices[slot];
      if ('partLabel' in dev) {
        const problem = partLabelProblem(dev.partLabel);
        if (problem) throw new Error(`slot ${slot} device not usable: partition label ${JSON.stringify(dev.partLabel)} ${problem}; check the agent's slot device configuration`);
      }
      const p = 'path' in dev ? dev.path : path.join(config.partLabelDir, dev.partLabel);
      let real: string;
      try {
        real = await realpath(p);
        const st = await stat(real);
        if (!st.isBlockDevice() && !st.isFile()) throw new Error('not a block device');
      } catch (err) {
        const what = 'path' in dev ? `path ${dev.path}` : `partition label ${dev.partLabel} (${p})`;
        throw new Error(`slot ${slot} device not usable: ${what}: ${(err as Error).message}; check the agent's slot device configuration`);
      }
      return real;
    },
    async bootId() {
      try {
        const id = (await readFile(config.bootIdPath, 'utf8')).trim();
        return id === '' ? undefined : id;
      } catch {
        return undefined; // no such file (not Linux, or a sandbox without one): treated as unknown
      }
    },
    dropDeviceCache(device) {
      return dropBlockDeviceCache(device, config.flushDeviceCommand ?? ['blockdev', '--flushbufs']);
    },
    reboot() {
      const [cmd, ...args] = config.rebootCommand;
      if (cmd === undefined) return Promise.reject(new Error('no reboot command configured'));
      return new Promise((resolve, reject) => {
        execFile(cmd, args, { timeout: 60_000 }, (err, _stdout, stderr) => {
          if (err) reject(new Error(`reboot command ${config.rebootCommand.join(' ')} failed: ${stderr.trim() || err.message}`));
          else resolve();
        });
      });
    },
  };
}
