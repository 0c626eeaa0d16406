// Compressed slot images (`.zst`, `.gz`): decompressed while streaming onto the slot, the sha256
// pinned over the compressed bytes the server sends, the size over what lands on the device.
// The images are made by the reference CLIs (zstd, gzip) and served over real HTTP on loopback.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHost } from './host.js';
import { DOWNLOAD_STATE_FILE, writeImage } from './image-writer.js';
import { readSlots } from './slots.js';
import { cleanupTempDirs, createSandbox, type ImageServer, type Sandbox, sha256OfFile, startImageServer, tempDir } from './testing/sandbox.js';

const MiB = 1024 * 1024;
/** The sandbox's slot B file (createSandbox without loop devices uses plain files). */
const slotB = (sb: Sandbox) => (sb.config.slotDevices.B as { path: string }).path;
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('compressed slot images', () => {
  const dir = tempDir();
  const www = path.join(dir, 'www');
  // Like a root file system: incompressible stretches between long runs of zeros; not a multiple of any buffer size.
  const raw = Buffer.concat([randomBytes(5 * MiB), Buffer.alloc(20 * MiB), randomBytes(3 * MiB + 4321), Buffer.alloc(7 * MiB + 99)]);
  const rawSha = sha256(raw);
  let server: ImageServer;
  const digest: Record<string, string> = {};

  beforeAll(async () => {
    mkdirSync(www);
    writeFileSync(path.join(www, 'root.img'), raw);
    execFileSync('zstd', ['-q', '-3', '-f', path.join(www, 'root.img'), '-o', path.join(www, 'root.img.zst')]);
    execFileSync('gzip', ['-k', '-f', path.join(www, 'root.img')]);
    for (const f of ['root.img.zst', 'root.img.gz']) digest[f] = sha256(readFileSync(path.join(www, f)));
    // A stream cut short: the first half of the zstd file.
    const half = readFileSync(path.join(www, 'root.img.zst'));
    writeFileSync(path.join(www, 'cut.img.zst'), half.subarray(0, Math.floor(half.length / 2)));
    digest['cut.img.zst'] = sha256(readFileSync(path.join(www, 'cut.img.zst')));
    // Garbage in the middle of the zstd file: the decoder fails mid-stream.
    const bad = Buffer.from(half);
    bad.fill(0xa5, Math.floor(bad.length / 3), Math.floor(bad.length / 3) + 64 * 1024);
    writeFileSync(path.join(www, 'bad.img.zst'), bad);
    digest['bad.img.zst'] = sha256(bad);
    server = await startImageServer(www);
  });

  afterAll(async () => {
    await server?.close();
    cleanupTempDirs();
  });

  const stage = (file: string, image: { sha256: string; size?: number }) => {
    const sb = createSandbox();
    const result = writeImage({ host: createHost(sb.config), slot: 'B', image: { version: '2', url: `${server.url}/${file}`, ...image }, chunkBytes: 1 * MiB });
    return { sb, result };
  };

  for (const file of ['root.img.zst', 'root.img.gz']) {
    it(`${file}: the slot holds the decompressed image, verified against the digest of the compressed file`, async () => {
      const compressedSize = readFileSync(path.join(www, file)).length;
      expect(compressedSize).toBeLessThan(raw.length / 2);
      const { sb, result } = stage(file, { sha256: digest[file]!, size: raw.length });
      const r = await result;
      expect(r).toMatchObject({ bytes: raw.length, sha256: digest[file], deviceSha256: rawSha, resumedFrom: 0, verified: { bytes: raw.length } });
      expect(await sha256OfFile(slotB(sb), raw.length)).toBe(rawSha);
      const slots = await readSlots(sb.config.persistDir);
      // The pin (over what the server sent) and the digest of the bytes on the device, which a rollback re-checks.
      expect(slots.slots.B).toEqual({ version: '2', sha256: digest[file], size: raw.length, deviceSha256: rawSha });
      expect(slots.attempt).toMatchObject({ slot: 'B', sha256: digest[file] });
    });
  }

  it('works without a size in the OSVersion (the device gets what the stream decompresses to)', async () => {
    const { sb, result } = stage('root.img.zst', { sha256: digest['root.img.zst']! });
    expect((await result).bytes).toBe(raw.length);
    expect(await sha256OfFile(slotB(sb), raw.length)).toBe(rawSha);
  });

  it('refuses a digest of the decompressed bytes: the pin is over what the server sends', async () => {
    const { sb, result } = stage('root.img.zst', { sha256: rawSha, size: raw.length });
    await expect(result).rejects.toMatchObject({ reason: 'DigestMismatch' });
    expect((await readSlots(sb.config.persistDir)).slots.B).toBeUndefined();
  });

  it('refuses an image whose decompressed size differs from the OSVersion', async () => {
    await expect(stage('root.img.zst', { sha256: digest['root.img.zst']!, size: raw.length - 1 }).result).rejects.toThrow(/decompresses to more than the expected/);
    await expect(stage('root.img.gz', { sha256: digest['root.img.gz']!, size: raw.length + 1 }).result).rejects.toThrow(/decompressed to \d+ bytes, but \d+ were expected/);
  });

  it('refuses a stream that ends early, without arming the slot', async () => {
    const { sb, result } = stage('cut.img.zst', { sha256: digest['cut.img.zst']! });
    await expect(result).rejects.toThrow(/not valid zstd data|unexpected end|decompressed to/i);
    expect((await readSlots(sb.config.persistDir)).slots.B).toBeUndefined();
  });

  it('fails a stream that turns corrupt in the middle (does not wait forever for the decoder), without arming the slot', async () => {
    const { sb, result } = stage('bad.img.zst', { sha256: digest['bad.img.zst']! });
    await expect(result).rejects.toThrow(/not valid zstd data/i);
    expect((await readSlots(sb.config.persistDir)).slots.B).toBeUndefined();
  }, 20_000);

  it('starts over from the first byte after a dropped connection (no Range into a compressed stream), and verifies', async () => {
    const before = server.requests.length;
    server.dropNextAfter(256 * 1024);
    const { sb, result } = stage('root.img.zst', { sha256: digest['root.img.zst']!, size: raw.length });
    expect((await result).bytes).toBe(raw.length);
    const requests = server.requests.slice(before);
    expect(requests.length).toBe(2);
    expect(requests.every((r) => r.range === undefined)).toBe(true);
    expect(await sha256OfFile(slotB(sb), raw.length)).toBe(rawSha);
  });

  it('a leftover resume record from a killed run does not resume a compressed image', async () => {
    const sb = createSandbox();
    // The slot already holds a correct prefix, and the record claims it: resuming would ask for a range.
    const url = `${server.url}/root.img.zst`;
    writeFileSync(slotB(sb), raw.subarray(0, 8 * MiB));
    truncateSync(slotB(sb), 8 * MiB);
    const record = { version: 1, url, sha256: digest['root.img.zst'], imageVersion: '2', slot: 'B', device: slotB(sb), bytesDone: 8 * MiB, bytesTotal: raw.length };
    mkdirSync(path.dirname(path.join(sb.config.persistDir, DOWNLOAD_STATE_FILE)), { recursive: true });
    writeFileSync(path.join(sb.config.persistDir, DOWNLOAD_STATE_FILE), JSON.stringify(record));
    const before = server.requests.length;
    const r = await writeImage({ host: createHost(sb.config), slot: 'B', image: { version: '2', url, sha256: digest['root.img.zst']!, size: raw.length } });
    expect(r.resumedFrom).toBe(0);
    expect(await sha256OfFile(slotB(sb), raw.length)).toBe(rawSha);
    expect(server.requests.slice(before).map((q) => q.range)).toEqual([undefined]);
  });
});
