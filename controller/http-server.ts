// Owns the controller's HTTP listeners: /healthz, /readyz, /metrics and the webhook route,
// each on its own configurable address; routes that share an address share one server.
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { ControllerMetrics } from './metrics.js';
import { WEBHOOK_PATH_PREFIX } from './webhook.js';

export interface Readiness {
  ok: boolean;
  reason: string;
}

/**
 * What one client may hold of a listener: the webhook port faces the git host, often through the
 * internet, so a slow or numerous client must not pin the controller's sockets or memory.
 */
export interface ConnectionLimits {
  /** Time to receive all request headers (default 10 s). */
  headersTimeoutMs: number;
  /** Time to receive the whole request, body included (default 30 s). */
  requestTimeoutMs: number;
  /** Open connections per listener; more are closed at once (default 128). */
  maxConnections: number;
}

export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = { headersTimeoutMs: 10_000, requestTimeoutMs: 30_000, maxConnections: 128 };

export interface HttpServersOptions {
  limits?: Partial<ConnectionLimits>;
  /** "host:port"; port 0 picks a free port; "off" disables the route. */
  metricsAddr: string;
  healthAddr: string;
  webhookAddr: string;
  metrics: ControllerMetrics;
  live: () => Readiness;
  ready: () => Readiness;
  webhook?: (req: http.IncomingMessage, res: http.ServerResponse) => void;
  logger?: Logger;
}

export interface HttpServers {
  /** The bound "host:port" of each route (after port 0 was resolved). */
  metricsAddr?: string;
  healthAddr?: string;
  webhookAddr?: string;
  close(): Promise<void>;
}

type Route = 'metrics' | 'health' | 'webhook';

export function parseAddr(addr: string): { host: string; port: number } {
  const i = addr.lastIndexOf(':');
  if (i < 0) throw new Error(`address "${addr}" is not host:port (e.g. 127.0.0.1:8080 or :8080)`);
  const host = addr.slice(0, i).replace(/^\[|\]$/g, '') || '0.0.0.0';
  const port = Number(addr.slice(i + 1));
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`address "${addr}" has no valid port`);
  return { host, port };
}

export async function startHttpServers(opts: HttpServersOptions): Promise<HttpServers> {
  const byAddr = new Map<string, Set<Route>>();
  const add = (addr: string, route: Route): void => {
    if (addr === 'off' || addr === '') return;
    const set = byAddr.get(addr) ?? new Set<Route>();
    set.add(route);
    byAddr.set(addr, set);
  };
  add(opts.metricsAddr, 'metrics');
  add(opts.healthAddr, 'health');
  if (opts.webhook) add(opts.webhookAddr, 'webhook');

  const limits: ConnectionLimits = { ...DEFAULT_CONNECTION_LIMITS, ...opts.limits };
  const servers: http.Server[] = [];
  const result: HttpServers = {
    async close() {
      await Promise.all(
        servers.map(
          (s) =>
            new Promise<void>((resolve) => {
              s.close(() => resolve());
              s.closeAllConnections();
            }),
        ),
      );
    },
  };
  try {
    for (const [addr, routes] of byAddr) {
      const server = http.createServer(
        {
          headersTimeout: limits.headersTimeoutMs,
          requestTimeout: limits.requestTimeoutMs,
          // Node checks both timeouts on this interval (default 30 s, which would stretch them).
          connectionsCheckingInterval: Math.min(1000, limits.headersTimeoutMs),
        },
        (req, res) => route(routes, req, res),
      );
      server.maxConnections = limits.maxConnections;
      const { host, port } = parseAddr(addr);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      servers.push(server);
      const a = server.address() as AddressInfo;
      const bound = `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
      if (routes.has('metrics')) result.metricsAddr = bound;
      if (routes.has('health')) result.healthAddr = bound;
      if (routes.has('webhook')) result.webhookAddr = bound;
      opts.logger?.info({ addr: bound, routes: [...routes] }, 'listening');
    }
  } catch (err) {
    await result.close();
    throw err;
  }
  return result;

  function route(routes: Set<Route>, req: http.IncomingMessage, res: http.ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (routes.has('webhook') && opts.webhook && path.startsWith(WEBHOOK_PATH_PREFIX)) {
      opts.webhook(req, res);
      return;
    }
    if (routes.has('health') && (path === '/healthz' || path === '/readyz')) {
      const r = path === '/healthz' ? opts.live() : opts.ready();
      res.writeHead(r.ok ? 200 : 503, { 'content-type': 'text/plain' });
      res.end(`${r.ok ? 'ok' : 'not ready'}: ${r.reason}\n`);
      return;
    }
    if (routes.has('metrics') && path === '/metrics') {
      opts.metrics.registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': opts.metrics.registry.contentType });
          res.end(text);
        },
        (err: unknown) => {
          res.writeHead(500);
          res.end(String(err));
        },
      );
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found\n');
  }
}
