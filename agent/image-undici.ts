// Image downloads through a proxy: the environment's HTTPS_PROXY / HTTP_PROXY / NO_PROXY, as undici's
// EnvHttpProxyAgent reads them (CONNECT tunnels, credentials from the proxy URL, NO_PROXY rules).
// Direct downloads use the hand-written client (agent/image-http1.ts), which reads into the write
// ring without a copy: on undici a 4 GiB image took 177 MiB instead of 83 (docs/adr/0005).
import type { Dispatcher } from 'undici';
import { ImageResponse, type TransportOptions } from './image-response.js';

/**
 * Whether the environment names a proxy for `url`'s scheme, in EnvHttpProxyAgent's reading (lower
 * case first; https falls back to the http proxy). NO_PROXY is left to EnvHttpProxyAgent: such a
 * host is reached directly, through undici.
 */
export function proxyConfigured(url: URL, env: NodeJS.ProcessEnv = process.env): boolean {
  const httpProxy = env.http_proxy ?? env.HTTP_PROXY;
  const httpsProxy = env.https_proxy ?? env.HTTPS_PROXY;
  return Boolean(url.protocol === 'https:' ? httpsProxy || httpProxy : httpProxy);
}

/**
 * Connections for one download through the environment's proxy; destroy it when the download is
 * over. undici is loaded here, on the first proxied download: an agent without a proxy never
 * carries it.
 */
export async function proxyDispatcher(opts: TransportOptions): Promise<Dispatcher> {
  const { EnvHttpProxyAgent } = await import('undici');
  const tlsOpts = opts.ca ? { ca: opts.ca } : {};
  return new EnvHttpProxyAgent({
    // The idle timer of ImageResponse covers the head and the body; undici's own timers would also
    // count the time the response is paused while the device writes.
    headersTimeout: 0,
    bodyTimeout: 0,
    connect: { timeout: opts.idleTimeoutMs ?? 60_000, ...tlsOpts },
    // The image server's TLS inside a proxy tunnel.
    requestTls: tlsOpts,
  });
}

/**
 * One GET as an undici dispatch handler. Body data is copied into the sink as it arrives; while
 * the sink is busy the response is paused (undici stops reading the socket), so at most one socket
 * read waits here.
 */
export class UndiciResponse extends ImageResponse implements Dispatcher.DispatchHandler {
  private controller: Dispatcher.DispatchController | undefined;
  private headSeen = false;

  constructor(url: URL, headers: Record<string, string>, opts: TransportOptions, dispatcher: Dispatcher) {
    super(url.host, opts);
    dispatcher.dispatch(
      { origin: url.origin, path: `${url.pathname}${url.search}`, method: 'GET', headers: { 'accept-encoding': 'identity', ...headers } },
      this,
    );
  }

  protected pauseSource(): void {
    this.controller?.pause();
  }

  protected resumeSource(): void {
    this.controller?.resume();
  }

  protected release(err: Error | undefined): void {
    if (!this.bodyEnded) this.controller?.abort(err ?? new Error('closed'));
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.failure || this.finished) return controller.abort(this.failure ?? new Error('closed'));
    if (this.blocked) controller.pause();
    this.touch(); // connected (through the proxy) and the request is on its way
  }

  onResponseStart(_controller: Dispatcher.DispatchController, status: number, headers: Record<string, string | string[] | undefined>, message?: string): void {
    if (status < 200) return; // interim (100 Continue, 103 Early Hints): the real one follows
    this.touch();
    const map = new Map<string, string>();
    for (const [k, v] of Object.entries(headers)) if (v !== undefined) map.set(k.toLowerCase(), Array.isArray(v) ? v.join(', ') : v);
    const te = map.get('transfer-encoding');
    const cl = map.get('content-length');
    this.chunked = te !== undefined && /chunked/i.test(te);
    if (te === undefined && cl !== undefined && /^\d+$/.test(cl)) this.contentLength = Number(cl);
    this.headSeen = true;
    this.headArrived({ status, message: message ?? '', headers: map });
    this.publishHead();
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.touch();
    if (this.failure || this.finished || chunk.length === 0) return; // undici may hand over empty pieces
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
}
