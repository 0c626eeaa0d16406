// Stage an OS image into the inactive slot: stream it over HTTP(S), hash and write it
// in one pass with flat memory, resume after interruptions, and arm the slot only
// when the bytes on the device match the pinned sha256.
import { createHash, type Hash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { type FileHandle, open, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { atomicWriteFile } from './atomic-file.js';
import { armSlot, readBootState, disarm } from './bootloader.js';
import { type Host, type Slot, otherSlot } from './host.js';
import { collectYoungGarbage } from './memory.js';
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
    const hash = createHash('sha256');
    const resumedFrom = state.bytesDone;
    if (resumedFrom > 0) await hashPrefix(fh, hash, resumedFrom, chunkBytes);
    const run = new StreamRun(opts, fh, hash, state, stateFile, chunkBytes, checkpointBytes, capacity);
    const bytes = await run.download();
    await fh.sync();
    const got = hash.digest('hex');
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

/** One download, possibly over several requests (resume with Range after a dropped connection). */
class StreamRun {
  requests = 0;
  private position: number;
  private total: number | undefined;
  // Two fixed buffers: one fills from the network while the other is written. Socket
  // chunks are copied in and die young, so a cheap young-generation GC frees them.
  private fill: Buffer;
  private spare: Buffer;
  private used = 0;
  private inflight: Promise<void> | undefined;
  private lastCheckpoint: number;
  /** A checkpoint whose fdatasync runs while the download goes on (at most one). */
  private syncing: Promise<void> | undefined;
  private etag: string | undefined;

  constructor(
    private readonly opts: WriteImageOptions,
    private readonly fh: FileHandle,
    private hash: Hash,
    private readonly state: DownloadState,
    private readonly stateFile: string,
    private readonly chunkBytes: number,
    private readonly checkpointBytes: number,
    private readonly capacity: number | undefined,
  ) {
    this.position = state.bytesDone;
    this.lastCheckpoint = state.bytesDone;
    this.total = state.bytesTotal ?? opts.image.size;
    this.fill = Buffer.allocUnsafeSlow(chunkBytes);
    this.spare = Buffer.allocUnsafeSlow(chunkBytes);
  }

  async download(): Promise<number> {
    const maxAttempts = this.opts.maxAttempts ?? 5;
    let failures = 0;
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

  /** One request (following redirects); true when the whole image arrived. */
  private async request(): Promise<boolean> {
    const offset = this.done();
    const res = await this.get(offset);
    const body = res;
    if (res.statusCode === 206) {
      const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(String(res.headers['content-range'] ?? ''));
      if (!m || Number(m[1]) !== offset) {
        res.destroy();
        throw new ImageWriteError(`image server answered the range request at ${offset} with Content-Range ${JSON.stringify(res.headers['content-range'])}`, 'Download');
      }
      if (m[3] !== '*') this.setTotal(Number(m[3]));
    } else if (res.statusCode === 200) {
      if (offset > 0) {
        // The server ignored Range: start over, the device prefix gets overwritten.
        await this.drain();
        await this.settleCheckpoint();
        this.position = 0;
        this.used = 0;
        this.lastCheckpoint = 0;
        this.hash = createHash('sha256');
      }
      const len = res.headers['content-length'];
      if (len !== undefined) this.setTotal(Number(len));
    } else {
      res.resume();
      const retryable = res.statusCode !== undefined && res.statusCode >= 500;
      const msg = `image server answered ${res.statusCode} ${res.statusMessage ?? ''} for ${this.opts.image.url}`;
      if (retryable) throw new Error(msg);
      throw new ImageWriteError(`${msg}; check the image URL in the OSVersion`, 'Download');
    }
    this.etag = typeof res.headers.etag === 'string' && !res.headers.etag.startsWith('W/') ? res.headers.etag : this.etag;

    for await (const data of body as AsyncIterable<Buffer>) {
      if (this.total !== undefined && this.done() + data.length > this.total) {
        throw new ImageWriteError(`image server sent more than the announced ${this.total} bytes`, 'Download');
      }
      this.hash.update(data);
      let off = 0;
      while (off < data.length) {
        const n = Math.min(data.length - off, this.chunkBytes - this.used);
        data.copy(this.fill, this.used, off, off + n);
        this.used += n;
        off += n;
        if (this.used === this.chunkBytes) await this.flush();
      }
    }
    if (this.total !== undefined && this.done() < this.total) {
      throw new Error(`connection ended after ${this.done()} of ${this.total} bytes`);
    }
    return true;
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

  /** Start writing the received batch; at most one write in flight (backpressure). */
  private async flush(): Promise<void> {
    if (this.used === 0) return;
    const buf = this.fill;
    const len = this.used;
    await this.drain();
    this.inflight = writeAll(this.fh, [buf.subarray(0, len)], this.position);
    this.position += len;
    this.fill = this.spare;
    this.spare = buf;
    this.used = 0;
    // The socket chunks copied into this batch are garbage now: free them before the next
    // batch piles up (a minor GC per batch costs well under a millisecond; see memory.ts).
    collectYoungGarbage();
    this.opts.onProgress?.(this.position, this.total);
    if (this.position - this.lastCheckpoint >= this.checkpointBytes) {
      await this.settleCheckpoint(); // the previous one, normally long done: at most one in flight
      await this.checkpoint();
    }
  }

  private async drain(): Promise<void> {
    const p = this.inflight;
    this.inflight = undefined;
    if (p) await p;
  }

  /**
   * Starts a checkpoint: once every write up to here has completed, fdatasync makes those bytes
   * durable and the state file records them. The download and later writes go on meanwhile
   * (fdatasync covers what was written before it started; later bytes are only recorded by a
   * later checkpoint), so the flush to the device overlaps the network instead of stalling it.
   */
  private async checkpoint(): Promise<void> {
    await this.drain();
    const upTo = this.position;
    const total = this.total;
    this.lastCheckpoint = upTo;
    this.syncing = (async () => {
      await this.fh.datasync();
      // A restart from 0 (server ignored Range) settles checkpoints first, so upTo is still valid here.
      this.state.bytesDone = upTo;
      this.state.bytesTotal = total;
      await atomicWriteFile(this.stateFile, JSON.stringify(this.state) + '\n');
    })();
    // Surface a failure at the next settle; keep it from being an unhandled rejection meanwhile.
    this.syncing.catch(() => undefined);
  }

  /** Waits for the checkpoint in flight, if any (and throws its error). */
  private async settleCheckpoint(): Promise<void> {
    const p = this.syncing;
    if (!p) return;
    try {
      await p;
    } finally {
      this.syncing = undefined;
    }
  }

  private get(offset: number): Promise<http.IncomingMessage> {
    let url = new URL(this.opts.image.url);
    const follow = (hops: number): Promise<http.IncomingMessage> =>
      new Promise((resolve, reject) => {
        this.requests++;
        const headers: Record<string, string> = { 'user-agent': 'osfleet-agent' };
        if (offset > 0) {
          headers.range = `bytes=${offset}-`;
          if (this.etag) headers['if-range'] = this.etag;
        }
        const mod = url.protocol === 'https:' ? https : http;
        const req = mod.get(url, { headers, agent: false, signal: this.opts.signal, ...(this.opts.ca ? { ca: this.opts.ca } : {}) }, (res) => {
          const status = res.statusCode ?? 0;
          if ([301, 302, 303, 307, 308].includes(status)) {
            res.resume();
            const loc = res.headers.location;
            if (!loc) return reject(new ImageWriteError(`image server redirected (${status}) without a Location`, 'Download'));
            if (hops >= 5) return reject(new ImageWriteError(`more than 5 redirects for ${this.opts.image.url}`, 'Download'));
            const to = new URL(loc, url);
            const problem = redirectProblem(url, to);
            if (problem) return reject(new ImageWriteError(`image ${this.opts.image.url}: ${problem}`, 'Download'));
            url = to;
            follow(hops + 1).then(resolve, reject);
            return;
          }
          resolve(res);
        });
        req.on('error', reject);
      });
    return follow(0);
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

/** Resume needs the hash of what is already on the device: read it back. */
async function hashPrefix(fh: FileHandle, hash: Hash, bytes: number, chunkBytes: number): Promise<void> {
  const buf = Buffer.allocUnsafeSlow(chunkBytes);
  let pos = 0;
  while (pos < bytes) {
    const { bytesRead } = await fh.read(buf, 0, Math.min(chunkBytes, bytes - pos), pos);
    if (bytesRead <= 0) throw new ImageWriteError(`slot device ended at ${pos} while re-reading ${bytes} resumed bytes`, 'Device');
    hash.update(buf.subarray(0, bytesRead));
    pos += bytesRead;
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
