import { createHmac } from 'node:crypto';
import * as http from 'node:http';
import * as net from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startHttpServers, type HttpServers } from './http-server.js';
import { ControllerMetrics } from './metrics.js';
import { createWebhookHandler, ReplayGuard } from './webhook.js';

const SECRET = 'hook-secret-123';
let servers: HttpServers;
let metrics: ControllerMetrics;
let triggered: string[];
let clock = 1_000_000;

beforeAll(async () => {
  metrics = new ControllerMetrics();
  const webhook = createWebhookHandler({
    lookupSecret: async (name) => (name === 'fleet' || name === 'paused' ? SECRET : undefined),
    trigger: (name) => {
      if (name === 'paused') return 'suspended';
      triggered.push(name);
      return 'queued';
    },
    metrics,
    now: () => clock,
    replayWindowMs: 60_000,
  });
  servers = await startHttpServers({
    metricsAddr: '127.0.0.1:0',
    healthAddr: '127.0.0.1:0',
    webhookAddr: '127.0.0.1:0',
    metrics,
    live: () => ({ ok: true, reason: 'running' }),
    ready: () => ({ ok: false, reason: 'not the leader' }),
    webhook,
  });
});
afterAll(async () => servers.close());
beforeEach(() => {
  triggered = [];
});

interface Reply {
  status: number;
  body: string;
}

function post(path: string, body: Buffer | string, headers: Record<string, string> = {}, opts: { chunked?: boolean } = {}): Promise<Reply> {
  const buf = Buffer.isBuffer(body) ? body : Buffer.from(body);
  const [host, port] = servers.webhookAddr!.split(':');
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host,
        port: Number(port),
        method: 'POST',
        path,
        headers: { 'content-type': 'application/json', ...(opts.chunked ? {} : { 'content-length': String(buf.length) }), ...headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      },
    );
    // The server stops reading an oversized body and closes; our write may then fail. The reply is what counts.
    req.on('error', (err) => reject(err));
    if (opts.chunked) {
      for (let i = 0; i < buf.length; i += 64 * 1024) req.write(buf.subarray(i, i + 64 * 1024));
      req.end();
    } else {
      req.end(buf);
    }
  });
}

function githubSig(body: string, secret = SECRET): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

async function metricValue(result: string): Promise<number> {
  const m = await metrics.webhookRequests.get();
  return m.values.find((v) => v.labels.result === result)?.value ?? 0;
}

