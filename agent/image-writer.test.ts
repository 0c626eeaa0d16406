import { randomBytes, createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { readBootState, disarm } from './bootloader.js';
import { createHost } from './host.js';
import { DOWNLOAD_STATE_FILE, ImageWriteError, redirectProblem, writeImage } from './image-writer.js';
import { readSlots, writeSlots } from './slots.js';
import { cleanupTempDirs, attachLoop, createSandbox, detachLoop, loopUnavailable, type ImageServer, type Sandbox, sha256OfFile, spawnTs, startImageServer, tempDir } from './testing/sandbox.js';
import { skipUnlessRequired } from './testing/host-capabilities.js';

afterAll(cleanupTempDirs);

const MiB = 1024 * 1024;

describe('image reference and redirect rules', () => {
  it('refuses images without a pinned digest', async () => {
    const sb = createSandbox();
    await expect(writeImage({ host: createHost(sb.config), slot: 'B', image: { version: '1', url: 'http://127.0.0.1:1/x.img', sha256: '' } })).rejects.toThrow(
      /no pinned sha256 digest/,
    );
  });

  it('follows a redirect to another host only over https, and never down to http', () => {
    const u = (s: string) => new URL(s);
    expect(redirectProblem(u('http://a/x'), u('http://a/y'))).toBeUndefined();
    expect(redirectProblem(u('http://a/x'), u('https://b/y'))).toBeUndefined();
    expect(redirectProblem(u('http://a/x'), u('http://b/y'))).toMatch(/another host over plain http/);
    expect(redirectProblem(u('https://a/x'), u('http://a/y'))).toMatch(/from https to plain http/);
    expect(redirectProblem(u('https://a/x'), u('file:///etc/passwd'))).toMatch(/unsupported scheme/);
  });
});

const noLoop = skipUnlessRequired('A/B loop-device tests', loopUnavailable());

describe.skipIf(noLoop !== undefined)('A/B image writes on loop devices', () => {
  const dir = tempDir();
  const IMAGE_BYTES = 40 * MiB + 12345; // not a multiple of the write size
  let loops: { device: string }[] = [];
  let sb: Sandbox;
  let server: ImageServer;
  let imageSha = '';
  let activeSha = '';
  let dev: { A: string; B: string };

  beforeAll(async () => {
    loops = [attachLoop(dir, 'slot-a.raw', 64 * MiB), attachLoop(dir, 'slot-b.raw', 64 * MiB)];
    dev = { A: loops[0]!.device, B: loops[1]!.device };
    const served = path.join(dir, 'www');
    const img = randomBytes(IMAGE_BYTES);
    imageSha = createHash('sha256').update(img).digest('hex');
    mkdirSync(served);
    writeFileSync(path.join(served, 'root.img'), img);
    writeFileSync(dev.A, randomBytes(64 * MiB)); // the running system's bytes
    activeSha = await sha256OfFile(dev.A);
    server = await startImageServer(served);
  });

  afterAll(async () => {
    await server?.close();
    for (const l of loops) detachLoop(l.device);
    sb?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  beforeEach(async () => {
    sb?.cleanup();
    sb = createSandbox({ slotDevices: dev, booted: 'A' });
    server.requests.length = 0;
  });

  const image = () => ({ version: '2.0', url: `${server.url}/root.img`, sha256: imageSha, size: IMAGE_BYTES });

  it('writes the inactive slot, leaves the active slot byte-identical, records and arms it', async () => {
    const progress: number[] = [];
    const r = await writeImage({ host: createHost(sb.config), slot: 'B', image: image(), onProgress: (d) => progress.push(d) });
    expect(r).toMatchObject({ slot: 'B', bytes: IMAGE_BYTES, sha256: imageSha, resumedFrom: 0, requests: 1 });
    expect(progress.at(-1)).toBe(IMAGE_BYTES);
    expect(await sha256OfFile(dev.B, IMAGE_BYTES)).toBe(imageSha);
    expect(await sha256OfFile(dev.A)).toBe(activeSha);
    const slots = await readSlots(sb.config.persistDir);
    expect(slots.slots.B).toEqual({ version: '2.0', sha256: imageSha, size: IMAGE_BYTES });
    expect(slots.attempt).toEqual({ slot: 'B', version: '2.0', sha256: imageSha, fromSlot: 'A' });
    expect(await readBootState(sb.config.grubenvPath)).toMatchObject({ saved: 'A', next: 'B', tries: 0 });
  });

  it('refuses to write the booted slot', async () => {
    await expect(writeImage({ host: createHost(sb.config), slot: 'A', image: image() })).rejects.toThrow(/refusing to write slot A: it is the booted \(running\) slot/);
    const sameDev = createSandbox({ slotDevices: { A: dev.A, B: dev.A }, booted: 'A' });
    await expect(writeImage({ host: createHost(sameDev.config), slot: 'B', image: image() })).rejects.toThrow(/also the booted slot A's device/);
    expect(server.requests).toHaveLength(0);
    expect(await sha256OfFile(dev.A)).toBe(activeSha);
  });

  it('a digest mismatch never arms the slot and forgets its old content', async () => {
    await writeSlots(sb.config.persistDir, { version: 1, slots: { B: { version: '1.0', sha256: 'c'.repeat(64), size: 1 } } });
    const wrong = { ...image(), sha256: 'f'.repeat(64) };
    const err = await writeImage({ host: createHost(sb.config), slot: 'B', image: wrong }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImageWriteError);
    expect((err as ImageWriteError).reason).toBe('DigestMismatch');
    expect((err as Error).message).toMatch(/has sha256 [0-9a-f]{64}, but the pinned digest is f{64}; slot B was NOT armed/);
    const slots = await readSlots(sb.config.persistDir);
    expect(slots.slots.B).toBeUndefined();
    expect(slots.attempt).toBeUndefined();
    expect((await readBootState(sb.config.grubenvPath)).next).toBeUndefined();
    expect(await sha256OfFile(dev.A)).toBe(activeSha);
  });

  it('resumes with Range after the server drops the connection mid-body', async () => {
    server.dropNextAfter(10 * MiB + 777);
    const r = await writeImage({ host: createHost(sb.config), slot: 'B', image: image() });
    expect(r.sha256).toBe(imageSha);
    expect(server.requests.length).toBe(2);
    const resumed = server.requests[1]!;
    expect(resumed.range).toMatch(/^bytes=\d+-$/);
    const offset = Number(/\d+/.exec(resumed.range!)![0]);
    expect(offset).toBeGreaterThan(0);
    expect(offset).toBeLessThanOrEqual(10 * MiB + 777);
    expect(resumed.ifRange).toMatch(/^"/);
    expect(await sha256OfFile(dev.B, IMAGE_BYTES)).toBe(imageSha);
  });

  it('refuses a redirect to another host over plain http', async () => {
    const port = new URL(server.url).port;
    const sb2 = createSandbox({ slotDevices: dev, booted: 'A' });
    const srv = await startImageServer(tempDir(), { redirects: { '/x.img': `http://localhost:${port}/root.img` } });
    try {
      await expect(writeImage({ host: createHost(sb2.config), slot: 'B', image: { ...image(), url: `${srv.url}/x.img` } })).rejects.toThrow(/another host over plain http/);
      expect(server.requests).toHaveLength(0);
    } finally {
      await srv.close();
    }
  });

  it('a writer killed at random offsets never touches the active slot, and a retry completes from its checkpoint', async () => {
    const req = (extra = {}) => JSON.stringify({ config: sb.config, slot: 'B', image: image(), chunkBytes: 1 * MiB, checkpointBytes: 4 * MiB, ...extra });
    for (let round = 0; round < 3; round++) {
      const killAt = (8 + Math.floor(Math.random() * 28)) * MiB;
      const child = spawnTs('agent/testing/write-child.ts', [req()]);
      let out = '';
      // Past the kill offset, and once a checkpoint is durable (recorded after its fdatasync, which
      // may lag the download on a busy machine): otherwise a retry rightly starts from 0.
      const checkpointed = () => {
        try {
          return (JSON.parse(readFileSync(path.join(sb.config.persistDir, DOWNLOAD_STATE_FILE), 'utf8')) as { bytesDone: number }).bytesDone > 0;
        } catch {
          return false;
        }
      };
      await new Promise<void>((resolve) => {
        child.stdout?.on('data', (d) => {
          out += String(d);
          const last = /progress (\d+)\n$/.exec(out);
          if (last && Number(last[1]) >= killAt && checkpointed()) child.kill('SIGKILL');
        });
        child.on('close', () => resolve());
      });
      expect(out, `round ${round} finished before it was killed`).not.toMatch(/^result/m);
      expect(await sha256OfFile(dev.A)).toBe(activeSha);
      expect((await readBootState(sb.config.grubenvPath)).next).toBeUndefined();
      expect((await readSlots(sb.config.persistDir)).slots.B).toBeUndefined();
    }
    server.requests.length = 0;
    const r = await writeImage({ host: createHost(sb.config), slot: 'B', image: image(), chunkBytes: 1 * MiB, checkpointBytes: 4 * MiB });
    expect(r.resumedFrom).toBeGreaterThan(0);
    expect(server.requests[0]?.range).toBe(`bytes=${r.resumedFrom}-`);
    expect(r.sha256).toBe(imageSha);
    expect(await sha256OfFile(dev.B, IMAGE_BYTES)).toBe(imageSha);
    expect(await sha256OfFile(dev.A)).toBe(activeSha);
    expect((await readBootState(sb.config.grubenvPath)).next).toBe('B');
  });

  it('re-staging a slot disarms it first so a crash mid-write cannot boot half an image', async () => {
    await writeImage({ host: createHost(sb.config), slot: 'B', image: image() });
    expect((await readBootState(sb.config.grubenvPath)).next).toBe('B');
    const err = await writeImage({ host: createHost(sb.config), slot: 'B', image: { ...image(), sha256: '0'.repeat(64) } }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(ImageWriteError);
    expect((await readBootState(sb.config.grubenvPath)).next).toBeUndefined();
    await disarm(sb.config.grubenvPath);
  });
});
