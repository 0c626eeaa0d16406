// The image download's transport: which client a GET goes through (the hand-written one directly,
// undici through the environment's proxy), and the agent's redirect policy across hops.
import type { Dispatcher } from 'undici';
import { ImageWriteError } from './image-error.js';
import { Http1Response } from './image-http1.js';
import type { ImageResponse, ResponseHead, TransportOptions } from './image-response.js';
import { proxyConfigured, proxyDispatcher, UndiciResponse } from './image-undici.js';

/** A redirect may go to another host only over https, and never from https down to http. */
export function redirectProblem(from: URL, to: URL): string | undefined {
  if (to.protocol !== 'http:' && to.protocol !== 'https:') return `redirect to unsupported scheme ${to.protocol}`;
  if (from.protocol === 'https:' && to.protocol !== 'https:') return `redirect from https to plain http (${to.href}) refused`;
  if (to.host !== from.host && to.protocol !== 'https:') return `redirect to another host over plain http (${to.href}) refused; only https redirects may change host`;
  return undefined;
}

/**
 * The connections of one download. A URL whose scheme has a proxy in the environment (HTTPS_PROXY,
 * HTTP_PROXY) goes through undici, which also applies NO_PROXY; every other one through the
 * hand-written client. The environment is read when the download starts.
 */
export class ImageConnections {
  private dispatcher: Promise<Dispatcher> | undefined;

  constructor(private readonly opts: TransportOptions) {}

  async get(url: URL, headers: Record<string, string>): Promise<ImageResponse> {
    if (!proxyConfigured(url)) return new Http1Response(url, headers, this.opts);
    this.dispatcher ??= proxyDispatcher(this.opts);
    return new UndiciResponse(url, headers, this.opts, await this.dispatcher);
  }

  close(): void {
    void this.dispatcher?.then((d) => d.destroy()).catch(() => undefined);
    this.dispatcher = undefined;
  }
}

/**
 * Sends the GET for `imageUrl` (following at most 5 redirects, under redirectProblem's policy) and
 * resolves once a final response head arrived. `onRequest` counts each hop.
 */
export async function getImage(imageUrl: string, headers: Record<string, string>, conns: ImageConnections, onRequest: () => void): Promise<ImageResponse> {
  let url = new URL(imageUrl);
  for (let hops = 0; ; hops++) {
    onRequest();
    const res = await conns.get(url, headers);
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