describe('webhook receiver', () => {
  it('accepts a GitHub-style signed push and triggers one fetch', async () => {
    const body = JSON.stringify({ ref: 'refs/heads/main', after: 'a1' });
    const r = await post('/hooks/fleet', body, { 'x-hub-signature-256': githubSig(body), 'x-github-delivery': 'gh-1' });
    expect(r.status).toBe(202);
    expect(triggered).toEqual(['fleet']);
  });

  it('answers a signed hook for a suspended FleetSource with 200 "suspended", not a queued fetch', async () => {
    const body = JSON.stringify({ ref: 'refs/heads/main', after: 'p1' });
    const before = await metricValue('suspended');
    const r = await post('/hooks/paused', body, { 'x-hub-signature-256': githubSig(body), 'x-github-delivery': 'gh-paused-1' });
    expect(r.status).toBe(200);
    expect(r.body).toContain('FleetSource paused is suspended (spec.suspend: true): nothing fetched');
    expect(triggered).toEqual([]);
    expect(await metricValue('suspended')).toBe(before + 1);
  });

  it('accepts Gitea (hex HMAC) and GitLab (token) styles', async () => {
    const b1 = JSON.stringify({ after: 'gitea-1' });
    const gitea = await post('/hooks/fleet', b1, {
      'x-gitea-signature': createHmac('sha256', SECRET).update(b1).digest('hex'),
      'x-gitea-delivery': 'gt-1',
    });
    const b2 = JSON.stringify({ after: 'gitlab-1' });
    const gitlab = await post('/hooks/fleet', b2, { 'x-gitlab-token': SECRET });
    expect([gitea.status, gitlab.status]).toEqual([202, 202]);
    expect(triggered).toEqual(['fleet', 'fleet']);
  });

  it('refuses a bad HMAC, a wrong token and a missing signature with 401, counts them, and fetches nothing', async () => {
    const before = { bad: await metricValue('bad_signature'), missing: await metricValue('missing_signature') };
    const body = JSON.stringify({ after: 'evil' });
    const bad = await post('/hooks/fleet', body, { 'x-hub-signature-256': githubSig(body, 'not-the-secret') });
    const garbled = await post('/hooks/fleet', body, { 'x-hub-signature-256': 'sha256=zz' });
    const gitea = await post('/hooks/fleet', body, { 'x-gitea-signature': createHmac('sha256', 'nope').update(body).digest('hex') });
    const token = await post('/hooks/fleet', body, { 'x-gitlab-token': `${SECRET}x` });
    const missing = await post('/hooks/fleet', body);
    expect([bad.status, garbled.status, gitea.status, token.status, missing.status]).toEqual([401, 401, 401, 401, 401]);
    expect(await metricValue('bad_signature')).toBe(before.bad + 4);
    expect(await metricValue('missing_signature')).toBe(before.missing + 1);
    expect(triggered).toEqual([]);
  });

  it('refuses a replayed body and a replayed delivery id, and forgets them after the window', async () => {
    const body = JSON.stringify({ after: 'replay-me' });
    const first = await post('/hooks/fleet', body, { 'x-hub-signature-256': githubSig(body), 'x-github-delivery': 'gh-r1' });
    const again = await post('/hooks/fleet', body, { 'x-hub-signature-256': githubSig(body), 'x-github-delivery': 'gh-r2' });
    const body2 = JSON.stringify({ after: 'other' });
    const sameId = await post('/hooks/fleet', body2, { 'x-hub-signature-256': githubSig(body2), 'x-github-delivery': 'gh-r1' });
    const gitlabReplay = await post('/hooks/fleet', body, { 'x-gitlab-token': SECRET });
    expect([first.status, again.status, sameId.status, gitlabReplay.status]).toEqual([202, 409, 409, 409]);
    expect(triggered).toEqual(['fleet']);
    clock += 61_000;
    const later = await post('/hooks/fleet', body, { 'x-hub-signature-256': githubSig(body), 'x-github-delivery': 'gh-r3' });
    expect(later.status).toBe(202);
  });

  it('refuses a 2 MiB body with 413 before reading it, whether or not Content-Length is declared', async () => {
    const before = await metricValue('too_large');
    const big = Buffer.alloc(2 * 1024 * 1024, 0x61);
    const sig = `sha256=${createHmac('sha256', SECRET).update(big).digest('hex')}`;
    const declared = await post('/hooks/fleet', big, { 'x-hub-signature-256': sig }).catch((e: NodeJS.ErrnoException) => e.code);
    const chunked = await post('/hooks/fleet', big, { 'x-hub-signature-256': sig }, { chunked: true }).catch((e: NodeJS.ErrnoException) => e.code);
    // The reply is 413, or the connection is cut while we are still uploading: either way nothing was fetched.
    for (const r of [declared, chunked]) {
      if (typeof r === 'string') expect(['ECONNRESET', 'EPIPE']).toContain(r);
      else expect(r?.status).toBe(413);
    }
    expect(await metricValue('too_large')).toBe(before + 2);
    expect(triggered).toEqual([]);
  });

  it('answers an unknown FleetSource exactly like a bad signature (names cannot be enumerated), and 405 for GET', async () => {
    const body = '{"unknown":1}';
    const unknown = await post('/hooks/other', body, { 'x-hub-signature-256': githubSig(body) });
    const badSig = await post('/hooks/fleet', body, { 'x-hub-signature-256': githubSig(body, 'not-the-secret') });
    expect(unknown).toEqual(badSig);
    expect(unknown.status).toBe(401);
    const unknownUnsigned = await post('/hooks/other', body);
    const knownUnsigned = await post('/hooks/fleet', body);
    expect(unknownUnsigned).toEqual(knownUnsigned);
    const [host, port] = servers.webhookAddr!.split(':');
    const status = await new Promise<number>((resolve) =>
      http.get({ host, port: Number(port), path: '/hooks/fleet' }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      }),
    );
    expect(status).toBe(405);
    expect(triggered).toEqual([]);
  });

  it('serves /healthz, /readyz and /metrics', async () => {
    const get = (addr: string, path: string): Promise<Reply> => {
      const [host, port] = addr.split(':');
      return new Promise((resolve) =>
        http.get({ host, port: Number(port), path }, (res) => {
          let b = '';
          res.on('data', (c: Buffer) => (b += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: b }));
        }),
      );
    };
    expect((await get(servers.healthAddr!, '/healthz')).status).toBe(200);
    const ready = await get(servers.healthAddr!, '/readyz');
    expect(ready).toEqual({ status: 503, body: 'not ready: not the leader\n' });
    const m = await get(servers.metricsAddr!, '/metrics');
    expect(m.status).toBe(200);
    expect(m.body).toContain('osfleet_webhook_requests_total{result="accepted"}');
  });
});

