// The direct image download: a minimal HTTP/1.1 GET client on net/tls for one large body, read
// straight into the write ring over plain http (no copy in JavaScript). Downloads through a proxy go
// through undici instead (agent/image-undici.ts); agent/image-transport.ts chooses.
import net from 'node:net';
import tls from 'node:tls';
import { ImageWriteError } from './image-error.js';
import { type BodySink, ImageResponse, type TransportOptions } from './image-response.js';

const HEAD_LIMIT = 64 * 1024;

/**
 * A minimal HTTP/1.1 GET (Connection: close) for one large body. Over plain http the body is read
 * with net's `onread` straight into the sink's buffers; over https, and for chunked bodies, data is
 * copied in. Backpressure: the socket stops reading while the sink's next buffer is being written,
 * and between the response head and readBody().
 */
export class Http1Response extends ImageResponse {
  private readonly socket: net.Socket;
  /** Receiving the head: reads go here. */
  private headBuf: Buffer | undefined = Buffer.allocUnsafe(HEAD_LIMIT);
  private headLen = 0;
  /** Plain http reads that cannot go straight to the sink (chunked, paused, head leftovers). */
  private scratch: Buffer | undefined;
  /** Body bytes still expected (content-length), or Infinity (until the connection closes). */
  private remaining = Infinity;
  private readonly chunk = { left: 0, state: 'size' as 'size' | 'data' | 'crlf' | 'trailer', line: '' };

  constructor(url: URL, headers: Record<string, string>, opts: TransportOptions) {
    super(url.host, opts);
    const isHttps = url.protocol === 'https:';
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    const port = Number(url.port || (isHttps ? 443 : 80));
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
  }

  protected pauseSource(): void {
    // Plain http: onRead returns false while blocked, which stops reading. tls: pause the stream.
    if (this.socket instanceof tls.TLSSocket) this.socket.pause();
  }

  protected resumeSource(): void {
    this.socket.resume();
  }

  protected release(): void {
    this.socket.destroy();
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
        const sink = this.sink as BodySink;
        this.remaining -= n;
        const free = sink.received(n);
        if (this.remaining === 0) this.endBody();
        else if (!free) this.waitForSink(sink);
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
      this.headArrived({ status, message: m[2] ?? '', headers });
      if (this.remaining === 0) this.bodyEnded = true;
      if (leftover.length > 0) this.onData(leftover);
      this.publishHead();
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
}
