// What a slot holds, read back from its device: the sha256 of its first `size` bytes, compared with
// what the agent recorded when it wrote them. Run before a slot is armed (after a write, and again
// before a rollback flip or a re-arm, which may come days later), so GRUB is never pointed at bytes
// that are not the image the OSVersion pinned: a lost write, a slot mounted and changed by hand, a
// failing disk. The device's page cache is dropped first (BLKFLSBUF on the unmounted block device),
// so the bytes come from the disk, not from what the kernel remembers writing: Linux drops a block
// device's cache by itself only at its last close, and the writer still holds the device open.
import { execFile } from 'node:child_process';
import { type FileHandle, open } from 'node:fs/promises';
import { statSync } from 'node:fs';
import { ImageWriteError } from './image-error.js';
import { type ImageHash, newImageHash } from './image-hash.js';
import type { Host, Slot } from './host.js';

const MiB = 1024 * 1024;

/** What a slot's device must hold: `sha256` over its first `size` bytes. */
export interface DeviceContent {
  sha256: string;
  size: number;
}

export interface SlotVerification {
  device: string;
  bytes: number;
  ms: number;
  /** "dropped", or why the page cache was kept (the bytes may then come from memory). */
  cache: string;
}

/** Two buffers and a hash over them: the image writer's own, reused for its read-back. */
export interface HashRing {
  ring: readonly [Buffer, Buffer];
  hash: ImageHash;
}

/**
 * Reads the first `bytes` bytes of the open device `fh` into `hash`, through the two buffers of
 * `ring`: one is read while the other is hashed off the main thread, so memory stays flat and
 * reading overlaps hashing. No digest: the caller takes it, or goes on hashing (a resumed write).
 * Returns how many bytes there were: fewer than `bytes` when the device ends first.
 */
export async function hashPrefixInto(fh: FileHandle, bytes: number, { ring, hash }: HashRing): Promise<number> {
  const busy: Array<Promise<void> | undefined> = [undefined, undefined];
  let pos = 0;
  try {
    for (let i = 0; pos < bytes; i ^= 1) {
      await busy[i];
      const buf = ring[i] as Buffer;
      const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, bytes - pos), pos);
      if (bytesRead <= 0) break;
      busy[i] = hash.update(buf, bytesRead);
      pos += bytesRead;
    }
    await Promise.all(busy);
  } finally {
    // Never leave a buffer being hashed behind (nor its failure unhandled) when a read throws.
    await Promise.allSettled(busy);
  }
  return pos;
}

/**
 * sha256 of the first `bytes` bytes of `device`. `with` lends buffers and a hash (the writer's,
 * idle after its write) instead of allocating new ones.
 */
export async function hashDevicePrefix(device: string, bytes: number, opts: { chunkBytes?: number; with?: HashRing } = {}): Promise<string> {
  const chunkBytes = opts.chunkBytes ?? 4 * MiB;
  let own: HashRing | undefined;
  if (!opts.with) {
    const ring = [Buffer.from(new SharedArrayBuffer(chunkBytes)), Buffer.from(new SharedArrayBuffer(chunkBytes))] as const;
    own = { ring, hash: newImageHash([...ring]) };
  }
  const hashRing = opts.with ?? own!;
  const fh = await open(device, 'r');
  try {
    const read = await hashPrefixInto(fh, bytes, hashRing);
    if (read < bytes) throw new ImageWriteError(`${device} ends at byte ${read}, before the ${bytes} bytes recorded for it`, 'SlotMismatch');
    return await hashRing.hash.digest();
  } finally {
    own?.hash.close();
    await fh.close();
  }
}

/** Throws SlotMismatch, naming the slot and both digests, when the device does not hold `want`. */
export async function verifySlotDevice(host: Host, slot: Slot, want: DeviceContent, what: string, ring?: HashRing): Promise<SlotVerification> {
  const started = Date.now();
  const device = await host.slotDevicePath(slot);
  const cache = await host.dropDeviceCache(device);
  const got = await hashDevicePrefix(device, want.size, ring ? { with: ring } : {});
  if (got !== want.sha256.toLowerCase()) {
    throw new ImageWriteError(
      `slot ${slot} (${device}) does not hold ${what}: the sha256 of its first ${want.size} bytes is ${got}, but ${want.sha256} was written; ` +
        `it is not armed (the disk lost or changed the bytes, or someone wrote to the slot)`,
      'SlotMismatch',
    );
  }
  return { device, bytes: want.size, ms: Date.now() - started, cache };
}

/**
 * Drops the page cache of an unmounted block device (BLKFLSBUF through `command DEVICE`), so the
 * next reads come from the disk. Returns "dropped", or why not: a regular file (test slots) keeps
 * its cache, and a command that fails is reported, not fatal (the bytes are still compared).
 */
export function dropBlockDeviceCache(device: string, command: readonly string[]): Promise<string> {
  let isBlock: boolean;
  try {
    isBlock = statSync(device).isBlockDevice();
  } catch (err) {
    return Promise.resolve(`kept (${(err as Error).message})`);
  }
  if (!isBlock) return Promise.resolve('kept (not a block device)');
  const [cmd, ...args] = command;
  if (cmd === undefined) return Promise.resolve('kept (no cache drop command configured)');
  return new Promise((resolve) =>
    execFile(cmd, [...args, device], { timeout: 60_000 }, (err, _stdout, stderr) =>
      resolve(err ? `kept (${[cmd, ...args, device].join(' ')} failed: ${String(stderr).trim() || err.message})` : 'dropped'),
    ),
  );
}
