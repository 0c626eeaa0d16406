// Test support only: a real `git http-backend` behind node:http on loopback, with optional
// basic auth and a request counter, plus helpers to push real commits with the git CLI.
import { spawn, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

export interface LocalGitServer {
  baseUrl: string;
  root: string;
  /** Every HTTP request seen, in order ("GET /repo.git/info/refs?service=…"). */
  requests: string[];
  setCredentials(creds: { username: string; password: string } | undefined): void;
  createRepo(name: string): string;
  close(): Promise<void>;
}

export async function startGitServer(opts: { credentials?: { username: string; password: string } } = {}): Promise<LocalGitServer> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'osfleet-git-'));
  let creds = opts.credentials;
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    if (creds) {
      const want = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
      if (req.headers.authorization !== want) {
        res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="git"' });
        res.end('authentication required\n');
        return;
      }
    }
    const u = new URL(req.url ?? '/', 'http://x');
    const child = spawn('git', ['http-backend'], {
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        GIT_PROJECT_ROOT: root,
        GIT_HTTP_EXPORT_ALL: '1',
        PATH_INFO: decodeURIComponent(u.pathname),
        QUERY_STRING: u.search.slice(1),
        REQUEST_METHOD: req.method ?? 'GET',
        CONTENT_TYPE: req.headers['content-type'] ?? '',
        REMOTE_USER: 'tester',
        REMOTE_ADDR: '127.0.0.1',
        GIT_HTTP_MAX_REQUEST_BUFFER: '100M',
        ...(req.headers['content-encoding'] ? { HTTP_CONTENT_ENCODING: req.headers['content-encoding'] } : {}),
        ...(req.headers['git-protocol'] ? { GIT_PROTOCOL: String(req.headers['git-protocol']) } : {}),
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    req.pipe(child.stdin);
    let buf = Buffer.alloc(0);
    let headersDone = false;
    child.stdout.on('data', (chunk: Buffer) => {
      if (headersDone) {
        res.write(chunk);
        return;
      }
      buf = Buffer.concat([buf, chunk]);
      const sep = buf.indexOf('\r\n\r\n');
      const sepLen = 4;
      const alt = sep < 0 ? buf.indexOf('\n\n') : -1;
      const at = sep >= 0 ? sep : alt;
      if (at < 0) return;
      const head = buf.subarray(0, at).toString('latin1');
      const body = buf.subarray(at + (sep >= 0 ? sepLen : 2));
      let status = 200;
      const headers: Record<string, string> = {};
      for (const line of head.split(/\r?\n/)) {
        const i = line.indexOf(':');
        if (i < 0) continue;
        const k = line.slice(0, i).trim();
        const v = line.slice(i + 1).trim();
        if (k.toLowerCase() === 'status') status = Number.parseInt(v, 10);
        else headers[k] = v;
      }
      res.writeHead(status, headers);
      res.write(body);
      headersDone = true;
    });
    child.stdout.on('end', () => res.end());
    child.on('error', () => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    root,
    requests,
    setCredentials(c) {
      creds = c;
    },
    createRepo(name) {
      const dir = path.join(root, name);
      execFileSync('git', ['init', '--quiet', '--bare', '--initial-branch=main', dir]);
      execFileSync('git', ['-C', dir, 'config', 'http.receivepack', 'true']);
      execFileSync('git', ['-C', dir, 'config', 'uploadpack.allowReachableSHA1InWant', 'true']);
      return `http://127.0.0.1:${port}/${name}`;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
}

/** A working clone that pushes straight into the bare repository on disk (no HTTP, so request counts stay clean). */
export class WorkRepo {
  readonly dir: string;
  constructor(private readonly barePath: string, branch = 'main') {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'osfleet-work-'));
    this.git('init', '--quiet', `--initial-branch=${branch}`);
    this.git('config', 'user.email', 'test@osfleet.dev');
    this.git('config', 'user.name', 'osfleet test');
    this.git('config', 'commit.gpgsign', 'false');
    this.git('remote', 'add', 'origin', barePath);
  }
  git(...args: string[]): string {
    return execFileSync('git', ['-C', this.dir, ...args], { encoding: 'utf8' }).trim();
  }
  write(file: string, content: string): this {
    const p = path.join(this.dir, file);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, content);
    return this;
  }
  remove(file: string): this {
    this.git('rm', '--quiet', file);
    return this;
  }
  /** Commits everything and pushes; returns the new commit id. */
  commitAndPush(message: string, ref = 'main'): string {
    this.git('add', '-A');
    this.git('commit', '--quiet', '--allow-empty', '-m', message);
    this.git('push', '--quiet', 'origin', `HEAD:refs/heads/${ref}`);
    return this.git('rev-parse', 'HEAD');
  }
  cleanup(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
