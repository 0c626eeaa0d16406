// Test-only: a sandbox host for the real agent code — temp dirs, loop block devices,
// network namespaces, a loopback image server, and children run under tsx.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { open } from 'node:fs/promises';
import { createReadStream, existsSync, mkdtempSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderGrubEnv } from '../grubenv.js';
import type { HostConfig, Slot } from '../host.js';
import { hiddenForTest } from './host-capabilities.js';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

const made: string[] = [];
/** Remove every temp dir made by tempDir() so far (call from afterAll). */
export function cleanupTempDirs(): void {
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
}
process.on('exit', cleanupTempDirs);

/** A temp dir removed when the test process exits. */
export function tempDir(prefix = 'osfleet-agent-'): string {
  const d = mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(d);
  return d;
}

/** Why a kernel feature is unusable here, or undefined when it works. */
export function loopUnavailable(): string | undefined {
  if (hiddenForTest('loop')) return 'loop devices hidden by OSFLEET_TEST_HIDE_CAPABILITY';
  if (process.getuid?.() !== 0) return 'loop devices need root';
  try {
    execFileSync('losetup', ['-f'], { stdio: 'pipe' });
    return undefined;
  } catch (err) {
    return `losetup cannot find a free loop device: ${(err as Error).message}`;
  }
}

export function netnsUnavailable(): string | undefined {
  if (hiddenForTest('netns')) return 'network namespaces hidden by OSFLEET_TEST_HIDE_CAPABILITY';
  if (process.getuid?.() !== 0) return 'network namespaces need root';
  const name = `osf-probe-${process.pid}`;
  try {
    execFileSync('ip', ['netns', 'add', name], { stdio: 'pipe' });
    execFileSync('ip', ['netns', 'del', name], { stdio: 'pipe' });
    return undefined;
  } catch (err) {
    return `cannot create a network namespace with "ip netns add": ${(err as Error).message}`;
  }
}

export function commandUnavailable(cmd: string, pkg: string): string | undefined {
  if (hiddenForTest(cmd)) return `${cmd} hidden by OSFLEET_TEST_HIDE_CAPABILITY`;
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'pipe' });
    return undefined;
  } catch {
    return `${cmd} is not installed (Debian package ${pkg}, listed in hack/apt-packages.txt)`;
  }
}

export function createNetns(name: string): void {
  execFileSync('ip', ['netns', 'add', name], { stdio: 'pipe' });
}

export function deleteNetns(name: string): void {
  try {
    execFileSync('ip', ['netns', 'del', name], { stdio: 'pipe' });
  } catch {
    /* already gone */
  }
}

/** A sparse file of `bytes` attached to a loop device. */
export function attachLoop(dir: string, name: string, bytes: number): { device: string; file: string } {
  const file = path.join(dir, name);
  writeFileSync(file, '');
  execFileSync('truncate', ['-s', String(bytes), file]);
  const device = execFileSync('losetup', ['-f', '--show', file], { encoding: 'utf8' }).trim();
  return { device, file };
}

export function detachLoop(device: string): void {
  try {
    execFileSync('losetup', ['-d', device], { stdio: 'pipe' });
  } catch {
    /* already detached */
  }
}

