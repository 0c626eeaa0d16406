// The dashboard's HTTP server, on loopback only: the page, its script and style, the state as JSON
// and a server-sent-events stream of patches. Read-only: no route changes anything.
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DashboardFeed } from './dashboard-feed.js';
import { PAGE_HTML } from './page-html.js';
import { PAGE_JS } from './page-script.js';
import { PAGE_CSS } from './page-style.js';

export interface DashboardServer {
  url: string;
  server: Server;
  close(): Promise<void>;
}

const SECURITY_HEADERS = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'content-security-policy': "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
};

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** Listens on 127.0.0.1 (`port` 0 = any free port). */
export async function startDashboardServer(feed: DashboardFeed, opts: { port?: number; host?: '127.0.0.1' | '::1' } = {}): Promise<DashboardServer> {
  const host = opts.host ?? '127.0.0.1';
  const streams = new Set<ServerResponse>();
  const server = createServer((req, res) => {
    // A page on another origin must not read the fleet through the user's browser (DNS rebinding).
    const h = (req.headers.host ?? '').replace(/:\d+$/, '');
    if (!['127.0.0.1', 'localhost', '[::1]'].includes(h)) return send(res, 403, 'text/plain', 'forbidden host\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'read-only\n');
    const path = (req.url ?? '/').split('?')[0];
    switch (path) {
      case '/':
        return send(res, 200, 'text/html; charset=utf-8', PAGE_HTML);
      case '/app.js':
        return send(res, 200, 'text/javascript; charset=utf-8', PAGE_JS);
      case '/app.css':
        return send(res, 200, 'text/css; charset=utf-8', PAGE_CSS);
      case '/favicon.ico':
        res.writeHead(204, SECURITY_HEADERS);
        return res.end();
      case '/api/state': {
        const { view, timelines, now } = feed.current();
        return send(res, 200, 'application/json', JSON.stringify({ now, ...view, timelines }));
      }
      case '/api/stream': {
        res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/event-stream', connection: 'keep-alive' });
        res.write('retry: 1000\n\n');
        streams.add(res);
        const unsubscribe = feed.subscribe((patch) => res.write(`data: ${JSON.stringify(patch)}\n\n`));
        const ping = setInterval(() => res.write(': ping\n\n'), 15_000);
        req.on('close', () => {
          clearInterval(ping);
          unsubscribe();
          streams.delete(res);
        });
        return;
      }
      default:
        return send(res, 404, 'text/plain', 'not found\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host === '::1' ? '[::1]' : host}:${port}/`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of streams) s.end();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
