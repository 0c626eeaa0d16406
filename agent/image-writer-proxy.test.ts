// Image downloads through the environment's proxy: a real HTTP CONNECT proxy on loopback logs every
// tunnel it opens, so the tests see whether a download went through it (HTTP_PROXY, HTTPS_PROXY) or
// around it (NO_PROXY, no proxy variable), and the slot must hold the exact image either way.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createCA, issue } from '../test/harness/certs.js';
import { createHost } from './host.js';
import { writeImage } from './image-writer.js';
import { cleanupTempDirs, createSandbox, type ImageServer, type Sandbox, sha256OfFile, startImageServer, tempDir } from './testing/sandbox.js';

const MiB = 1 << 20;
const SIZE = 3 * MiB + 777;
const image = randomBytes(SIZE);
const sha = createHash('sha256').update(image).digest('hex');
const PROXY_VARS = ['HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'http_proxy', 'https_proxy', 'no_proxy'] as const;

/** A CONNECT proxy: answers 200, splices the two sockets, and logs `CONNECT host:port`; anything else gets 405. */
async function startConnectProxy(): Promise<{ url: string; log: string[]; close: () => Promise<void> }> {
  const log: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => undefined);
    let head = Buffer.alloc(0);
    const onData = (d: Buffer): void => {
      head = Buffer.concat([head, d]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      client.off('data', onData);
      const [method, target] = head.toString('latin1', 0, end).split(' ');
      log.push(`${method} ${target}`);
      if (method !== 'CONNECT' || !target) {
        client.end('HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\n\r\n');
        return;
      }
      const colon = target.lastIndexOf(':');
      const upstream = net.connect(Number(target.slice(colon + 1)), target.slice(0, colon).replace(/^\[|\]$/g, ''), () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        const rest = head.subarray(end + 4);
        if (rest.length > 0) upstream.write(rest);
        client.pipe(upstream).pipe(client);
      });
      sockets.add(upstream);
      upstream.on('close', () => sockets.delete(upstream));
      upstream.on('error', () => client.destroy());
      client.on('close', () => upstream.destroy());
    };
    client.on('data', onData);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    log,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

describe('image downloads through the environment proxy (a CONNECT proxy on loopback)', () => {
  const dir = tempDir();
  const www = path.join(dir, 'www');
  let proxy: Awaited<ReturnType<typeof startConnectProxy>>;
  let plain: ImageServer;
  let httpsServer: https.Server;
  let httpsUrl = '';
  let ca = '';
  let zstSha = '';
  const saved: Partial<Record<(typeof PROXY_VARS)[number], string>> = {};

  beforeAll(async () => {
    mkdirSync(www);
    writeFileSync(path.join(www, 'root.img'), image);
    execFileSync('zstd', ['-q', '-3', '-f', path.join(www, 'root.img'), '-o', path.join(www, 'root.img.zst')]);
    zstSha = createHash('sha256').update(readFileSync(path.join(www, 'root.img.zst'))).digest('hex');
    plain = await startImageServer(www);
    const authority = await createCA(dir);
    const leaf = await issue(authority, dir, 'server', { cn: 'localhost', serverNames: ['localhost'] });
    ca = readFileSync(authority.cert, 'utf8');
    httpsServer = https.createServer({ key: readFileSync(leaf.key), cert: readFileSync(leaf.cert) }, (_req: http.IncomingMessage, res: http.ServerResponse) => {
      res.writeHead(200, { 'content-length': SIZE }).end(image);
    });
    await new Promise<void>((r) => httpsServer.listen(0, '127.0.0.1', r));
    httpsUrl = `https://localhost:${(httpsServer.address() as AddressInfo).port}`;
    proxy = await startConnectProxy();
  });

  afterAll(async () => {
    await proxy?.close();
    await plain?.close();
    httpsServer?.close();
    cleanupTempDirs();
  });

  beforeEach(() => {
    for (const v of PROXY_VARS) {
      saved[v] = process.env[v];
      delete process.env[v];
    }
    proxy.log.length = 0;
  });

  afterEach(() => {
    for (const v of PROXY_VARS) {
      if (saved[v] === undefined) delete process.env[v];
      else process.env[v] = saved[v];
    }
  });

  const slotB = (sb: Sandbox) => (sb.config.slotDevices.B as { path: string }).path;
  const write = async (url: string, digest = sha) => {
    const sb = createSandbox();
    const r = await writeImage({ host: createHost(sb.config), slot: 'B', image: { version: '2', url, sha256: digest, size: SIZE }, chunkBytes: MiB, ca, maxAttempts: 1 });
    return { r, onSlot: await sha256OfFile(slotB(sb), SIZE) };
  };
  const plainHostPort = () => new URL(plain.url).host;

  it('HTTP_PROXY: an http image is fetched through a CONNECT tunnel, and the slot holds it', async () => {
    process.env.HTTP_PROXY = proxy.url;
    const { r, onSlot } = await write(`${plain.url}/root.img`);
    expect(proxy.log).toEqual([`CONNECT ${plainHostPort()}`]);
    expect([r.sha256, onSlot]).toEqual([sha, sha]);
  });

  it('HTTPS_PROXY: an https image is fetched through the tunnel, the server certificate still verified', async () => {
    process.env.HTTPS_PROXY = proxy.url;
    const { r, onSlot } = await write(`${httpsUrl}/root.img`);
    expect(proxy.log).toEqual([`CONNECT ${new URL(httpsUrl).host}`]);
    expect([r.sha256, onSlot]).toEqual([sha, sha]);
  });

  it('lower-case http_proxy is read too, and a compressed image still verifies through the proxy', async () => {
    process.env.http_proxy = proxy.url;
    const { onSlot } = await write(`${plain.url}/root.img.zst`, zstSha);
    expect(proxy.log).toEqual([`CONNECT ${plainHostPort()}`]);
    expect(onSlot).toBe(sha);
  });

  it('NO_PROXY: a listed host is reached directly, the proxy sees nothing', async () => {
    process.env.HTTP_PROXY = proxy.url;
    process.env.HTTPS_PROXY = proxy.url;
    process.env.NO_PROXY = 'example.invalid,127.0.0.1,localhost';
    expect((await write(`${plain.url}/root.img`)).onSlot).toBe(sha);
    expect((await write(`${httpsUrl}/root.img`)).onSlot).toBe(sha);
    expect(proxy.log).toEqual([]);
  });

  it('HTTPS_PROXY alone leaves http images direct; no proxy variable at all, nothing goes through it', async () => {
    process.env.HTTPS_PROXY = proxy.url;
    expect((await write(`${plain.url}/root.img`)).onSlot).toBe(sha);
    delete process.env.HTTPS_PROXY;
    expect((await write(`${httpsUrl}/root.img`)).onSlot).toBe(sha);
    expect(proxy.log).toEqual([]);
  });

  it('a proxy that refuses the tunnel fails the download with the reason, the slot not armed', async () => {
    const refusing = net.createServer((s) => s.once('data', () => s.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n')));
    await new Promise<void>((r) => refusing.listen(0, '127.0.0.1', r));
    try {
      process.env.HTTP_PROXY = `http://127.0.0.1:${(refusing.address() as AddressInfo).port}`;
      await expect(write(`${plain.url}/root.img`)).rejects.toThrow(/failed 1 times in a row at byte 0: .*403/);
    } finally {
      refusing.close();
    }
  });
});
