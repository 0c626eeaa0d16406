// sha256 of an image as it streams through the write ring, off the main thread when worker
// threads are available.
import { createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { ImageWriteError } from './image-error.js';

/** sha256 of the ring buffers' contents, in submission order. */
export interface ImageHash {
  /** Hashes the first `len` bytes of `buf` (one of the ring buffers); resolves when the buffer may be reused. */
  update(buf: Buffer, len: number): Promise<void>;
  /** The sha256 of everything hashed since the last digest; the next update starts a new one. */
  digest(): Promise<string>;
  close(): void;
}

// The hash worker: sha256 costs ~0.75 s/GiB (SHA-NI), as much as the whole dd; off the main thread it
// overlaps the socket reads and the device writes instead of adding to them.
const HASH_WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const bufs = workerData.map((sab) => new Uint8Array(sab));
let hash = createHash('sha256');
parentPort.on('message', (m) => {
  if (m.len === undefined) {
    const digest = hash.digest('hex');
    hash = createHash('sha256');
    return parentPort.postMessage({ digest });
  }
  hash.update(bufs[m.i].subarray(0, m.len));
  parentPort.postMessage({ id: m.id });
});
`;

export function newImageHash(ring: Buffer[]): ImageHash {
  try {
    return new WorkerImageHash(ring);
  } catch {
    return inlineImageHash(); // no worker threads here: hash on the main thread
  }
}

function inlineImageHash(): ImageHash {
  let hash = createHash('sha256');
  return {
    update: (buf, len) => {
      hash.update(buf.subarray(0, len));
      return Promise.resolve();
    },
    digest: () => {
      const digest = hash.digest('hex');
      hash = createHash('sha256');
      return Promise.resolve(digest);
    },
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