export async function sha256OfFile(file: string, length?: number): Promise<string> {
  const hash = createHash('sha256');
  const stream = createReadStream(file, length !== undefined ? { start: 0, end: length - 1, highWaterMark: 4 << 20 } : { highWaterMark: 4 << 20 });
  for await (const chunk of stream) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export interface Sandbox {
  dir: string;
  config: HostConfig;
  /** Write the kernel command line the sandbox "booted" with. */
  boot(cmdline: readonly string[]): void;
  cleanup(): void;
}

/** A host root in a temp dir; slot devices are given (loop devices) or plain files. */
export function createSandbox(opts: { slotDevices?: Record<Slot, string>; booted?: Slot; dir?: string } = {}): Sandbox {
  const dir = opts.dir ?? tempDir();
  const persistDir = path.join(dir, 'persist');
  const grubenvPath = path.join(dir, 'boot/grub/grubenv');
  const cmdlinePath = path.join(dir, 'proc-cmdline');
  mkdirSync(persistDir, { recursive: true });
  mkdirSync(path.dirname(grubenvPath), { recursive: true });
  writeFileSync(grubenvPath, renderGrubEnv(new Map([['saved_entry', `osfleet-${opts.booted ?? 'A'}`]])));
  let slotDevices = opts.slotDevices;
  if (!slotDevices) {
    slotDevices = { A: path.join(dir, 'slot-a.img'), B: path.join(dir, 'slot-b.img') };
    writeFileSync(slotDevices.A, '');
    writeFileSync(slotDevices.B, '');
  }
  const config: HostConfig = {
    root: dir,
    procSysRoot: '/proc/sys',
    persistDir,
    grubenvPath,
    cmdlinePath,
    bootIdPath: path.join(dir, 'boot-id'),
    slotCmdlineParam: 'osfleet.slot',
    slotDevices: { A: { path: slotDevices.A }, B: { path: slotDevices.B } },
    partLabelDir: path.join(dir, 'dev/disk/by-partlabel'),
    rebootCommand: ['true'],
  };
  const sb: Sandbox = {
    dir,
    config,
    boot(cmdline) {
      writeFileSync(cmdlinePath, cmdline.join(' ') + '\n');
      writeFileSync(config.bootIdPath, randomUUID() + '\n'); // every boot has a new id, as the kernel's
    },
    cleanup() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
  sb.boot([`root=PARTLABEL=osfleet-${opts.booted ?? 'A'}`, 'ro', `osfleet.slot=${opts.booted ?? 'A'}`]);
  return sb;
}

export interface ImageServer {
  url: string;
  /** Every request: path and headers. */
  requests: Array<{ path: string; range: string | undefined; ifRange: string | undefined }>;
  /** Drop the connection after sending this many body bytes of the next full-body response, once. */
  dropNextAfter(bytes: number): void;
  /** Slow mode: send response bodies at about this many bytes per second (undefined: full speed). Applies to responses started later. */
  throttle(bytesPerSecond: number | undefined): void;
  close(): Promise<void>;
}

/** Serves files from a directory on 127.0.0.1 with Range support (single ranges, `bytes=N-`). */
export async function startImageServer(dir: string, opts: { redirects?: Record<string, string> } = {}): Promise<ImageServer> {
  const requests: ImageServer['requests'] = [];
  let dropAfter: number | undefined;
  let rate: number | undefined;
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    requests.push({ path: url.pathname, range: req.headers.range, ifRange: req.headers['if-range'] as string | undefined });
    const redirect = opts.redirects?.[url.pathname];
    if (redirect) {
      res.writeHead(302, { location: redirect }).end();
      return;
    }
    const file = path.join(dir, path.basename(url.pathname));
    if (!existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    const size = statSync(file).size;
    const etag = `"${size}-${statSync(file).mtimeMs}"`;
    let start = 0;
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (m && (req.headers['if-range'] === undefined || req.headers['if-range'] === etag)) {
      start = Number(m[1]);
      if (start >= size) {
        // Like real servers: a range starting at or past the end is unsatisfiable.
        res.writeHead(416, { 'content-range': `bytes */${size}` }).end();
        return;
      }
      res.writeHead(206, { 'content-length': size - start, 'content-range': `bytes ${start}-${size - 1}/${size}`, etag, 'accept-ranges': 'bytes' });
    } else {
      res.writeHead(200, { 'content-length': size, etag, 'accept-ranges': 'bytes' });
    }
    const limit = dropAfter;
    dropAfter = undefined;
    void sendFile(res, file, start, size, limit, rate);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    dropNextAfter(bytes) {
      dropAfter = bytes;
    },
    throttle(bytesPerSecond) {
      rate = bytesPerSecond;
    },
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/**
 * Streams file[start, end) into `res` with large reads into two reused 8 MiB buffers (one is read while
 * the other is being sent): few syscalls and no fresh memory per chunk, so the image server is not the
 * bottleneck of the write bench. With `dropAfter`, the connection is cut after that many body bytes.
 */
async function sendFile(res: http.ServerResponse, file: string, start: number, end: number, dropAfter: number | undefined, rate?: number): Promise<void> {
  const closed = new Promise<void>((r) => res.once('close', () => r()));
  if (rate !== undefined) return sendThrottled(res, file, start, end, rate, closed);
  const fh = await open(file, 'r');
  try {
    const bufs = [Buffer.allocUnsafeSlow(8 << 20), Buffer.allocUnsafeSlow(8 << 20)];
    let flushed: Promise<void> = Promise.resolve();
    let pos = start;
    let sent = 0;
    for (let i = 0; pos < end && !res.destroyed; i ^= 1) {
      const buf = bufs[i] as Buffer;
      const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, end - pos), pos);
      if (bytesRead <= 0) break;
      pos += bytesRead;
      const chunk = buf.subarray(0, bytesRead);
      await Promise.race([flushed, closed]); // the other buffer is free to be read into next
      if (dropAfter !== undefined && sent + chunk.length >= dropAfter) {
        await Promise.race([new Promise<void>((r) => res.write(chunk.subarray(0, dropAfter - sent), () => r())), closed]);
        res.socket?.destroy();
        return;
      }
      sent += chunk.length;
      flushed = new Promise<void>((r) => res.write(chunk, () => r()));
    }
    await Promise.race([flushed, closed]);
    res.end();
  } catch {
    res.destroy();
  } finally {
    await fh.close();
  }
}

/** Slow mode: 64 KiB slices, each sent when the elapsed time allows it at `rate` bytes per second. */
async function sendThrottled(res: http.ServerResponse, file: string, start: number, end: number, rate: number, closed: Promise<void>): Promise<void> {
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(64 << 10);
    const t0 = Date.now();
    let sent = 0;
    for (let pos = start; pos < end && !res.destroyed; ) {
      const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, end - pos), pos);
      if (bytesRead <= 0) break;
      const due = t0 + ((sent + bytesRead) / rate) * 1000;
      if (due > Date.now()) await Promise.race([new Promise((r) => setTimeout(r, due - Date.now())), closed]);
      if (res.destroyed) return;
      await Promise.race([new Promise<void>((r) => res.write(Buffer.from(buf.subarray(0, bytesRead)), () => r())), closed]);
      pos += bytesRead;
      sent += bytesRead;
    }
    res.end();
  } catch {
    res.destroy();
  } finally {
    await fh.close();
  }
}

