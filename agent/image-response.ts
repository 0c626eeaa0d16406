// What both image transports share: the response a GET resolves to, the sink its body goes to (the
// write ring), and how body data waits for the sink, with the idle timeout counting only while the
// response wants data.

/** A final response's head. */
export interface ResponseHead {
  status: number;
  message: string;
  /** Lower-case names; repeated headers joined with ", ". */
  headers: Map<string, string>;
}

/** Where a GET is sent and how patient it is. */
export interface TransportOptions {
  /** Fail a request when the server sends nothing for this long while data is wanted (default 60 s). */
  idleTimeoutMs?: number;
  /** Extra trust roots for https (tests). */
  ca?: string | Buffer;
  signal?: AbortSignal;
}

/** Where a response puts its body: the write ring (agent/image-writer.ts). */
export interface BodySink {
  /** Where the next body bytes can be read to directly (never empty while the fill buffer is free). */
  target(limit: number): Buffer;
  /** True when the fill buffer can take data now. */
  ready(): boolean;
  /** Resolves when the fill buffer can take data (rejects on a write failure). */
  whenReady(): Promise<void>;
  /** `n` body bytes were placed at target(); returns false when the buffer to fill next is still busy. */
  received(n: number): boolean;
  /** Copies body bytes into the fill buffer as far as it is free; returns how many were taken. */
  copy(data: Buffer): number;
}

/**
 * One GET's response. A transport delivers body data with `deliver` (or straight into the sink) and
 * says when the body ended; this class moves it into the sink, pauses the transport (pauseSource)
 * while the sink is busy and between the head and readBody(), and resumes it (resumeSource) after.
 */
export abstract class ImageResponse {
  readonly response: Promise<ResponseHead>;
  head: ResponseHead = { status: 0, message: '', headers: new Map() };
  contentLength: number | undefined;
  chunked = false;
  protected sink: BodySink | undefined;
  /** Body data received but not yet in the sink; the transport does not read while it is not empty. */
  protected queue: Buffer[] = [];
  protected blocked = false;
  /** All body bytes received (they may still be queued). */
  protected bodyEnded = false;
  protected finished = false;
  protected failure: Error | undefined;
  private waiting = false;
  private resolveHead!: (h: ResponseHead) => void;
  private rejectHead!: (e: Error) => void;
  private settle: { resolve: () => void; reject: (e: Error) => void } | undefined;
  private readonly onAbort = () => this.fail(new Error('aborted'));
  /** Idle timeout: time of the last activity; the timer counts only while the response wants data. */
  private lastActivity = Date.now();
  private idleTimer: NodeJS.Timeout | undefined;
  private readonly idleMs: number;

  constructor(
    private readonly peer: string,
    protected readonly opts: TransportOptions,
  ) {
    this.idleMs = opts.idleTimeoutMs ?? 60_000;
    this.response = new Promise<ResponseHead>((resolve, reject) => {
      this.resolveHead = resolve;
      this.rejectHead = reject;
    });
    this.response.catch(() => undefined);
    this.armIdle(this.idleMs);
    if (opts.signal?.aborted) queueMicrotask(this.onAbort);
    else opts.signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  /** Stop reading from the network. */
  protected abstract pauseSource(): void;
  /** Read from the network again. */
  protected abstract resumeSource(): void;
  /** Drop the connection (after a failure, or on close()). */
  protected abstract release(err: Error | undefined): void;

  /** Streams the body into `sink`; resolves once all of it is there. */
  readBody(sink: BodySink): Promise<void> {
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
    this.release(undefined);
  }

  /** The final response head arrived: nothing more is read until readBody(). */
  protected headArrived(head: ResponseHead): void {
    this.head = head;
    this.block();
  }

  /** Hands the head to the caller (after any body bytes that came with it were queued). */
  protected publishHead(): void {
    this.resolveHead(this.head);
  }

  protected touch(): void {
    this.lastActivity = Date.now();
  }

  protected fail(err: Error): void {
    if (this.failure || this.finished) return;
    this.failure = err;
    this.stopIdle();
    this.rejectHead(err);
    this.settle?.reject(err);
    this.release(err);
  }

  protected guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.fail(err as Error);
    }
  }

  /** Moves queued data into the sink as far as it has room; reading resumes once the queue is empty. */
  protected pump(): void {
    const sink = this.sink;
    if (!sink || this.failure || this.finished) return;
    while (this.queue.length > 0) {
      if (!sink.ready()) return this.waitForSink(sink);
      const head = this.queue[0] as Buffer;
      const taken = sink.copy(head);
      if (taken === head.length) this.queue.shift();
      else this.queue[0] = head.subarray(taken);
    }
    if (this.bodyEnded) return this.finish();
    if (!sink.ready()) return this.waitForSink(sink);
    if (this.blocked) {
      this.blocked = false;
      this.touch(); // the idle time starts now that the response wants data again
      this.resumeSource(); // may deliver data (and re-enter pump) before it returns
    }
  }

  protected block(): void {
    if (this.blocked) return;
    this.blocked = true;
    this.pauseSource();
  }

  protected waitForSink(sink: BodySink): void {
    this.block();
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

  /**
   * Fails the request when the server sends nothing for idleMs while the response wants data. Time
   * spent blocked (the device is still writing, or between the head and readBody) does not count.
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

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.stopIdle();
    this.opts.signal?.removeEventListener('abort', this.onAbort);
    this.settle?.resolve();
  }
}
