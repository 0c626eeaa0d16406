// Image writer edge cases on plain-file slots (no root): a stalled server, and resuming when the
// recorded progress already covers the whole image.
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHost } from './host.js';
import { DOWNLOAD_STATE_FILE, writeImage } from './image-writer.js';
import { readSlots } from './slots.js';
import { cleanupTempDirs, createSandbox, type ImageServer, startImageServer, tempDir } from './testing/sandbox.js';
import { atomicWriteFile } from './atomic-file.js';

afterAll(cleanupTempDirs);

const MiB = 1024 * 1024;

describe('a server that accepts and then sends nothing', () => {
  let server: net.Server;
  const sockets: net.Socket[] = [];
  let url = '';
  beforeAll(async () => {
    server = net.createServer((s) => void sockets.push(s)); // reads the request, never answers
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/root.img`;
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
  });

  it('fails the request after idleTimeoutMs with a clear, retryable error', async () => {
    const sb = createSandbox();
    const t0 = Date.now();
    const write = writeImage({ host: createHost(sb.config), slot: 'B', image: { version: '2', url, sha256: 'a'.repeat(64) }, idleTimeoutMs: 300, maxAttempts: 1 });
    await expect(write).rejects.toThrow(/failed 1 times in a row at byte 0: no data from 127\.0\.0\.1:\d+ for 0\.3 s/);
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(sockets.length).toBe(1);
  });
});

describe('resume when the state file claims every byte', () => {
  const CHECKPOINT = 1 * MiB;
  const img = randomBytes(2 * CHECKPOINT); // an exact multiple of checkpointBytes
  const sha = createHash('sha256').update(img).digest('hex');
  let server: ImageServer;
  beforeAll(async () => {
    const www = tempDir();
    mkdirSync(www, { recursive: true });
    writeFileSync(path.join(www, 'root.img'), img);
    server = await startImageServer(www);
  });
  afterAll(() => server.close());

  async function killedAfterLastCheckpoint(claim: { bytesDone: number; bytesTotal?: number }, deviceBytes: Buffer) {
    const sb = createSandbox();
    const host = createHost(sb.config);
    const device = await host.slotDevicePath('B');
    writeFileSync(device, deviceBytes);
    const url = `${server.url}/root.img`;
    await atomicWriteFile(
      path.join(sb.config.persistDir, DOWNLOAD_STATE_FILE),
      JSON.stringify({ version: 1, url, sha256: sha, imageVersion: '2', slot: 'B', device, ...claim }) + '\n',
    );
    server.requests.length = 0;
    return { sb, host, device, url };
  }

  it('verifies from the device without a request (no Range: bytes=total-, no 416)', async () => {
    const { sb, host, device, url } = await killedAfterLastCheckpoint({ bytesDone: img.length, bytesTotal: img.length }, img);
    const r = await writeImage({ host, slot: 'B', image: { version: '2', url, sha256: sha, size: img.length }, checkpointBytes: CHECKPOINT, chunkBytes: 256 * 1024, maxAttempts: 2 });
    expect(r).toMatchObject({ bytes: img.length, sha256: sha, resumedFrom: img.length, requests: 0 });
    expect(server.requests).toHaveLength(0);
    expect(readFileSync(device).equals(img)).toBe(true);
    expect((await readSlots(sb.config.persistDir)).slots.B).toMatchObject({ version: '2', sha256: sha });
  });

  it('a 416 answer forgets the recorded progress and downloads from 0', async () => {
    // Progress past the end of the image on the server (no total recorded, none in the spec): 416.
    const { host, device, url } = await killedAfterLastCheckpoint({ bytesDone: 3 * CHECKPOINT }, Buffer.alloc(4 * CHECKPOINT));
    const r = await writeImage({ host, slot: 'B', image: { version: '2', url, sha256: sha }, checkpointBytes: CHECKPOINT, chunkBytes: 256 * 1024, maxAttempts: 2 });
    expect(r).toMatchObject({ sha256: sha, bytes: img.length });
    expect(server.requests.map((q) => q.range)).toEqual([`bytes=${3 * CHECKPOINT}-`, undefined]);
    expect(readFileSync(device).subarray(0, img.length).equals(img)).toBe(true);
  });
});
