// A small JSON client for the Kubernetes API over one keep-alive HTTPS agent.
// Why not the generated clients of @kubernetes/client-node for the hot path: KubeConfig builds a new
// https.Agent (a new TLS handshake) for every request, and responses are deserialised into model
// classes; a controller writing to thousands of objects wants one pooled connection and plain JSON.
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest, type RequestOptions } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

export const CONTENT = {
  json: 'application/json',
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  jsonPatch: 'application/json-patch+json',
  apply: 'application/apply-patch+yaml',
} as const;

/** A failed API call: HTTP status, the apiserver's Status reason and message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export const isNotFound = (err: unknown): boolean => err instanceof ApiError && err.status === 404;
export const isConflict = (err: unknown): boolean => err instanceof ApiError && err.status === 409;
export const isTooManyRequests = (err: unknown): boolean => err instanceof ApiError && err.status === 429;

export interface RequestOpts {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  /** Milliseconds before the request is abandoned (default 30 s). */
  timeoutMs?: number;
}

export interface KubeClientOptions {
  /** Sockets kept open to the apiserver (default 32). */
  maxSockets?: number;
}

export class KubeClient {
  private readonly server: URL;
  private agent: HttpsAgent | HttpAgent | undefined;
  /** Requests made, by method; read by benchmarks. */
  readonly counts: Record<string, number> = {};

  constructor(
    readonly kubeConfig: KubeConfig,
    private readonly opts: KubeClientOptions = {},
  ) {
    const cluster = kubeConfig.getCurrentCluster();
    if (!cluster) throw new Error('the kubeconfig has no current cluster; set current-context');
    this.server = new URL(cluster.server);
  }

  private async options(): Promise<RequestOptions> {
    // applyToHTTPSOptions refreshes exec/OIDC tokens; the TLS material goes into our own pooled agent once.
    const o: RequestOptions = {};
    await this.kubeConfig.applyToHTTPSOptions(o);
    if (!this.agent) {
      const tls = { ca: o.ca, cert: o.cert, key: o.key, rejectUnauthorized: o.rejectUnauthorized, servername: o.servername };
      this.agent =
        this.server.protocol === 'https:'
          ? new HttpsAgent({ ...tls, keepAlive: true, maxSockets: this.opts.maxSockets ?? 32 })
          : new HttpAgent({ keepAlive: true, maxSockets: this.opts.maxSockets ?? 32 });
    }
    return o;
  }

  async request<T = unknown>(method: string, path: string, opts: RequestOpts = {}): Promise<T> {
    const base = await this.options();
    const url = new URL(this.server.toString().replace(/\/$/, '') + path);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const payload = opts.body === undefined ? undefined : typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
    const headers: Record<string, string> = { Accept: 'application/json' };
    for (const [k, v] of Object.entries(base.headers ?? {})) if (v !== undefined) headers[k] = String(v);
    if (base.auth) headers.Authorization = `Basic ${Buffer.from(base.auth).toString('base64')}`;
    if (payload !== undefined) {
      headers['Content-Type'] = opts.contentType ?? CONTENT.json;
      headers['Content-Length'] = String(Buffer.byteLength(payload));
    }
    this.counts[method] = (this.counts[method] ?? 0) + 1;
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise<T>((resolve, reject) => {
      const req = send(url, { method, headers, agent: this.agent, timeout: opts.timeoutMs ?? 30_000 }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          let parsed: unknown;
          try {
            parsed = text === '' ? undefined : JSON.parse(text);
          } catch {
            parsed = text;
          }
          if (status >= 200 && status < 300) return resolve(parsed as T);
          const st = (parsed ?? {}) as { reason?: string; message?: string; details?: unknown };
          reject(
            new ApiError(
              status,
              st.reason ?? String(status),
              `${method} ${url.pathname}: ${st.message ?? (typeof parsed === 'string' ? parsed : `HTTP ${status}`)}`,
              st.details,
            ),
          );
        });
      });
      req.on('timeout', () => req.destroy(new Error(`${method} ${url.pathname} timed out`)));
      req.on('error', reject);
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }

  get<T = unknown>(path: string, query?: RequestOpts['query']): Promise<T> {
    return this.request<T>('GET', path, { query });
  }

  /** Every item of a collection, page by page; returns the items and the list's resourceVersion. */
  async list<T = unknown>(
    path: string,
    query: RequestOpts['query'] = {},
    pageSize = 500,
    /** Applied to each item as its page arrives, so a large list never holds every raw object at once. */
    map: (raw: unknown) => T = (raw) => raw as T,
  ): Promise<{ items: T[]; resourceVersion: string }> {
    const items: T[] = [];
    let cont: string | undefined;
    let resourceVersion = '';
    do {
      const page = await this.request<{ items?: unknown[]; metadata?: { continue?: string; resourceVersion?: string } }>('GET', path, {
        query: { ...query, limit: pageSize, continue: cont },
        timeoutMs: 120_000,
      });
      for (const item of page.items ?? []) items.push(map(item));
      cont = page.metadata?.continue || undefined;
      resourceVersion = page.metadata?.resourceVersion ?? resourceVersion;
    } while (cont);
    return { items, resourceVersion };
  }

  /** Server-side apply of `body` (a full object with apiVersion, kind and metadata.name) under `fieldManager`. */
  apply<T = unknown>(path: string, body: unknown, fieldManager: string, force = true): Promise<T> {
    return this.request<T>('PATCH', path, {
      body,
      contentType: CONTENT.apply,
      query: { fieldManager, force },
    });
  }

  patch<T = unknown>(path: string, body: unknown, contentType: string = CONTENT.merge, query?: RequestOpts['query']): Promise<T> {
    return this.request<T>('PATCH', path, { body, contentType, query });
  }

  post<T = unknown>(path: string, body: unknown, query?: RequestOpts['query']): Promise<T> {
    return this.request<T>('POST', path, { body, query });
  }

  delete<T = unknown>(path: string, body?: unknown): Promise<T> {
    return this.request<T>('DELETE', path, { body });
  }

  /** Closes pooled connections (call on shutdown so the process can exit). */
  close(): void {
    this.agent?.destroy();
    this.agent = undefined;
  }
}

/** The API path of a collection or an object: core (`v1`) or grouped (`group/version`). */
export function apiPath(apiVersion: string, plural: string, opts: { namespace?: string; name?: string; subresource?: string } = {}): string {
  const root = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  let p = root;
  if (opts.namespace) p += `/namespaces/${encodeURIComponent(opts.namespace)}`;
  p += `/${plural}`;
  if (opts.name) p += `/${encodeURIComponent(opts.name)}`;
  if (opts.subresource) p += `/${opts.subresource}`;
  return p;
}
