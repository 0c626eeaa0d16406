// Stage an OS image into the inactive slot: stream it over HTTP(S), hash and write it
// in one pass with flat memory, resume after interruptions, and arm the slot only
// when what arrived matches the pinned sha256 and the device, read back, holds what was written.
import { readFileSync, statSync } from 'node:fs';
import { type FileHandle, open, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { atomicWriteFile } from './atomic-file.js';
import { armSlot, readBootState, disarm } from './bootloader.js';
import { type Host, type Slot, otherSlot } from './host.js';
import { type SlotsState, updateSlots } from './slots.js';
import { type HashRing, hashPrefixInto, type SlotVerification, verifySlotDevice } from './slot-verify.js';
import { ImageWriteError } from './image-error.js';
import { newImageHash, type ImageHash } from './image-hash.js';
import type { BodySink, ImageResponse } from './image-response.js';
import { getImage, ImageConnections } from './image-transport.js';
import { type Compression, DecompressingSink, compressionOf } from './image-decompress.js';

export { ImageWriteError } from './image-error.js';
export { redirectProblem } from './image-transport.js';

export const DOWNLOAD_STATE_FILE = 'var/lib/osfleet/download.json';
const MiB = 1024 * 1024;

export interface ImageRef {
  version: string;
  url: string;
  /** Pinned digest, 64 hex characters. Images are never used without one. */
  sha256: string;
  /** Expected size in bytes, when the spec carries it. */
  size?: number;
}

export interface WriteImageOptions {
  host: Host;
  /** The slot to write; must not be the booted one. */
  slot: Slot;
  image: ImageRef;
  onProgress?: (bytesDone: number, bytesTotal: number | undefined) => void;
  /** Write size (default 4 MiB). */
  chunkBytes?: number;
  /** fdatasync the device and record progress this often (default 256 MiB); a restarted agent resumes from there. */
  checkpointBytes?: number;
  /** Consecutive failed requests before giving up (default 5). */
  maxAttempts?: number;
  /** Arm the slot for a one-shot boot after a verified write (default true). */
  arm?: boolean;
  maxBootTries?: number;
  /**
   * Fail a request when the server sends nothing for this long while the agent waits for data
   * (connecting, TLS, the response head, the body; default 60 s). Retried like a dropped connection.
   */
  idleTimeoutMs?: number;
  /** Extra trust roots for https (tests). */
  ca?: string | Buffer;
  signal?: AbortSignal;
  /** Read the slot back from its device and compare before recording and arming it (default true; benchmarks turn it off to measure it apart). */
  verifyOnDevice?: boolean;
}

export interface WriteImageResult {
  slot: Slot;
  device: string;
  bytes: number;
  sha256: string;
  /** sha256 of the bytes on the device (equal to `sha256` for a raw image). */
  deviceSha256: string;
  /** The read-back of the device before arming (absent when verifyOnDevice is false). */
  verified?: SlotVerification;
  /** Where this run started: > 0 when it resumed a previous run's progress. */
  resumedFrom: number;
  /** HTTP requests made (redirect hops included). */
  requests: number;
}

interface DownloadState {
  version: 1;
  url: string;
  sha256: string;
  imageVersion: string;
  slot: Slot;
  device: string;
  /** Bytes on the device and fdatasync'ed. */
  bytesDone: number;
  bytesTotal?: number;
}

export function imageRefProblem(image: ImageRef): string | undefined {
  if (!/^[0-9a-fA-F]{64}$/.test(image.sha256 ?? '')) {
    return `image ${image.url} has no pinned sha256 digest (64 hex characters); osfleet only installs images with a pinned digest`;
  }
  let u: URL;
  try {
    u = new URL(image.url);
  } catch {
    return `image URL ${JSON.stringify(image.url)} is not a valid URL`;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return `image URL ${image.url} must be http:// or https://`;
  if (image.size !== undefined && (!Number.isSafeInteger(image.size) || image.size <= 0)) return `image size ${image.size} is not a positive integer`;
  return undefined;
}

export async function writeImage(opts: WriteImageOptions): Promise<WriteImageResult> {
  const { host, slot, image } = opts;
  const chunkBytes = opts.chunkBytes ?? 4 * MiB;
  const checkpointBytes = opts.checkpointBytes ?? 256 * MiB;
  const refProblem = imageRefProblem(image);
  if (refProblem) throw new ImageWriteError(refProblem, 'BadImageRef');
  const want = image.sha256.toLowerCase();

  // Never the running system.
  const booted = await host.bootedSlot();
  if (slot === booted) {
    throw new ImageWriteError(`refusing to write slot ${slot}: it is the booted (running) slot; images go to the inactive slot ${otherSlot(slot)}`, 'ActiveSlot');
  }
  const device = await host.slotDevicePath(slot);
  const bootedDevice = await host.slotDevicePath(booted);
  if (device === bootedDevice || sameDevice(device, bootedDevice)) {
    throw new ImageWriteError(`refusing to write slot ${slot}: its device ${device} is also the booted slot ${booted}'s device; fix the slot device configuration`, 'ActiveSlot');
  }
  const mounted = mountedAt(device);
  if (mounted) throw new ImageWriteError(`refusing to write slot ${slot}: its device ${device} is mounted at ${mounted}`, 'ActiveSlot');

  const persist = host.config.persistDir;
  const stateFile = path.join(persist, DOWNLOAD_STATE_FILE);
  const previous = await readDownloadState(stateFile);
  // A compressed image cannot resume mid-stream (the decompressor's state is lost): it restarts.
  const resumable =
    compressionOf(image.url) === undefined &&
    previous !== undefined && previous.url === image.url && previous.sha256 === want && previous.slot === slot && previous.device === device;

  // The slot's old content is about to go: forget it and make sure nothing boots it.
  const bootState = await readBootState(host.config.grubenvPath).catch(() => undefined);
  if (bootState?.next === slot) await disarm(host.config.grubenvPath);
  await updateSlots(persist, (s) => {
    const slots = { ...s.slots };
    delete slots[slot];
    const next = { ...s, slots };
    if (next.attempt?.slot === slot) delete next.attempt;
    return next;
  });

  const state: DownloadState = resumable
    ? previous
    : { version: 1, url: image.url, sha256: want, imageVersion: image.version, slot, device, bytesDone: 0, bytesTotal: image.size };
  if (!resumable) await atomicWriteFile(stateFile, JSON.stringify(state) + '\n');

  let fh: FileHandle;
  try {
    fh = await open(device, 'r+');
  } catch (err) {
    throw new ImageWriteError(`cannot open slot ${slot} device ${device} for writing: ${(err as Error).message}`, 'Device');
  }
  try {
    const capacity = deviceSize(device);
    if (image.size !== undefined && capacity !== undefined && image.size > capacity) {
      throw new ImageWriteError(`image ${image.url} is ${image.size} bytes but slot ${slot} (${device}) holds only ${capacity}`, 'Device');
    }
    const resumedFrom = state.bytesDone;
    const run = new StreamRun(opts, fh, state, stateFile, chunkBytes, checkpointBytes, capacity);
    let bytes: number;
    let got: string;
    let deviceSha256: string;
    let verified: SlotVerification | undefined;
    try {
      if (resumedFrom > 0) await run.hashPrefix(resumedFrom);
      bytes = await run.download();
      await fh.sync();
      // The run's hash: it starts a new one when a server ignores Range and the image restarts from 0.
      ({ pinned: got, device: deviceSha256 } = await run.digests());
      if (got !== want) {
        await rm(stateFile, { force: true });
        throw new ImageWriteError(
          `image ${image.url} (version ${image.version}) has sha256 ${got}, but the pinned digest is ${want}; ` +
            `slot ${slot} was NOT armed and the node keeps booting slot ${booted}. Check the digest in the OSVersion and the file on the image server`,
          'DigestMismatch',
        );
      }
      // What was hashed on the way is what the agent handed to the kernel; read the device back (from
      // the disk, its cache dropped) before anything may boot it, through the run's idle ring and hash.
      if (opts.verifyOnDevice !== false) verified = await verifySlotDevice(host, slot, { sha256: deviceSha256, size: bytes }, `image ${image.version} as just written`, run.hashRing());
    } finally {
      run.close();
    }
    await updateSlots(persist, (s) => {
      const next: SlotsState = {
        ...s,
        slots: { ...s.slots, [slot]: { version: image.version, sha256: want, size: bytes, ...(deviceSha256 !== want ? { deviceSha256 } : {}) } },
        attempt: opts.arm === false ? s.attempt : { slot, version: image.version, sha256: want, fromSlot: booted },
      };
      if (next.discarded?.slot === slot) delete next.discarded;
      return next;
    });
    if (opts.arm !== false) await armSlot(host.config.grubenvPath, slot, opts.maxBootTries ?? 1);
    await rm(stateFile, { force: true });
    return { slot, device, bytes, sha256: got, deviceSha256, resumedFrom, requests: run.requests, ...(verified ? { verified } : {}) };
  } finally {
    await fh.close().catch(() => undefined);
  }
}

/** A buffer of the write ring: filled from the network, then hashed and written while the other one fills. */
interface RingBuffer {
  buf: Buffer;
  /** The device write of this buffer's previous contents, while it runs. */
  writing: Promise<void> | undefined;
}

/**
 * One download, possibly over several requests (resume with Range after a dropped connection).
 *
 * The body goes into two 4 MiB write buffers: one fills while the other is hashed and written; the
 * transport stops reading when both are busy, so memory stays flat. Directly over plain http the
 * socket reads straight into them (agent/image-http1.ts); through a proxy undici's data is copied
 * in (agent/image-undici.ts).
 */
class StreamRun implements BodySink {
  requests = 0;
  private position: number;
  private total: number | undefined;
  private readonly ring: [RingBuffer, RingBuffer];
  private current = 0;
  private used = 0;
  private lastCheckpoint: number;
  /** Checkpoints in flight (chained): fdatasync of everything written up to a point, then the state file. */
  private syncing: Promise<void> | undefined;
  private etag: string | undefined;
  private hash: ImageHash;
  /** `.zst` / `.gz` images: the digest is over the compressed bytes, and there is no resume. */
  private readonly compression: Compression | undefined;
  private compressedDigest: string | undefined;
  /** The first device write failure; it ends the download. */
  private writeError: Error | undefined;
  /** The download's connections (and proxy), shared by its requests and redirect hops. */
  private readonly conns: ImageConnections;

  constructor(
    private readonly opts: WriteImageOptions,
    private readonly fh: FileHandle,
    private readonly state: DownloadState,
    private readonly stateFile: string,
    private readonly chunkBytes: number,
    private readonly checkpointBytes: number,
    private readonly capacity: number | undefined,
  ) {
    this.position = state.bytesDone;
    this.lastCheckpoint = state.bytesDone;
    this.total = state.bytesTotal ?? opts.image.size;
    // Shared memory, so the hash worker reads the same bytes the socket wrote and the device write reads.
    this.ring = [
      { buf: Buffer.from(new SharedArrayBuffer(chunkBytes)), writing: undefined },
      { buf: Buffer.from(new SharedArrayBuffer(chunkBytes)), writing: undefined },
    ];
    this.compression = compressionOf(opts.image.url);
    this.hash = this.ringHash();
    this.conns = new ImageConnections(opts);
  }

  /** The sha256 of the ring's bytes, which are what lands on the device (decompressed, for a compressed image). */
  private ringHash(): ImageHash {
    return newImageHash(this.ring.map((r) => r.buf));
  }

  async download(): Promise<number> {
    const maxAttempts = this.opts.maxAttempts ?? 5;
    let failures = 0;
    // A checkpoint recorded the whole image (killed before the state file was removed): nothing to
    // fetch (a `Range: bytes=total-` request would only get 416); the caller verifies what hashPrefix read.
    if (this.total !== undefined && this.position > 0 && this.done() === this.total) return this.position;
    for (;;) {
      const before = this.done();
      try {
        const finished = await this.request();
        if (finished) break;
      } catch (err) {
        if (err instanceof ImageWriteError) throw err;
        if (this.opts.signal?.aborted) throw new ImageWriteError(`download of ${this.opts.image.url} cancelled`, 'Download');
        failures = this.done() > before ? 1 : failures + 1;
        if (failures >= maxAttempts) {
          throw new ImageWriteError(
            `download of ${this.opts.image.url} failed ${failures} times in a row at byte ${this.done()}: ${(err as Error).message}; the agent resumes from the last checkpoint on its next try`,
            'Download',
          );
        }
        await new Promise((r) => setTimeout(r, Math.min(5000, 200 * failures)));
      }
      // Keep what arrived; the next request asks for the rest.
      await this.flush();
      await this.drain();
      await this.settleCheckpoint();
    }
    await this.flush();
    await this.drain();
    await this.settleCheckpoint();
    return this.position;
  }

  private done(): number {
    return this.position + this.used;
  }

  /**
   * After download(): `pinned`, the sha256 of what the server sent (the bytes written, for a raw image;
   * the compressed stream otherwise), and `device`, the sha256 of the bytes written to the device.
   */
  async digests(): Promise<{ pinned: string; device: string }> {
    const device = await this.hash.digest();
    return { pinned: this.compression ? (this.compressedDigest ?? '') : device, device };
  }

  /** The ring and its hash, for reading the device back: before download() (resume) or after digests(), both idle then. */
  hashRing(): HashRing {
    return { ring: [this.ring[0].buf, this.ring[1].buf], hash: this.hash };
  }

  close(): void {
    this.hash.close();
    this.conns.close();
  }

  /** Resume needs the hash of what is already on the device: read it back (through the ring, hashed like downloaded data). */
  async hashPrefix(bytes: number): Promise<void> {
    await this.drain();
    const read = await hashPrefixInto(this.fh, bytes, this.hashRing());
    if (read < bytes) throw new ImageWriteError(`slot device ended at ${read} while re-reading ${bytes} resumed bytes`, 'Device');
  }

  /** Marks a ring buffer busy until `work` settles; a failure ends the download. */
  private track(rb: RingBuffer, work: Promise<void>): void {
    const w = work.then(
      () => {
        if (rb.writing === w) rb.writing = undefined;
      },
      (err: Error) => {
        if (rb.writing === w) rb.writing = undefined;
        this.writeError ??= err;
        throw this.writeError;
      },
    );
    w.catch(() => undefined); // surfaced by whenReady/drain
    rb.writing = w;
  }

  /** One request (following redirects); true when the whole image arrived. */
  private async request(): Promise<boolean> {
    // A compressed image is read from its first byte every time (see `resumable` in writeImage).
    if (this.compression && this.done() > 0) await this.restartFromZero();
    const offset = this.done();
    const headers: Record<string, string> = { 'user-agent': 'osfleet-agent' };
    if (offset > 0) {
      headers.range = `bytes=${offset}-`;
      if (this.etag) headers['if-range'] = this.etag;
    }
    const conn = await getImage(this.opts.image.url, headers, this.conns, () => this.requests++);
    try {
      const { status, message, headers } = conn.head;
      if (status === 206) {
        const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(headers.get('content-range') ?? '');
        if (!m || Number(m[1]) !== offset) {
          throw new ImageWriteError(`image server answered the range request at ${offset} with Content-Range ${JSON.stringify(headers.get('content-range'))}`, 'Download');
        }
        if (m[3] !== '*') this.setTotal(Number(m[3]));
      } else if (status === 200) {
        // The server ignored Range: start over, the device prefix gets overwritten.
        if (offset > 0) await this.restartFromZero();
        // A compressed body's length says nothing about what lands on the device.
        if (conn.contentLength !== undefined && !conn.chunked && !this.compression) this.setTotal(conn.contentLength);
      } else if (status === 416 && offset > 0) {
        // The recorded progress does not fit the image on the server (e.g. it claims every byte):
        // forget it and download from the start; asking for the same range again would fail forever.
        await this.restartFromZero();
        this.state.bytesDone = 0;
        this.state.bytesTotal = this.opts.image.size;
        this.total = this.opts.image.size;
        this.etag = undefined;
        await rm(this.stateFile, { force: true });
        return false;
      } else {
        const msg = `image server answered ${status} ${message} for ${this.opts.image.url}`;
        if (status >= 500) throw new Error(msg);
        throw new ImageWriteError(`${msg}; check the image URL in the OSVersion`, 'Download');
      }
      const etag = headers.get('etag');
      if (etag !== undefined && !etag.startsWith('W/')) this.etag = etag;
      if (this.compression) await this.readCompressed(conn, this.compression);
      else await conn.readBody(this);
    } finally {
      conn.close();
    }
    if (this.total !== undefined && this.done() < this.total) {
      if (this.compression) {
        throw new ImageWriteError(`image ${this.opts.image.url} decompressed to ${this.done()} bytes, but ${this.total} were expected; check the size in the OSVersion`, 'Download');
      }
      throw new Error(`connection ended after ${this.done()} of ${this.total} bytes`);
    }
    return true;
  }

  private async readCompressed(conn: ImageResponse, compression: Compression): Promise<void> {
    const sink = new DecompressingSink(this, compression, this.opts.image.url);
    try {
      await conn.readBody(sink);
      await sink.end();
      this.compressedDigest = sink.digest();
    } finally {
      sink.close();
    }
  }

  /** Drop the bytes received so far: the next bytes are the image from offset 0. */
  private async restartFromZero(): Promise<void> {
    await this.drain();
    await this.settleCheckpoint();
    this.position = 0;
    this.used = 0;
    this.lastCheckpoint = 0;
    this.hash.close();
    this.hash = this.ringHash();
  }

  private setTotal(total: number): void {
    if (!Number.isSafeInteger(total) || total < 0) throw new ImageWriteError(`image server announced an invalid size ${total}`, 'Download');
    const expected = this.opts.image.size ?? this.state.bytesTotal;
    if (expected !== undefined && expected !== total) {
      throw new ImageWriteError(`image ${this.opts.image.url} is ${total} bytes on the server, but ${expected} were expected; check the OSVersion`, 'Download');
    }
    if (this.capacity !== undefined && total > this.capacity) {
      throw new ImageWriteError(`image ${this.opts.image.url} is ${total} bytes but slot ${this.opts.slot} holds only ${this.capacity}`, 'Device');
    }
    this.total = total;
  }

  // ---- the body sink, driven by ImageResponse ----

  /** Where the next body bytes can be read to directly (never empty while the fill buffer is free). */
  target(limit: number): Buffer {
    const buf = (this.ring[this.current] as RingBuffer).buf;
    return buf.subarray(this.used, Math.min(this.chunkBytes, this.used + limit));
  }

  /** True when the fill buffer can take data now (its previous write has completed). */
  ready(): boolean {
    return (this.ring[this.current] as RingBuffer).writing === undefined;
  }

  /** Resolves when the fill buffer can take data (rejects on a write failure). */
  async whenReady(): Promise<void> {
    const w = (this.ring[this.current] as RingBuffer).writing;
    if (w) await w;
    if (this.writeError) throw this.writeError;
  }

  /** `n` body bytes were placed at target(); returns false when the buffer to fill next is still being written. */
  received(n: number): boolean {
    if (this.total !== undefined && this.done() + n > this.total) {
      throw new ImageWriteError(
        this.compression
          ? `image ${this.opts.image.url} decompresses to more than the expected ${this.total} bytes; check the size in the OSVersion`
          : `image server sent more than the announced ${this.total} bytes`,
        'Download',
      );
    }
    this.used += n;
    if (this.used < this.chunkBytes) return true;
    this.submit();
    return this.ready();
  }

  /** Copies body bytes into the fill buffer as far as it is free; returns how many were taken. */
  copy(data: Buffer): number {
    let off = 0;
    while (off < data.length && this.ready()) {
      const t = this.target(data.length - off);
      data.copy(t, 0, off, off + t.length);
      off += t.length;
      this.received(t.length);
    }
    return off;
  }

  /** Hash the filled part of the fill buffer and start writing it; the other buffer becomes the fill buffer. */
  private submit(): void {
    if (this.used === 0) return;
    if (this.writeError) throw this.writeError;
    const rb = this.ring[this.current] as RingBuffer;
    const data = rb.buf.subarray(0, this.used);
    const at = this.position;
    // Hashing (in the hash worker) and the device write (on the thread pool) run side by side.
    const hashed = this.hash.update(rb.buf, this.used);
    const written = writeAll(this.fh, [data], at).catch((err: Error) => {
      throw err instanceof ImageWriteError ? err : new ImageWriteError(`writing slot ${this.opts.slot} device at byte ${at}: ${err.message}`, 'Device');
    });
    this.track(
      rb,
      Promise.all([hashed, written]).then(() => undefined),
    );
    this.position += this.used;
    this.used = 0;
    this.current ^= 1;
    this.opts.onProgress?.(this.position, this.total);
    if (this.position - this.lastCheckpoint >= this.checkpointBytes) this.checkpoint();
  }

  /** Start writing what the fill buffer holds (end of a request). */
  private async flush(): Promise<void> {
    await this.whenReady();
    this.submit();
  }

  /** Waits for every write in flight. */
  private async drain(): Promise<void> {
    await Promise.all(this.ring.map((r) => r.writing));
    if (this.writeError) throw this.writeError;
  }

  /**
   * Starts a checkpoint: once every write up to here has completed, fdatasync makes those bytes
   * durable and the state file records them. The download and later writes go on meanwhile
   * (fdatasync covers what was written before it started; later bytes are only recorded by a
   * later checkpoint), so the flush to the device overlaps the network instead of stalling it.
   */
  private checkpoint(): void {
    const upTo = this.position;
    const total = this.total;
    this.lastCheckpoint = upTo;
    const writes = this.ring.map((r) => r.writing);
    const previous = this.syncing;
    this.syncing = (async () => {
      if (previous) await previous; // in order: a later checkpoint never records before an earlier one
      await Promise.all(writes);
      await this.fh.datasync();
      // A restart from 0 (server ignored Range) settles checkpoints first, so upTo is still valid here.
      this.state.bytesDone = upTo;
      this.state.bytesTotal = total;
      await atomicWriteFile(this.stateFile, JSON.stringify(this.state) + '\n');
    })();
    // Surface a failure at the next settle and stop filling; keep it from being an unhandled rejection meanwhile.
    this.syncing.catch((err: Error) => {
      this.writeError ??= err;
    });
  }

  /** Waits for the checkpoints in flight, if any (and throws their error). */
  private async settleCheckpoint(): Promise<void> {
    const p = this.syncing;
    if (!p) return;
    try {
      await p;
    } finally {
      if (this.syncing === p) this.syncing = undefined;
    }
  }

}

async function writeAll(fh: FileHandle, batch: Buffer[], position: number): Promise<void> {
  let bufs = batch;
  let pos = position;
  while (bufs.length > 0) {
    const { bytesWritten } = await fh.writev(bufs, pos);
    if (bytesWritten <= 0) throw new ImageWriteError(`device write returned ${bytesWritten} at byte ${pos}`, 'Device');
    pos += bytesWritten;
    // Short write: drop what went out, keep the rest.
    let left = bytesWritten;
    let i = 0;
    while (i < bufs.length && left >= (bufs[i] as Buffer).length) left -= (bufs[i++] as Buffer).length;
    bufs = bufs.slice(i);
    if (left > 0 && bufs.length > 0) bufs[0] = (bufs[0] as Buffer).subarray(left);
  }
}

async function readDownloadState(file: string): Promise<DownloadState | undefined> {
  try {
    const s = JSON.parse(await readFile(file, 'utf8')) as DownloadState;
    return s.version === 1 && Number.isSafeInteger(s.bytesDone) ? s : undefined;
  } catch {
    return undefined; // absent or unreadable: start over, which is always safe
  }
}

function majorMinor(rdev: number): string {
  const major = Math.floor(rdev / 256) & 0xfff;
  const minor = (rdev & 0xff) | (Math.floor(rdev / 4096) & ~0xff);
  return `${major}:${minor}`;
}

function sameDevice(a: string, b: string): boolean {
  const sa = statSync(a);
  const sb = statSync(b);
  return sa.isBlockDevice() && sb.isBlockDevice() ? sa.rdev === sb.rdev : sa.ino === sb.ino && sa.dev === sb.dev;
}

/** Mount point of `device` in this mount namespace, if mounted. */
function mountedAt(device: string): string | undefined {
  const st = statSync(device);
  if (!st.isBlockDevice()) return undefined;
  const mm = majorMinor(st.rdev);
  let info: string;
  try {
    info = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return undefined;
  }
  for (const line of info.split('\n')) {
    const f = line.split(' ');
    if (f[2] === mm) return f[4];
  }
  return undefined;
}

/** Capacity in bytes: sysfs for block devices, unbounded (undefined) for regular files. */
function deviceSize(device: string): number | undefined {
  const st = statSync(device);
  if (!st.isBlockDevice()) return undefined;
  try {
    return Number(readFileSync(`/sys/dev/block/${majorMinor(st.rdev)}/size`, 'utf8').trim()) * 512;
  } catch {
    return undefined;
  }
}
