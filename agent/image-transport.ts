// The image download's transport: one GET on undici for one large body, delivered into the write
// ring with backpressure (undici pauses the socket while the ring is busy), with the agent's redirect
// policy, its idle timeout and the proxy the environment names (HTTPS_PROXY, HTTP_PROXY, NO_PROXY).
import { type Dispatcher, EnvHttpProxyAgent } from 'undici';
import { ImageWriteError } from './image-error.js';

/** A redirect may go to another host only over https, and never from https down to http. */
export function redirectProblem(from: URL, to: URL): string | undefined {
  if (to.protocol !== 'http:' && to.protocol !== 'https:') return `redirect to unsupported scheme ${to.protocol}`;
  if (from.protocol === 'https:' && to.protocol !== 'https:') return `redirect from https to plain http (${to.href}) refused`;
  if (to.host !== from.host && to.protocol !== 'https:') return `redirect to another host over plain http (${to.href}) refused; only https redirects may change host`;
  return undefined;
}

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

/** Where ImageResponse puts the body: the write ring (agent/image-writer.ts). */
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
 * The connections of one image download. The proxy comes from the environment when it is made:
 * HTTPS_PROXY for https images, HTTP_PROXY for http ones (both tunnel with CONNECT), NO_PROXY the
 * hosts that are reached directly. Destroy it when the download is over.
 */
export function imageDispatcher(opts: TransportOptions): Dispatcher {
  const idle = opts.idleTimeoutMs ?? 60_000;
  const tlsOpts = opts.ca ? { ca: opts.ca } : {};
  return new EnvHttpProxyAgent({
    // The idle timer of ImageResponse covers the head and the body; undici's own timers would also
    // count the time the socket is paused while the device writes.
    headersTimeout: 0,
    bodyTimeout: 0,
    connect: { timeout: idle, ...tlsOpts },
    // The image server's TLS inside a proxy tunnel.
    requestTls: tlsOpts,
  });
}

/**
 * Sends the GET for `imageUrl` (following at most 5 redirects, under redirectProblem's policy) and
 * resolves once a final response head arrived. `onRequest` counts each hop.
 */
export async function getImage(
  imageUrl: string,
  headers: Record<string, string>,
  opts: TransportOptions,
  dispatcher: Dispatcher,
  onRequest: () => void,
): Promise<ImageResponse> {
  let url = new URL(imageUrl);
  for (let hops = 0; ; hops++) {
    onRequest();
    const res = new ImageResponse(url, headers, opts, dispatcher);
    let head: ResponseHead;
    try {
      head = await res.response;
    } catch (err) {
      res.close();
      throw err;
    }
    if (![301, 302, 303, 307, 308].includes(head.status)) return res;
    res.close();
    const loc = head.headers.get('location');
    if (!loc) throw new ImageWriteError(`image server redirected (${head.status}) without a Location`, 'Download');
    if (hops >= 5) throw new ImageWriteError(`more than 5 redirects for ${imageUrl}`, 'Download');
    let to: URL;
    try {
      to = new URL(loc, url);
    } catch {
      throw new ImageWriteError(`image server redirected (${head.status}) to an invalid Location ${JSON.stringify(loc)}`, 'Download');
    }
    const problem = redirectProblem(url, to);
    if (problem) throw new ImageWriteError(`image ${imageUrl}: ${problem}`, 'Download');
    url = to;
  }
}

/**
 * One GET as an undici dispatch handler. Body data is copied into the sink's buffers as it arrives;
 * when the sink is busy the response is paused (undici stops reading the socket), so at most one
 * socket read waits here. Nothing is read between the head and readBody().
 */
export class ImageResponse implements Dispatcher.DispatchHandler {
  readonly response: Promise<ResponseHead>;
  head: ResponseHead = { status: 0, message: '', headers: new Map() };
  contentLength: number | undefined;
  chunked = false;
  private controller: Dispatcher.DispatchController | undefined;
  private resolveHead!: (h: ResponseHead) => void;
  private rejectHead!: (e: Error) => void;
  private sink: BodySink | undefined;
  /** Body data received but not yet in the sink; the response stays paused while it is not empty. */
  private queue: Buffer[] = [];
  private blocked = false;
  private waiting = false;
  private headSeen = false;
  /** All body bytes received (they may still be queued). */
  private bodyEnded = false;
  private finished = false;
  private failure: Error | undefined;
  private settle: { resolve: () => void; reject: (e: Error) => void } | undefined;
  private readonly onAbort = () => this.fail(new Error('aborted'));
  /** Idle timeout: time of the last activity; the timer counts only while the response wants data. */
  private lastActivity = Date.now();
  private idleTimer: NodeJS.Timeout | undefined;
  private readonly idleMs: number;
  private readonly peer: string;

