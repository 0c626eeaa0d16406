// The slot check before arming, on real block devices (loop devices): the bytes are read from the
// disk with the device's page cache dropped, so a disk that did not keep what the kernel wrote is
// caught, and a write that does not reach the disk is never armed.
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readBootState } from './bootloader.js';
import { createHost } from './host.js';
import { writeImage } from './image-writer.js';
import { readSlots } from './slots.js';
import { hashDevicePrefix, verifySlotDevice } from './slot-verify.js';
import { skipUnlessRequired } from './testing/host-capabilities.js';
import { attachLoop, cleanupTempDirs, createSandbox, detachLoop, loopUnavailable, type ImageServer, startImageServer, tempDir } from './testing/sandbox.js';

const MiB = 1024 * 1024;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('hashDevicePrefix', () => {
  it('hashes exactly the first N bytes, across buffer boundaries, and names a device that is too short', async () => {
    const file = path.join(tempDir(), 'dev.img');
    const bytes = randomBytes(3 * MiB + 12345);
    writeFileSync(file, bytes);
    expect(await hashDevicePrefix(file, bytes.length, { chunkBytes: MiB })).toBe(sha(bytes));
    expect(await hashDevicePrefix(file, 2 * MiB + 7, { chunkBytes: MiB })).toBe(sha(bytes.subarray(0, 2 * MiB + 7)));
    await expect(hashDevicePrefix(file, bytes.length + 1, { chunkBytes: MiB })).rejects.toThrow(`${file} ends at byte ${bytes.length}, before the ${bytes.length + 1} bytes recorded for it`);
  });
});

const noLoop = skipUnlessRequired('slot checks on loop devices', loopUnavailable());

describe.skipIf(noLoop !== undefined)('the check before arming, on loop devices', () => {
  const dir = tempDir();
  const loops: Array<{ device: string; file: string }> = [];
  const image = randomBytes(4 * MiB + 4321);
  let server: ImageServer;

  beforeAll(async () => {
    loops.push(attachLoop(dir, 'a.raw', 8 * MiB), attachLoop(dir, 'b.raw', 8 * MiB));
    const www = path.join(dir, 'www');
    mkdirSync(www);
    writeFileSync(path.join(www, 'root.img'), image);
    server = await startImageServer(www);
  });
  afterAll(async () => {
    await server?.close();
    for (const l of loops) detachLoop(l.device);
    cleanupTempDirs();
  });

  const node = (flushDeviceCommand?: string[]) => {
    const sb = createSandbox({ booted: 'A', dir: tempDir(), slotDevices: { A: loops[0]!.device, B: loops[1]!.device } });
    return { sb, host: createHost({ ...sb.config, ...(flushDeviceCommand ? { flushDeviceCommand } : {}) }) };
  };
  const ref = () => ({ version: '2.0', url: `${server.url}/root.img`, sha256: sha(image), size: image.length });

  it('reads the disk, not the page cache: a change below the kernel is caught only with the cache dropped', async () => {
    const { host } = node();
    const r = await writeImage({ host, slot: 'B', image: ref() });
    expect(r.verified).toMatchObject({ device: loops[1]!.device, bytes: image.length, cache: 'dropped' });
    // Held open (as the writer holds it while it verifies), the device keeps its page cache: the
    // kernel drops it only on the last close. Fill it, then change the disk under the kernel: the
    // loop device's backing file, not the device.
    const holder = openSync(loops[1]!.device, 'r');
    try {
      expect(await hashDevicePrefix(loops[1]!.device, image.length)).toBe(sha(image));
      const fd = openSync(loops[1]!.file, 'r+');
      writeSync(fd, Buffer.from([image[MiB]! ^ 0x01]), 0, 1, MiB);
      closeSync(fd);
      // Through the page cache the device still looks right (what the kernel remembers writing)…
      const cached = node(['true']).host;
      await expect(verifySlotDevice(cached, 'B', { sha256: sha(image), size: image.length }, '2.0')).resolves.toMatchObject({ bytes: image.length });
      // …with the cache dropped (blockdev --flushbufs, the default) the change is seen.
      await expect(verifySlotDevice(host, 'B', { sha256: sha(image), size: image.length }, '2.0 as written')).rejects.toThrow(
        new RegExp(`^slot B \\(${loops[1]!.device}\\) does not hold 2\\.0 as written: the sha256 of its first ${image.length} bytes is [0-9a-f]{64}, but ${sha(image)} was written`),
      );
    } finally {
      closeSync(holder);
    }
  });

  it('a write that does not reach the disk is not armed and not recorded', async () => {
    // The "cache drop" stands in for a disk that lost a write: it changes a byte on the device.
    const { sb, host } = node(['sh', '-c', 'printf Z | dd of="$0" bs=1 seek=4096 conv=notrunc status=none']);
    await expect(writeImage({ host, slot: 'B', image: ref() })).rejects.toMatchObject({ reason: 'SlotMismatch', message: expect.stringMatching(/^slot B .* does not hold image 2\.0 as just written/) });
    expect((await readBootState(sb.config.grubenvPath)).next).toBeUndefined();
    expect((await readSlots(sb.config.persistDir)).slots.B).toBeUndefined();
  });
});
