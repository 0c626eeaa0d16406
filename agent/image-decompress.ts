// Compressed slot images (`.zst`, `.gz`): the response body is hashed as it arrives (the pinned
// sha256 is over the compressed bytes the server sends) and decompressed while streaming into the
// write ring. Memory stays flat: one small input buffer, and node:zlib stops inflating while the
// ring is busy (it honours stream backpressure), so a highly compressible image cannot balloon.
import { createHash, type Hash } from 'node:crypto';
import zlib from 'node:zlib';
import { ImageWriteError } from './image-error.js';
import type { BodySink } from './image-response.js';

export type Compression = 'zstd' | 'gzip';

/** The compression an image URL names by its file suffix (`.zst`, `.gz`), if any. */
export function compressionOf(url: string): Compression | undefined {
  const p = new URL(url).pathname.toLowerCase();
  if (p.endsWith('.zst')) return 'zstd';
  if (p.endsWith('.gz')) return 'gzip';
  return undefined;
}

/** Compressed bytes taken from the network per step (read straight into it over plain http). */
const INPUT_BYTES = 256 * 1024;

/**
 * A BodySink for a compressed body in front of the write ring (`ring`, another BodySink): hashes
 * and decompresses what the transport delivers and copies the output into the ring.
 */
export class DecompressingSink implements BodySink {
  /** Compressed bytes received. */
  compressedBytes = 0;
  private readonly hash: Hash = createHash('sha256');
  private readonly input = Buffer.allocUnsafe(INPUT_BYTES);
  /** The decompressor's write of `input`, while it runs (input is reused only after it). */
  private consuming: Promise<void> | undefined;
  private consumed: (() => void) | undefined;
  private failure: Error | undefined;
  private readonly decoder: zlib.Gunzip | zlib.ZstdDecompress;
  private readonly output: Promise<void>;

  constructor(
    private readonly ring: BodySink,
    private readonly compression: Compression,
    private readonly url: string,
  ) {
    this.decoder = compression === 'zstd' ? zlib.createZstdDecompress() : zlib.createGunzip();
    this.output = this.copyOutput();
    this.output.catch((err: Error) => this.fail(err));
  }

  private fail(err: Error): void {
    this.failure ??=
      err instanceof ImageWriteError
        ? err
        : new ImageWriteError(`image ${this.url} is not valid ${this.compression} data (after ${this.compressedBytes} compressed bytes): ${err.message}`, 'Download');
    // A failed decoder may never call the write back: whoever waits for it gets the failure now.
    this.writeDone();
  }

  private writeDone(): void {
    const done = this.consumed;
    this.consuming = undefined;
    this.consumed = undefined;
    done?.();
  }

  /** Decompressed data into the ring, waiting whenever the ring is busy (which pauses the decoder). */
  private async copyOutput(): Promise<void> {
    for await (const chunk of this.decoder as AsyncIterable<Buffer>) {
      let off = 0;
      while (off < chunk.length) {
        await this.ring.whenReady();
        off += this.ring.copy(chunk.subarray(off));
      }
    }
  }

  target(limit: number): Buffer {
    return this.input.subarray(0, Math.min(limit, INPUT_BYTES));
  }

  ready(): boolean {
    return this.consuming === undefined && this.failure === undefined;
  }

  async whenReady(): Promise<void> {
    if (this.consuming) await this.consuming;
    if (this.failure) throw this.failure;
  }

  received(n: number): boolean {
    if (this.failure) throw this.failure;
    if (n === 0) return true; // an empty write makes the zstd decoder fail ("no forward progress")
    const data = this.input.subarray(0, n);
    this.hash.update(data);
    this.compressedBytes += n;
    this.consuming = new Promise<void>((resolve) => {
      this.consumed = resolve;
      this.decoder.write(data, (err) => {
        if (err) this.fail(err);
        this.writeDone();
      });
    });
    return false;
  }

  copy(data: Buffer): number {
    if (!this.ready() || data.length === 0) return 0;
    const n = Math.min(data.length, INPUT_BYTES);
    data.copy(this.input, 0, 0, n);
    this.received(n);
    return n;
  }

  /** The body has ended: flushes the decoder into the ring; rejects when the stream was cut short or corrupt. */
  async end(): Promise<void> {
    await this.whenReady();
    this.decoder.end();
    await this.output.catch(() => undefined);
    if (this.failure) throw this.failure;
  }

  /** sha256 of the compressed bytes (call after end()). */
  digest(): string {
    return this.hash.digest('hex');
  }

  close(): void {
    this.decoder.destroy();
  }
}
