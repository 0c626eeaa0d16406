// Slot devices named by GPT partition label: resolved through a directory of symlinks as udev makes
// /dev/disk/by-partlabel (relative links to the device nodes), and never a write to the booted slot.
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readBootState } from './bootloader.js';
import { createHost, type HostConfig, partLabelProblem } from './host.js';
import { writeImage } from './image-writer.js';
import { readSlots } from './slots.js';
import { attachLoop, cleanupTempDirs, createSandbox, detachLoop, loopUnavailable, type ImageServer, sha256OfFile, startImageServer, tempDir } from './testing/sandbox.js';
import { skipUnlessRequired } from './testing/host-capabilities.js';

afterAll(cleanupTempDirs);

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A by-partlabel directory under the sandbox root, with links like udev's (`../../loop3`) or absolute ones. */
function labelDir(root: string, links: Record<string, string>): string {
  const dir = path.join(root, 'dev/disk/by-partlabel');
  mkdirSync(dir, { recursive: true });
  for (const [label, target] of Object.entries(links)) symlinkSync(target, path.join(dir, label));
  return dir;
}

function withLabels(config: HostConfig, dir: string, a: string, b: string): HostConfig {
  return { ...config, partLabelDir: dir, slotDevices: { A: { partLabel: a }, B: { partLabel: b } } };
}

describe('slot devices by partition label', () => {
  it('resolves labels through relative links, as udev makes them, to the device itself', async () => {
    const sb = createSandbox({ booted: 'A' });
    mkdirSync(path.join(sb.dir, 'dev'), { recursive: true });
    writeFileSync(path.join(sb.dir, 'dev/sda2'), '');
    writeFileSync(path.join(sb.dir, 'dev/sda3'), '');
    const dir = labelDir(sb.dir, { 'osfleet-A': '../../sda2', 'osfleet-B': '../../sda3' });
    const host = createHost(withLabels(sb.config, dir, 'osfleet-A', 'osfleet-B'));
    expect(await host.slotDevicePath('A')).toBe(realpathSync(path.join(sb.dir, 'dev/sda2')));
    expect(await host.slotDevicePath('B')).toBe(realpathSync(path.join(sb.dir, 'dev/sda3')));
  });

  it('says which label and where it looked when a label does not exist', async () => {
    const sb = createSandbox({ booted: 'A' });
    const dir = labelDir(sb.dir, {});
    const host = createHost(withLabels(sb.config, dir, 'osfleet-A', 'osfleet-B'));
    await expect(host.slotDevicePath('B')).rejects.toThrow(
      `slot B device not usable: partition label osfleet-B (${path.join(dir, 'osfleet-B')}): ENOENT`,
    );
  });

  it('refuses labels that are paths, before looking anything up', async () => {
    for (const bad of ['../../../etc/passwd', 'a/b', '.', '..', '']) expect(partLabelProblem(bad), bad).toBeDefined();
    expect(partLabelProblem('osfleet-B')).toBeUndefined();
    const sb = createSandbox({ booted: 'A' });
    const host = createHost(withLabels(sb.config, labelDir(sb.dir, {}), 'osfleet-A', '../../../../etc/passwd'));
    await expect(host.slotDevicePath('B')).rejects.toThrow(/slot B device not usable: partition label "..\/..\/..\/..\/etc\/passwd" is not a partition label/);
  });
});

const noLoop = skipUnlessRequired('partition-label tests on loop devices', loopUnavailable());

describe.skipIf(noLoop !== undefined)('partition labels on loop devices', () => {
  const MiB = 1024 * 1024;
  const dir = tempDir();
  let loops: string[] = [];
  let server: ImageServer;
  const image = randomBytes(2 * MiB + 17);
  let activeBefore = '';

  beforeAll(async () => {
    loops = [attachLoop(dir, 'a.raw', 8 * MiB).device, attachLoop(dir, 'b.raw', 8 * MiB).device];
    writeFileSync(loops[0]!, randomBytes(8 * MiB)); // the running system
    activeBefore = await sha256OfFile(loops[0]!);
    const www = path.join(dir, 'www');
    mkdirSync(www);
    writeFileSync(path.join(www, 'root.img'), image);
    server = await startImageServer(www);
  });
  afterAll(async () => {
    await server?.close();
    for (const l of loops) detachLoop(l);
  });

  const ref = () => ({ version: '2.0', url: `${server.url}/root.img`, sha256: sha(image), size: image.length });

  it('writes the slot its label names', async () => {
    const sb = createSandbox({ booted: 'A', dir: tempDir() });
    const labels = labelDir(sb.dir, { 'osfleet-A': loops[0]!, 'osfleet-B': loops[1]! });
    const host = createHost(withLabels(sb.config, labels, 'osfleet-A', 'osfleet-B'));
    expect(await host.slotDevicePath('A')).toBe(loops[0]);
    expect(await host.slotDevicePath('B')).toBe(loops[1]);
    const r = await writeImage({ host, slot: 'B', image: ref() });
    expect(r.sha256).toBe(sha(image));
    expect(await sha256OfFile(loops[1]!, image.length)).toBe(sha(image));
    expect(await sha256OfFile(loops[0]!)).toBe(activeBefore);
    expect((await readSlots(sb.config.persistDir)).slots.B).toMatchObject({ version: '2.0' });
    expect((await readBootState(sb.config.grubenvPath)).next).toBe('B');
  });

  it("refuses a label for the inactive slot that resolves to the booted slot's device: no request, no write, not armed", async () => {
    for (const [name, links, b] of [
      // The B label's link points at A's device (a cloned disk, a mislabelled partition)…
      ['same target', { 'osfleet-A': loops[0]!, 'osfleet-B': loops[0]! }, 'osfleet-B'],
      // …or the configuration names A's label for slot B.
      ['same label', { 'osfleet-A': loops[0]!, 'osfleet-B': loops[1]! }, 'osfleet-A'],
    ] as const) {
      const sb = createSandbox({ booted: 'A', dir: tempDir() });
      const labels = labelDir(sb.dir, links);
      const host = createHost(withLabels(sb.config, labels, 'osfleet-A', b));
      const requests = server.requests.length;
      await expect(writeImage({ host, slot: 'B', image: ref() }), name).rejects.toThrow(
        `refusing to write slot B: its device ${loops[0]} is also the booted slot A's device; fix the slot device configuration`,
      );
      expect(server.requests.length, name).toBe(requests);
      expect(await sha256OfFile(loops[0]!), name).toBe(activeBefore);
      expect((await readBootState(sb.config.grubenvPath)).next, name).toBeUndefined();
      expect((await readSlots(sb.config.persistDir)).slots.B, name).toBeUndefined();
    }
    // A slot given by path and the other by a label to the same device: the same refusal.
    const sb = createSandbox({ booted: 'A', dir: tempDir() });
    const labels = labelDir(sb.dir, { 'osfleet-B': loops[0]! });
    const host = createHost({ ...sb.config, partLabelDir: labels, slotDevices: { A: { path: loops[0]! }, B: { partLabel: 'osfleet-B' } } });
    await expect(writeImage({ host, slot: 'B', image: ref() })).rejects.toThrow(/is also the booted slot A's device/);
    expect(readFileSync(sb.config.grubenvPath).length).toBe(1024);
    expect(await sha256OfFile(loops[0]!)).toBe(activeBefore);
  });
});
