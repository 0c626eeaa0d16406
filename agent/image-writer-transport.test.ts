// The image writer's own HTTP/1.1 client against real servers on loopback: https with a private CA,
// a cross-host redirect to https, chunked bodies, a server that ignores Range on resume, errors.
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCA, issue } from '../test/harness/certs.js';
import { createHost } from './host.js';
import { writeImage, type WriteImageOptions } from './image-writer.js';
import { attachLoop, cleanupTempDirs, createSandbox, detachLoop, loopUnavailable, sha256OfFile, tempDir } from './testing/sandbox.js';
import { skipUnlessRequired } from './testing/host-capabilities.js';

const MiB = 1 << 20;
const SIZE = 9 * MiB + 4321; // not a multiple of the write size
const image = randomBytes(SIZE);
const sha = createHash('sha256').update(image).digest('hex');

type Mode = 'plain' | 'chunked' | 'drop-then-ignore-range' | 'ignore-range';
let mode: Mode = 'plain';
let requests: string[] = [];

function handler(req: http.IncomingMessage, res: http.ServerResponse): void {
  requests.push(`${req.url} ${req.headers.range ?? ''}`.trim());
  if (req.url === '/redirect') {
    res.writeHead(302, { location: `${httpsUrl}/img` }).end();
    return;
  }
  if (req.url === '/missing') {
    res.writeHead(404).end('no such image');
    return;
  }
  const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  if (mode === 'chunked') {
    res.writeHead(200, { 'transfer-encoding': 'chunked' });
    let at = 0;
    const pump = (): void => {
      while (at < SIZE) {
        const n = Math.min(SIZE - at, 1 + ((at * 7919) % 300_000));
        const ok = res.write(image.subarray(at, at + n));
        at += n;
        if (!ok) {
          res.once('drain', pump);
          return;
        }
      }
      res.end();
    };
    pump();
    return;
  }
  if (mode === 'drop-then-ignore-range') {
    mode = 'ignore-range';
    res.writeHead(200, { 'content-length': SIZE, etag: '"e"' });
    res.write(image.subarray(0, 5 * MiB + 3), () => res.socket?.destroy());
    return;
  }
  if (range && mode !== 'ignore-range') {
    const start = Number(range[1]);
    res.writeHead(206, { 'content-length': SIZE - start, 'content-range': `bytes ${start}-${SIZE - 1}/${SIZE}`, etag: '"e"' }).end(image.subarray(start));
    return;
  }
  res.writeHead(200, { 'content-length': SIZE, etag: '"e"' }).end(image);
}

let httpsServer: https.Server;
let httpServer: http.Server;
let httpUrl = '';
let httpsUrl = '';
let ca: string;
const noLoop = skipUnlessRequired('image-writer transport tests (loop devices)', loopUnavailable());

describe.skipIf(noLoop !== undefined)('image writer transport (real servers on loopback, loop devices)', () => {
  const dir = tempDir();
  let devices: { A: string; B: string };

  beforeAll(async () => {
    const authority = await createCA(dir);
    const leaf = await issue(authority, dir, 'server', { cn: 'localhost', serverNames: ['localhost'] });
    ca = readFileSync(authority.cert, 'utf8');
    httpsServer = https.createServer({ key: readFileSync(leaf.key), cert: readFileSync(leaf.cert) }, handler);
    httpServer = http.createServer(handler);
    await new Promise<void>((r) => httpsServer.listen(0, '127.0.0.1', r));
    await new Promise<void>((r) => httpServer.listen(0, '127.0.0.1', r));
    httpsUrl = `https://localhost:${(httpsServer.address() as AddressInfo).port}`;
    httpUrl = `http://127.0.0.1:${(httpServer.address() as AddressInfo).port}`;
    devices = { A: attachLoop(dir, 'a', 16 * MiB).device, B: attachLoop(dir, 'b', 16 * MiB).device };
  });

  afterAll(() => {
    if (devices) {
      detachLoop(devices.A);
      detachLoop(devices.B);
    }
    httpsServer?.close();
    httpServer?.close();
    cleanupTempDirs();
  });

  async function write(url: string, m: Mode, extra: Partial<WriteImageOptions> = {}) {
    mode = m;
    requests = [];
    const sb = createSandbox({ slotDevices: devices, booted: 'A' });
    return writeImage({
      host: createHost(sb.config),
      slot: 'B',
      image: { version: '1', url, sha256: sha, size: SIZE },
      chunkBytes: MiB,
      checkpointBytes: 2 * MiB,
      ...extra,
    });
  }

  it('downloads over https with the given CA and writes the exact image', async () => {
    const r = await write(`${httpsUrl}/img`, 'plain', { ca });
    expect(r.sha256).toBe(sha);
    expect(await sha256OfFile(devices.B, SIZE)).toBe(sha);
  });

  it('refuses an https server whose certificate it cannot verify', async () => {
    await expect(write(`${httpsUrl}/img`, 'plain', { maxAttempts: 1 })).rejects.toThrow(/certificate/i);
  });

  it('follows a redirect to another host when it goes to https', async () => {
    const r = await write(`${httpUrl}/redirect`, 'plain', { ca });
    expect(r.sha256).toBe(sha);
    expect(requests).toEqual(['/redirect', '/img']);
  });

  it('decodes chunked bodies over http and https', async () => {
    expect((await write(`${httpUrl}/img`, 'chunked')).sha256).toBe(sha);
    expect((await write(`${httpsUrl}/img`, 'chunked', { ca })).sha256).toBe(sha);
    expect(await sha256OfFile(devices.B, SIZE)).toBe(sha);
  });

  it('rewrites from the start when a server ignores Range after a dropped connection, and still verifies', async () => {
    const r = await write(`${httpUrl}/img`, 'drop-then-ignore-range');
    expect(r.sha256).toBe(sha);
    expect(requests.length).toBe(2);
    expect(requests[1]).toMatch(/^\/img bytes=\d+-$/);
    expect(await sha256OfFile(devices.B, SIZE)).toBe(sha);
  });

  it('fails with the status for a missing image, and for a refused connection', async () => {
    await expect(write(`${httpUrl}/missing`, 'plain')).rejects.toThrow(/404/);
    await expect(write('http://127.0.0.1:1/img', 'plain', { maxAttempts: 2 })).rejects.toThrow(/ECONNREFUSED|refused/i);
  });
});