/** Run a TypeScript file under tsx, optionally inside a network namespace. */
export function spawnTs(script: string, args: readonly string[], opts: { netns?: string } = {}): ChildProcess {
  const node = [process.execPath, '--import', 'tsx', script, ...args];
  const argv = opts.netns ? ['ip', 'netns', 'exec', opts.netns, ...node] : node;
  const [cmd, ...rest] = argv as [string, ...string[]];
  return spawn(cmd, rest, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
}

export async function runTs(script: string, args: readonly string[], opts: { netns?: string } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawnTs(script, args, opts);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d) => (stdout += String(d)));
  child.stderr?.on('data', (d) => (stderr += String(d)));
  const code = await new Promise<number | null>((r) => child.on('close', (c) => r(c)));
  return { code, stdout, stderr };
}

export interface NetnsForward {
  /** Stop the forwarder inside the namespace and the host-side sockets. */
  close(): Promise<void>;
}

/**
 * Make loopback TCP ports of this (host) network namespace reachable on 127.0.0.1 inside `ns`
 * (brings the namespace's `lo` up): a process run there with `ip netns exec` can then reach the
 * apiserver and the image server under their usual URLs. Traffic stays on loopback and Unix sockets.
 */
export async function forwardIntoNetns(ns: string, ports: readonly number[]): Promise<NetnsForward> {
  execFileSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up'], { stdio: 'pipe' });
  const dir = tempDir('osfleet-fwd-');
  const sockets = new Set<net.Socket>();
  const track = (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  };
  const servers = await Promise.all(
    ports.map(
      (port) =>
        new Promise<net.Server>((resolve, reject) => {
          const server = net.createServer((fromNs) => {
            const toHost = net.connect(port, '127.0.0.1');
            track(fromNs);
            track(toHost);
            fromNs.pipe(toHost).pipe(fromNs);
            fromNs.on('error', () => toHost.destroy());
            toHost.on('error', () => fromNs.destroy());
          });
          server.once('error', reject);
          server.listen(path.join(dir, `${port}.sock`), () => resolve(server));
        }),
    ),
  );
  const child = spawnTs(path.join(REPO_ROOT, 'agent/testing/netns-forward.ts'), [dir, ...ports.map(String)], { netns: ns });
  let stderr = '';
  child.stderr?.on('data', (d) => (stderr += String(d)));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (d) => {
      if (String(d).includes('ready')) resolve();
    });
    void exited.then(() => reject(new Error(`the forwarder in network namespace ${ns} exited: ${stderr.trim()}`)));
  });
  return {
    async close() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
      for (const s of sockets) s.destroy();
      await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    },
  };
}
