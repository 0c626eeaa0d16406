// Stage an OS image into the inactive slot: stream it over HTTP(S), hash and write it
// in one pass with flat memory, resume after interruptions, and arm the slot only
// when the bytes on the device match the pinned sha256.
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { type FileHandle, open, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { Worker } from 'node:worker_threads';
import { atomicWriteFile } from './atomic-file.js';
import { armSlot, readBootState, disarm } from './bootloader.js';
import { type Host, type Slot, otherSlot } from './host.js';
import { updateSlots } from './slots.js';

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
}

export interface WriteImageResult {
  slot: Slot;
  device: string;
  bytes: number;
  sha256: string;
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

export class ImageWriteError extends Error {
  constructor(
    message: string,
    readonly reason: 'DigestMismatch' | 'ActiveSlot' | 'BadImageRef' | 'Download' | 'Device',
  ) {
    super(message);
    this.name = 'ImageWriteError';
  }
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

/** A redirect may go to another host only over https, and never from https down to http. */
export function redirectProblem(from: URL, to: URL): string | undefined {
  if (to.protocol !== 'http:' && to.protocol !== 'https:') return `redirect to unsupported scheme ${to.protocol}`;
  if (from.protocol === 'https:' && to.protocol !== 'https:') return `redirect from https to plain http (${to.href}) refused`;
  if (to.host !== from.host && to.protocol !== 'https:') return `redirect to another host over plain http (${to.href}) refused; only https redirects may change host`;
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
  const resumable =
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
    try {
      if (resumedFrom > 0) await run.hashPrefix(resumedFrom);
      bytes = await run.download();
      await fh.sync();
      // The run's hash: it starts a new one when a server ignores Range and the image restarts from 0.
      got = await run.digest();
    } finally {
      run.close();
    }
    if (got !== want) {
      await rm(stateFile, { force: true });
      throw new ImageWriteError(
        `image ${image.url} (version ${image.version}) has sha256 ${got}, but the pinned digest is ${want}; ` +
          `slot ${slot} was NOT armed and the node keeps booting slot ${booted}. Check the digest in the OSVersion and the file on the image server`,
        'DigestMismatch',
      );
    }
    await updateSlots(persist, (s) => ({
      ...s,
      slots: { ...s.slots, [slot]: { version: image.version, sha256: want, size: bytes } },
      attempt: opts.arm === false ? s.attempt : { slot, version: image.version, sha256: want, fromSlot: booted },
    }));
    if (opts.arm !== false) await armSlot(host.config.grubenvPath, slot, opts.maxBootTries ?? 1);
    await rm(stateFile, { force: true });
    return { slot, device, bytes, sha256: got, resumedFrom, requests: run.requests };
  } finally {
    await fh.close().catch(() => undefined);
  }
}

/** sha256 of the ring buffers' contents, in submission order. */
interface ImageHash {
  /** Hashes the first `len` bytes of `buf` (one of the ring buffers); resolves when the buffer may be reused. */
  update(buf: Buffer, len: number): Promise<void>;
  digest(): Promise<string>;
  close(): void;
}

// The hash worker: sha256 costs ~0.75 s/GiB (SHA-NI), as much as the whole dd; off the main thread it
// overlaps the socket reads and the device writes instead of adding to them.
const HASH_WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const bufs = workerData.map((sab) => new Uint8Array(sab));
const hash = createHash('sha256');
parentPort.on('message', (m) => {
  if (m.len === undefined) return parentPort.postMessage({ digest: hash.digest('hex') });
  hash.update(bufs[m.i].subarray(0, m.len));
  parentPort.postMessage({ id: m.id });
});
`;

function newImageHash(ring: Buffer[]): ImageHash {
  try {
    return new WorkerImageHash(ring);
  } catch {
    return inlineImageHash(); // no worker threads here: hash on the main thread
  }
}

function inlineImageHash(): ImageHash {
  const hash = createHash('sha256');
  return {
    update: (buf, len) => {
      hash.update(buf.subarray(0, len));
      return Promise.resolve();
    },
    digest: () => Promise.resolve(hash.digest('hex')),
    close: () => undefined,
  };
}

class WorkerImageHash implements ImageHash {
  private readonly worker: Worker;
  private readonly waiting = new Map<number, { resolve: (v: string | undefined) => void; reject: (e: Error) => void }>();
  private next = 0;
  private failure: Error | undefined;

  constructor(private readonly ring: Buffer[]) {
    this.worker = new Worker(HASH_WORKER_SOURCE, { eval: true, workerData: ring.map((b) => b.buffer) });
    this.worker.on('message', (m: { id?: number; digest?: string }) => {
      const id = m.id ?? -1;
      const w = this.waiting.get(id);
      this.waiting.delete(id);
      w?.resolve(m.digest);
    });
    const fail = (err: Error) => {
      this.failure ??= new ImageWriteError(`the sha256 worker failed: ${err.message}`, 'Device');
      for (const w of this.waiting.values()) w.reject(this.failure);
      this.waiting.clear();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`exited with code ${code}`)));
  }

  private call(msg: { i?: number; len?: number }, id: number): Promise<string | undefined> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker.postMessage({ ...msg, id });
    });
  }

  async update(buf: Buffer, len: number): Promise<void> {
    const i = this.ring.indexOf(buf);
    if (i < 0) throw new Error('ImageHash.update: not a ring buffer');
    await this.call({ i, len }, this.next++);
  }

  async digest(): Promise<string> {
    return (await this.call({}, -1)) as string;
  }

  close(): void {
    this.failure ??= new Error('closed');
    void this.worker.terminate();
  }
}

/** Response head from the minimal HTTP/1.1 client. */
interface ResponseHead {
  status: number;
  message: string;
  /** Lower-case names; repeated headers joined with ", ". */
  headers: Map<string, string>;
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
 * The body is read by a small HTTP/1.1 client on net/tls rather than node:http: over plain http the
 * socket reads straight into the 4 MiB write buffers (net's `onread`), so the bytes are copied once by
 * the kernel and never by JavaScript, and no per-read buffers are allocated. Over https (and for
 * chunked bodies) decoded data is copied into the same buffers. Two buffers: one fills while the
 * other is hashed and written; the socket pauses when both are busy, so memory stays flat.
 */
class StreamRun {
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
  /** The first device write failure; it ends the download. */
  private writeError: Error | undefined;

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
    this.hash = newImageHash(this.ring.map((r) => r.buf));
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

  /** sha256 of the bytes written (call after download()). */
  digest(): Promise<string> {
    return this.hash.digest();
  }

  close(): void {
    this.hash.close();
  }

  /** Resume needs the hash of what is already on the device: read it back (through the ring, hashed like downloaded data). */
  async hashPrefix(bytes: number): Promise<void> {
    let pos = 0;
    while (pos < bytes) {
      await this.whenReady();
      const rb = this.ring[this.current] as RingBuffer;
      const { bytesRead } = await this.fh.read(rb.buf, 0, Math.min(this.chunkBytes, bytes - pos), pos);
      if (bytesRead <= 0) throw new ImageWriteError(`slot device ended at ${pos} while re-reading ${bytes} resumed bytes`, 'Device');
      this.track(rb, this.hash.update(rb.buf, bytesRead));
      this.current ^= 1;
      pos += bytesRead;
    }
    await this.drain();
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
    const offset = this.done();
    const conn = await this.get(offset);
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
        if (conn.contentLength !== undefined && !conn.chunked) this.setTotal(conn.contentLength);
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
      await conn.readBody(this);
    } finally {
      conn.close();
    }
    if (this.total !== undefined && this.done() < this.total) {
      throw new Error(`connection ended after ${this.done()} of ${this.total} bytes`);
    }
    return true;
  }

  /** Drop the bytes received so far: the next bytes are the image from offset 0. */
  private async restartFromZero(): Promise<void> {
    await this.drain();
    await this.settleCheckpoint();
    this.position = 0;
    this.used = 0;
    this.lastCheckpoint = 0;
    this.hash.close();
    this.hash = newImageHash(this.ring.map((r) => r.buf));
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

  // ---- the body sink, driven by BodyReader ----

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
      throw new ImageWriteError(`image server sent more than the announced ${this.total} bytes`, 'Download');
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

  /** Sends the GET (following redirects) and resolves with the connection once a final response head arrived. */
  private async get(offset: number): Promise<BodyReader> {
    let url = new URL(this.opts.image.url);
    for (let hops = 0; ; hops++) {
      this.requests++;
      const headers: Record<string, string> = { 'user-agent': 'osfleet-agent' };
      if (offset > 0) {
        headers.range = `bytes=${offset}-`;
        if (this.etag) headers['if-range'] = this.etag;
      }
      const conn = new BodyReader(url, headers, this.opts);
      let head: ResponseHead;
      try {
        head = await conn.response;
      } catch (err) {
        conn.close();
        throw err;
      }
      if (![301, 302, 303, 307, 308].includes(head.status)) return conn;
      conn.close();
      const loc = head.headers.get('location');
      if (!loc) throw new ImageWriteError(`image server redirected (${head.status}) without a Location`, 'Download');
      if (hops >= 5) throw new ImageWriteError(`more than 5 redirects for ${this.opts.image.url}`, 'Download');
      let to: URL;
      try {
        to = new URL(loc, url);
      } catch {
        throw new ImageWriteError(`image server redirected (${head.status}) to an invalid Location ${JSON.stringify(loc)}`, 'Download');
      }
      const problem = redirectProblem(url, to);
      if (problem) throw new ImageWriteError(`image ${this.opts.image.url}: ${problem}`, 'Download');
      url = to;
    }
  }
}

const HEAD_LIMIT = 64 * 1024;

/**
 * A minimal HTTP/1.1 GET (Connection: close) for one large body. Over plain http the body is read
 * with net's `onread` straight into the sink's buffers; over https, and for chunked bodies, data is
 * copied in. Backpressure: the socket stops reading while the sink's next buffer is being written,
 * and between the response head and readBody().
 */
class BodyReader {
  readonly response: Promise<ResponseHead>;
  head: ResponseHead = { status: 0, message: '', headers: new Map() };
  contentLength: number | undefined;
  chunked = false;
  private readonly socket: net.Socket;
  /** Receiving the head: reads go here. */
  private headBuf: Buffer | undefined = Buffer.allocUnsafe(HEAD_LIMIT);
  private headLen = 0;
  /** Plain http reads that cannot go straight to the sink (chunked, paused, head leftovers). */
  private scratch: Buffer | undefined;
  private resolveHead!: (h: ResponseHead) => void;
  private rejectHead!: (e: Error) => void;
  private sink: StreamRun | undefined;
  /** Body bytes still expected (content-length), or Infinity (until the connection closes). */
  private remaining = Infinity;
  /** Body data received but not yet in the sink; the socket does not read while it is not empty. */
  private queue: Buffer[] = [];
  private blocked = false;
  private waiting = false;
  /** All body bytes received (they may still be queued). */
  private bodyEnded = false;
  private finished = false;
  private failure: Error | undefined;
  private settle: { resolve: () => void; reject: (e: Error) => void } | undefined;
  private readonly chunk = { left: 0, state: 'size' as 'size' | 'data' | 'crlf' | 'trailer', line: '' };
  private readonly onAbort = () => this.fail(new Error('aborted'));
  /** Idle timeout: time of the last socket activity; the timer counts only while the reader wants data. */
  private lastActivity = Date.now();
  private idleTimer: NodeJS.Timeout | undefined;
  private readonly idleMs: number;
  private readonly peer: string;

  constructor(
    url: URL,
    headers: Record<string, string>,
    private readonly opts: WriteImageOptions,
  ) {
    const isHttps = url.protocol === 'https:';
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    const port = Number(url.port || (isHttps ? 443 : 80));
    this.peer = url.host;
    this.idleMs = opts.idleTimeoutMs ?? 60_000;
    this.response = new Promise<ResponseHead>((resolve, reject) => {
      this.resolveHead = resolve;
      this.rejectHead = reject;
    });
    this.response.catch(() => undefined);
    const lines = [`GET ${url.pathname}${url.search} HTTP/1.1`, `host: ${url.host}`, 'connection: close', 'accept-encoding: identity'];
    for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
    const requestHead = lines.join('\r\n') + '\r\n\r\n';
    if (isHttps) {
      this.socket = tls.connect({ host, port, ...(net.isIP(host) ? {} : { servername: host }), ...(opts.ca ? { ca: opts.ca } : {}) });
      this.socket.on('data', (d: Buffer) => {
        this.touch(); // plain http reads touch in onRead
        this.guard(() => this.onData(d));
      });
      this.socket.once('secureConnect', () => this.socket.write(requestHead));
    } else {
      this.socket = net.connect({
        host,
        port,
        onread: { buffer: () => this.readTarget(), callback: (n: number, buf: Uint8Array) => this.onRead(n, buf as Buffer) },
      });
      this.socket.once('connect', () => this.socket.write(requestHead));
    }
    this.socket.on('end', () => this.guard(() => this.onEnd()));
    // Once the whole body arrived (it may still be queued for the sink), the connection no longer matters.
    this.socket.on('error', (err) => this.bodyEnded || this.fail(err));
    this.socket.on('close', () => this.bodyEnded || this.fail(new Error(this.headBuf ? 'connection closed before the response head' : 'connection closed before the end of the body')));
    this.socket.once('connect', () => this.touch());
    this.armIdle(this.idleMs);
    if (opts.signal?.aborted) queueMicrotask(this.onAbort);
    else opts.signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  private touch(): void {
    this.lastActivity = Date.now();
  }

  /**
   * Fails the request when the server sends nothing for idleMs while the reader wants data. Time spent
   * blocked (the device is still writing, or between the head and readBody) does not count.
   */
  private armIdle(ms: number): void {
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      if (this.failure || this.finished) return;
      if (this.blocked) {
        this.touch();
        return this.armIdle(this.idleMs);
      }
      const idle = Date.now() - this.lastActivity;
      if (idle < this.idleMs) return this.armIdle(this.idleMs - idle);
      const secs = this.idleMs >= 1000 ? String(Math.round(this.idleMs / 1000)) : (this.idleMs / 1000).toFixed(1);
      this.fail(new Error(`no data from ${this.peer} for ${secs} s`));
    }, Math.max(1, ms));
    this.idleTimer.unref();
  }

  private stopIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }

  /** Streams the body into `sink`; resolves once all of it is there. */
  readBody(sink: StreamRun): Promise<void> {
    this.sink = sink;
    const p = new Promise<void>((resolve, reject) => (this.settle = { resolve, reject }));
    if (this.failure) this.settle?.reject(this.failure);
    else this.guard(() => this.pump());
    return p;
  }

  close(): void {
    this.finished = true;
    this.stopIdle();
    this.opts.signal?.removeEventListener('abort', this.onAbort);
    this.socket.destroy();
  }

  private fail(err: Error): void {
    if (this.failure || this.finished) return;
    this.failure = err;
    this.stopIdle();
    this.rejectHead(err);
    this.settle?.reject(err);
    this.socket.destroy();
  }

  private guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.fail(err as Error);
    }
  }

  /** Plain http: the buffer the next read goes to (asked after every read, for the one after it). */
  private readTarget(): Buffer {
    if (this.headBuf) return this.headBuf.subarray(this.headLen);
    const sink = this.sink;
    if (sink && !this.chunked && !this.blocked && this.queue.length === 0 && this.remaining > 0 && sink.ready()) return sink.target(this.remaining);
    return (this.scratch ??= Buffer.allocUnsafe(HEAD_LIMIT));
  }

  /** Plain http: `n` bytes were read into `buf` (one readTarget() gave). Returning false stops reading. */
  private onRead(n: number, buf: Buffer): boolean {
    this.touch();
    this.guard(() => {
      if (this.headBuf) {
        this.headLen += n;
        this.parseHead();
      } else if (buf === this.scratch) {
        // Queued without a copy: no further read happens (into scratch) until the queue is empty.
        this.onData(buf.subarray(0, n));
      } else {
        const sink = this.sink as StreamRun;
        this.remaining -= n;
        const free = sink.received(n);
        if (this.remaining === 0) this.endBody();
        else if (!free) {
          this.block();
          this.waitForSink(sink);
        }
      }
    });
    return !this.blocked && !this.failure && !this.finished;
  }

  /** Response bytes that are not read straight into the sink. */
  private onData(d: Buffer): void {
    if (this.headBuf) {
      const n = Math.min(d.length, HEAD_LIMIT - this.headLen);
      d.copy(this.headBuf, this.headLen, 0, n);
      this.headLen += n;
      this.parseHead();
      if (n < d.length && !this.headBuf) this.onData(d.subarray(n));
      return;
    }
    if (this.bodyEnded) return; // nothing follows the body on a Connection: close response
    if (this.chunked) this.dechunk(d);
    else {
      const piece = d.length > this.remaining ? d.subarray(0, this.remaining) : d;
      this.remaining -= piece.length;
      if (piece.length > 0) this.queue.push(piece);
      if (this.remaining === 0) this.bodyEnded = true;
    }
    this.pump();
  }

  private parseHead(): void {
    const buf = this.headBuf as Buffer;
    for (;;) {
      const end = buf.subarray(0, this.headLen).indexOf('\r\n\r\n');
      if (end < 0) {
        if (this.headLen >= HEAD_LIMIT) throw new ImageWriteError(`image server sent a response head over ${HEAD_LIMIT} bytes`, 'Download');
        return;
      }
      const [statusLine = '', ...fields] = buf.toString('latin1', 0, end).split('\r\n');
      const m = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(statusLine);
      if (!m) throw new Error(`image server sent a malformed status line ${JSON.stringify(statusLine.slice(0, 100))}`);
      const status = Number(m[1]);
      const rest = end + 4;
      if (status >= 100 && status < 200) {
        // Interim response (100 Continue, 103 Early Hints): the real one follows.
        buf.copyWithin(0, rest, this.headLen);
        this.headLen -= rest;
        continue;
      }
      const headers = new Map<string, string>();
      for (const f of fields) {
        const colon = f.indexOf(':');
        if (colon <= 0) throw new Error(`image server sent a malformed header line ${JSON.stringify(f.slice(0, 100))}`);
        const name = f.slice(0, colon).trim().toLowerCase();
        const value = f.slice(colon + 1).trim();
        const had = headers.get(name);
        headers.set(name, had === undefined ? value : `${had}, ${value}`);
      }
      this.head = { status, message: m[2] ?? '', headers };
      const te = headers.get('transfer-encoding');
      const cl = headers.get('content-length');
      if (te !== undefined && te.toLowerCase() !== 'identity') {
        if (te.toLowerCase() !== 'chunked') throw new ImageWriteError(`image server sent Transfer-Encoding ${JSON.stringify(te)}; only chunked or none is supported`, 'Download');
        this.chunked = true;
      } else if (cl !== undefined) {
        if (!/^\d+$/.test(cl)) throw new ImageWriteError(`image server sent an invalid Content-Length ${JSON.stringify(cl)}`, 'Download');
        this.contentLength = Number(cl);
        this.remaining = this.contentLength;
      }
      const leftover = buf.subarray(rest, this.headLen);
      this.headBuf = undefined;
      // Nothing more is read until readBody() (the caller may wait for writes to finish first).
      this.block();
      if (this.remaining === 0) this.bodyEnded = true;
      if (leftover.length > 0) this.onData(leftover);
      this.resolveHead(this.head);
      return;
    }
  }

  /** Chunked transfer coding: payload pieces go to the queue. */
  private dechunk(d: Buffer): void {
    const c = this.chunk;
    let i = 0;
    while (i < d.length && !this.bodyEnded) {
      if (c.state === 'data') {
        const n = Math.min(c.left, d.length - i);
        this.queue.push(d.subarray(i, i + n));
        i += n;
        c.left -= n;
        if (c.left === 0) c.state = 'crlf';
        continue;
      }
      const nl = d.indexOf(10, i);
      c.line += d.toString('latin1', i, nl < 0 ? d.length : nl);
      if (c.line.length > 4096) throw new ImageWriteError('image server sent a malformed chunked body (line too long)', 'Download');
      if (nl < 0) return;
      i = nl + 1;
      const line = c.line.endsWith('\r') ? c.line.slice(0, -1) : c.line;
      c.line = '';
      if (c.state === 'crlf') {
        if (line !== '') throw new ImageWriteError('image server sent a malformed chunked body (no CRLF after a chunk)', 'Download');
        c.state = 'size';
      } else if (c.state === 'size') {
        const sm = /^([0-9a-fA-F]{1,12})[ \t]*(;.*)?$/.exec(line);
        if (!sm) throw new ImageWriteError(`image server sent a malformed chunk size ${JSON.stringify(line.slice(0, 40))}`, 'Download');
        c.left = parseInt(sm[1] as string, 16);
        c.state = c.left === 0 ? 'trailer' : 'data';
      } else if (line === '') {
        this.bodyEnded = true; // end of the trailer section
      }
    }
  }

  /** Moves queued data into the sink as far as it has room; reading resumes once the queue is empty. */
  private pump(): void {
    const sink = this.sink;
    if (!sink || this.failure) return;
    while (this.queue.length > 0) {
      if (!sink.ready()) {
        this.block();
        this.waitForSink(sink);
        return;
      }
      const head = this.queue[0] as Buffer;
      const taken = sink.copy(head);
      if (taken === head.length) this.queue.shift();
      else this.queue[0] = head.subarray(taken);
    }
    if (this.bodyEnded) return this.finish();
    if (!sink.ready()) {
      this.block();
      this.waitForSink(sink);
      return;
    }
    if (this.blocked) {
      this.blocked = false;
      this.touch(); // the idle time starts now that the reader wants data again
      this.socket.resume();
    }
  }

  private block(): void {
    if (this.blocked) return;
    this.blocked = true;
    // Plain http: onRead returns false, which stops reading. tls: pause the stream.
    if (this.socket instanceof tls.TLSSocket) this.socket.pause();
  }

  private waitForSink(sink: StreamRun): void {
    if (this.waiting) return;
    this.waiting = true;
    sink.whenReady().then(
      () => {
        this.waiting = false;
        this.guard(() => this.pump());
      },
      (err: Error) => this.fail(err),
    );
  }

  private endBody(): void {
    this.bodyEnded = true;
    this.pump();
  }

  private onEnd(): void {
    if (this.headBuf) throw new Error('connection closed before the response head');
    if (this.bodyEnded) return;
    if (this.chunked) throw new Error('connection closed before the end of the chunked body');
    if (this.remaining !== Infinity) throw new Error(`connection closed ${this.remaining} bytes before the end of the body`);
    this.endBody();
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.stopIdle();
    this.opts.signal?.removeEventListener('abort', this.onAbort);
    this.settle?.resolve();
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