  constructor(url: URL, headers: Record<string, string>, private readonly opts: TransportOptions, dispatcher: Dispatcher) {
    this.peer = url.host;
    this.idleMs = opts.idleTimeoutMs ?? 60_000;
    this.response = new Promise<ResponseHead>((resolve, reject) => {
      this.resolveHead = resolve;
      this.rejectHead = reject;
    });
    this.response.catch(() => undefined);
    this.armIdle(this.idleMs);
    if (opts.signal?.aborted) queueMicrotask(this.onAbort);
    else opts.signal?.addEventListener('abort', this.onAbort, { once: true });
    dispatcher.dispatch(
      { origin: url.origin, path: `${url.pathname}${url.search}`, method: 'GET', headers: { 'accept-encoding': 'identity', ...headers } },
      this,
    );
  }

  // ---- undici's side ----

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.failure || this.finished) return controller.abort(this.failure ?? new Error('closed'));
    this.touch(); // connected (through the proxy, if any) and the request is on its way
  }

  onResponseStart(controller: Dispatcher.DispatchController, status: number, headers: Record<string, string | string[] | undefined>, message?: string): void {
    if (status < 200) return; // interim (100 Continue, 103 Early Hints): the real one follows
    this.touch();
    const map = new Map<string, string>();
    for (const [k, v] of Object.entries(headers)) if (v !== undefined) map.set(k.toLowerCase(), Array.isArray(v) ? v.join(', ') : v);
    this.head = { status, message: message ?? '', headers: map };
    const te = map.get('transfer-encoding');
    const cl = map.get('content-length');
    this.chunked = te !== undefined && /chunked/i.test(te);
    if (te === undefined && cl !== undefined && /^\d+$/.test(cl)) this.contentLength = Number(cl);
    this.headSeen = true;
    // Nothing more is read until readBody() (the caller may wait for writes to finish first).
    this.block();
    this.resolveHead(this.head);
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.touch();
    if (this.failure || this.finished) return;
    this.queue.push(chunk);
    this.guard(() => this.pump());
  }

  onResponseEnd(): void {
    this.bodyEnded = true;
    this.guard(() => this.pump());
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    if (this.bodyEnded) return; // the whole body arrived; the connection no longer matters
    this.fail(err.message ? err : new Error(this.headSeen ? 'connection closed before the end of the body' : 'connection closed before the response head'));
  }

  // ---- the writer's side ----

  /** Streams the body into `sink`; resolves once all of it is there. */
  readBody(sink: BodySink): Promise<void> {
    this.sink = sink;
    const p = new Promise<void>((resolve, reject) => (this.settle = { resolve, reject }));
    if (this.failure) this.settle?.reject(this.failure);
    else this.guard(() => this.pump());
    return p;
  }

  close(): void {
    if (!this.finished && !this.failure) this.controller?.abort(new Error('closed'));
    this.finished = true;
    this.stopIdle();
    this.opts.signal?.removeEventListener('abort', this.onAbort);
  }

  private touch(): void {
    this.lastActivity = Date.now();
  }

  /**
   * Fails the request when the server sends nothing for idleMs while the response wants data. Time
   * spent paused (the device is still writing, or between the head and readBody) does not count.
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

  private fail(err: Error): void {
    if (this.failure || this.finished) return;
    this.failure = err;
    this.stopIdle();
    this.rejectHead(err);
    this.settle?.reject(err);
    this.controller?.abort(err);
  }

  private guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.fail(err as Error);
    }
  }

  /** Moves queued data into the sink as far as it has room; the response resumes once the queue is empty. */
  private pump(): void {
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
      this.controller?.resume(); // may deliver data (and re-enter pump) before it returns
    }
  }

  private block(): void {
    if (this.blocked) return;
    this.blocked = true;
    this.controller?.pause();
  }

  private waitForSink(sink: BodySink): void {
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

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.stopIdle();
    this.opts.signal?.removeEventListener('abort', this.onAbort);
    this.settle?.resolve();
  }
}