describe('ReplayGuard', () => {
  it('stays bounded: the oldest entries go first', () => {
    let t = 0;
    const g = new ReplayGuard(1000, 3, () => t);
    for (const k of ['a', 'b', 'c', 'd']) g.add(k);
    expect(g.size).toBe(3);
    expect(g.has('a')).toBe(false);
    expect(g.has('d')).toBe(true);
    t = 2000;
    expect(g.has('d')).toBe(false);
  });
});

describe('connection limits of the listeners', () => {
  let limited: HttpServers;
  let host: string;
  let port: number;
  beforeAll(async () => {
    limited = await startHttpServers({
      metricsAddr: 'off',
      healthAddr: 'off',
      webhookAddr: '127.0.0.1:0',
      metrics: new ControllerMetrics(),
      live: () => ({ ok: true, reason: 'running' }),
      ready: () => ({ ok: true, reason: 'running' }),
      webhook: createWebhookHandler({ lookupSecret: async () => SECRET, trigger: () => 'queued' }),
      limits: { headersTimeoutMs: 300, requestTimeoutMs: 600, maxConnections: 3 },
    });
    const addr = limited.webhookAddr!;
    host = addr.slice(0, addr.lastIndexOf(':'));
    port = Number(addr.slice(addr.lastIndexOf(':') + 1));
  });
  afterAll(async () => limited.close());

  /** A raw client socket; resolves `closed` with what the server sent before it closed the connection. */
  function open(): Promise<{ socket: net.Socket; closed: Promise<string> }> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, host);
      let got = '';
      socket.setEncoding('utf8');
      socket.on('data', (d: string) => (got += d));
      const closed = new Promise<string>((r) => socket.once('close', () => r(got)));
      socket.once('error', () => undefined);
      socket.once('connect', () => resolve({ socket, closed }));
      socket.once('error', reject);
    });
  }

  it('closes a connection whose headers never finish (slowloris)', async () => {
    const { socket, closed } = await open();
    socket.write('POST /hooks/fleet HTTP/1.1\r\nHost: x\r\nX-Slow: ');
    // The server, not the client, ends it: the socket closes while we still hold it open.
    expect(await closed).toMatch(/^(HTTP\/1\.1 408|)/);
    expect(socket.destroyed || socket.readableEnded).toBe(true);
  });

  it('closes a connection whose body never finishes', async () => {
    const { socket, closed } = await open();
    socket.write('POST /hooks/fleet HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\nX-Hub-Signature-256: sha256=00\r\n\r\n{"a":');
    expect(await closed).toMatch(/^(HTTP\/1\.1 408|)/);
  });

  it('refuses connections over the cap while the others stay open, and accepts again once they close', async () => {
    const held = [await open(), await open(), await open()];
    // Each held connection has sent a request line, so the server has accepted it.
    for (const h of held) h.socket.write('POST /hooks/fleet HTTP/1.1\r\n');
    await new Promise((r) => setImmediate(r));
    const extra = await open();
    expect(await extra.closed).toBe('');
    for (const h of held) expect(h.socket.destroyed).toBe(false);
    for (const h of held) h.socket.destroy();
    await Promise.all(held.map((h) => h.closed));
    const body = '{}';
    const r = await new Promise<number>((resolve, reject) => {
      const req = http.request({ host, port, method: 'POST', path: '/hooks/fleet', headers: { 'x-hub-signature-256': githubSig(body) } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end(body);
    });
    expect(r).toBe(202);
  });
});
