// A real git smart-HTTP server on loopback: `git http-backend` (CGI) behind
// node:http, bare repositories under one temp root, optional basic auth (and
// optionally a bearer token, as Git hosts accept for access tokens); plus
// helpers to create repositories, commit and push with the real git CLI, and
// send GitHub-style signed webhooks.
import { execFile, spawn } from 'node:child_process';
import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile, unlink } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve, sep } from 'node:path';
import { promisify } from 'node:util';
import { harnessLog } from './log.js';

const exec = promisify(execFile);

export interface GitCredentials {
  username: string;
  password: string;
  /** When set, `Authorization: Bearer <bearerToken>` is accepted too (basic auth still works). */
  bearerToken?: string;
}

/** What a test worker needs to use the server; plain data. */
export interface GitServerInfo {
  /** http://127.0.0.1:<port> — a repository `name` is at `${url}/${name}.git`. */
  url: string;
  /** Directory holding the bare repositories (GIT_PROJECT_ROOT). */
  root: string;
  auth?: GitCredentials;
}

// Keep the user's and the system's git configuration out of the tests.
const gitEnv: NodeJS.ProcessEnv = {
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_TERMINAL_PROMPT: '0',
  GIT_AUTHOR_NAME: 'osfleet test',
  GIT_AUTHOR_EMAIL: 'test@osfleet.invalid',
  GIT_COMMITTER_NAME: 'osfleet test',
  GIT_COMMITTER_EMAIL: 'test@osfleet.invalid',
};

export async function git(args: string[], cwd?: string): Promise<string> {
  try {
    const { stdout } = await exec('git', args, { cwd, env: { ...process.env, ...gitEnv }, maxBuffer: 64 << 20 });
    return stdout.trim();
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') throw new Error('the git CLI is required by the test bed; install git');
    throw new Error(`git ${args.join(' ')} failed: ${e.stderr?.trim() || e.message}`);
  }
}

export class GitServer {
  /** Every request seen, in order ("GET /repo.git/info/refs?service=git-upload-pack"), for round-trip counts. */
  readonly requests: string[] = [];
  /** Milliseconds every request waits before it is served (a slow server), 0 by default. */
  private delayMs = 0;

  private constructor(
    readonly info: GitServerInfo,
    private server: Server | undefined,
    private readonly ownsRoot: boolean,
    private auth: GitCredentials | undefined,
  ) {}

  static async start(opts: { auth?: GitCredentials; root?: string } = {}): Promise<GitServer> {
    const root = opts.root ?? (await mkdtemp(join(tmpdir(), 'osfleet-git-')));
    const info: GitServerInfo = { url: '', root, ...(opts.auth ? { auth: opts.auth } : {}) };
    const self = new GitServer(info, undefined, opts.root === undefined, opts.auth);
    const server = createServer((req, res) => {
      self.requests.push(`${req.method} ${req.url}`);
      const delay = self.delayMs;
      const served = delay > 0 ? new Promise((r) => setTimeout(r, delay)).then(() => serveGit(root, self.auth, req, res)) : serveGit(root, self.auth, req, res);
      served.catch((err: unknown) => {
        harnessLog.error({ err, url: req.url }, 'git server request failed');
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(err instanceof Error ? err.message : String(err));
      });
    });
    await new Promise<void>((resolveListen, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolveListen());
    });
    const addr = server.address();
    if (addr === null || typeof addr === 'string') throw new Error('unexpected server address');
    info.url = `http://127.0.0.1:${addr.port}`;
    self.server = server;
    harnessLog.debug({ url: info.url, root }, 'git server listening');
    return self;
  }

  /** Changes (or, with undefined, drops) the credentials the server demands from now on. */
  setAuth(auth: GitCredentials | undefined): void {
    this.auth = auth;
  }

  /** Makes every request from now on wait `ms` before it is served (0: no delay). */
  setDelay(ms: number): void {
    this.delayMs = ms;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
    if (this.ownsRoot) await rm(this.info.root, { recursive: true, force: true });
  }
}

async function serveGit(
  root: string,
  auth: GitCredentials | undefined,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  let user = '';
  if (auth) {
    const presented = basicAuth(req.headers.authorization);
    const bearer = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
    const bearerOk = auth.bearerToken !== undefined && bearer !== undefined && sameSecret(bearer, auth.bearerToken);
    if (!bearerOk && (!presented || !sameSecret(presented.username, auth.username) || !sameSecret(presented.password, auth.password))) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="osfleet test git"', 'content-type': 'text/plain' });
      res.end('authentication required\n');
      req.resume();
      return;
    }
    user = bearerOk ? 'bearer' : presented!.username;
  }
  const pathInfo = decodeURIComponent(url.pathname);
  if (pathInfo.split('/').includes('..')) {
    res.writeHead(400).end();
    return;
  }

  const child = spawn('git', ['http-backend'], {
    env: {
      ...process.env,
      ...gitEnv,
      GIT_PROJECT_ROOT: root,
      GIT_HTTP_EXPORT_ALL: '1',
      PATH_INFO: pathInfo,
      QUERY_STRING: url.search.replace(/^\?/, ''),
      REQUEST_METHOD: req.method ?? 'GET',
      CONTENT_TYPE: req.headers['content-type'] ?? '',
      ...(req.headers['content-length'] ? { CONTENT_LENGTH: req.headers['content-length'] } : {}),
      ...(req.headers['content-encoding'] ? { HTTP_CONTENT_ENCODING: req.headers['content-encoding'] } : {}),
      ...(typeof req.headers['git-protocol'] === 'string' ? { GIT_PROTOCOL: req.headers['git-protocol'] } : {}),
      REMOTE_USER: user,
      REMOTE_ADDR: req.socket.remoteAddress ?? '127.0.0.1',
      SERVER_PROTOCOL: 'HTTP/1.1',
      GATEWAY_INTERFACE: 'CGI/1.1',
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  req.pipe(child.stdin);
  child.stdin.on('error', () => {
    // http-backend may exit before reading the whole body (e.g. on a 404).
  });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (c: string) => (stderr += c));

  await new Promise<void>((resolveDone, reject) => {
    let head = Buffer.alloc(0);
    let headersDone = false;
    child.stdout.on('data', (chunk: Buffer) => {
      if (headersDone) {
        res.write(chunk);
        return;
      }
      head = Buffer.concat([head, chunk]);
      const crlf = head.indexOf('\r\n\r\n');
      const lf = head.indexOf('\n\n');
      const end = crlf >= 0 && (lf < 0 || crlf < lf) ? crlf : lf;
      if (end < 0) return;
      const sepLen = end === crlf ? 4 : 2;
      headersDone = true;
      let status = 200;
      const headers: Record<string, string> = {};
      for (const line of head.subarray(0, end).toString('latin1').split(/\r?\n/)) {
        const i = line.indexOf(':');
        if (i < 0) continue;
        const name = line.slice(0, i).trim().toLowerCase();
        const value = line.slice(i + 1).trim();
        if (name === 'status') status = Number.parseInt(value, 10) || 500;
        else headers[name] = value;
      }
      res.writeHead(status, headers);
      res.write(head.subarray(end + sepLen));
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (!headersDone) {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`git http-backend exited with ${code}: ${stderr}`);
      } else {
        res.end();
      }
      if (code !== 0) harnessLog.warn({ code, stderr, path: pathInfo }, 'git http-backend failed');
      resolveDone();
    });
  });
}

function basicAuth(header: string | undefined): GitCredentials | undefined {
  const m = /^Basic\s+(\S+)$/i.exec(header ?? '');
  if (!m) return undefined;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  if (i < 0) return undefined;
  return { username: decoded.slice(0, i), password: decoded.slice(i + 1) };
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** URL of repository `name` on the server, with credentials embedded when `withAuth` (for the git CLI). */
export function repoUrl(info: GitServerInfo, name: string, withAuth = false): string {
  const u = new URL(`${info.url}/${name}.git`);
  if (withAuth && info.auth) {
    u.username = encodeURIComponent(info.auth.username);
    u.password = encodeURIComponent(info.auth.password);
  }
  return u.toString();
}

/**
 * Creates bare repository `name` (HEAD -> main, pushes over HTTP allowed) and
 * returns a work clone whose commits go to it.
 */
export async function createRepo(info: GitServerInfo, name: string): Promise<WorkClone> {
  const bare = join(info.root, `${name}.git`);
  if (!resolve(bare).startsWith(resolve(info.root) + sep)) throw new Error(`bad repository name ${name}`);
  if (existsSync(bare)) throw new Error(`repository ${name} already exists`);
  await mkdir(dirname(bare), { recursive: true });
  await git(['init', '--quiet', '--bare', '--initial-branch=main', bare]);
  await git(['config', 'http.receivepack', 'true'], bare);
  const work = await mkdtemp(join(tmpdir(), 'osfleet-work-'));
  await git(['init', '--quiet', '--initial-branch=main'], work);
  await git(['remote', 'add', 'origin', repoUrl(info, name, true)], work);
  return new WorkClone(work, bare, repoUrl(info, name));
}

/** A non-bare checkout that commits and pushes to its repository on the git server with the real git CLI. */
export class WorkClone {
  constructor(
    readonly dir: string,
    /** The bare repository on disk. */
    readonly bareDir: string,
    /** The repository's URL without credentials (what a controller would be configured with). */
    readonly url: string,
  ) {}

  /**
   * Writes files (null deletes), commits everything and pushes to `branch`.
   * Returns the new commit's sha.
   */
  async commitAndPush(
    files: Record<string, string | null>,
    message = 'test commit',
    branch = 'main',
  ): Promise<string> {
    for (const [path, content] of Object.entries(files)) {
      const full = resolve(this.dir, path);
      if (!full.startsWith(resolve(this.dir) + sep)) throw new Error(`path ${path} leaves the work clone`);
      if (content === null) {
        await unlink(full).catch(() => undefined);
      } else {
        await mkdir(dirname(full), { recursive: true });
        await writeFile(full, content);
      }
    }
    await git(['add', '--all'], this.dir);
    await git(['commit', '--quiet', '--allow-empty', '-m', message], this.dir);
    await git(['push', '--quiet', 'origin', `HEAD:refs/heads/${branch}`], this.dir);
    return git(['rev-parse', 'HEAD'], this.dir);
  }

  async head(): Promise<string> {
    return git(['rev-parse', 'HEAD'], this.dir);
  }

  async remove(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** GitHub's X-Hub-Signature-256 value for a body. */
export function hubSignature256(body: string | Buffer, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/**
 * POSTs a GitHub-style webhook: JSON body, X-GitHub-Event, X-GitHub-Delivery
 * and X-Hub-Signature-256 (HMAC-SHA256 of the exact body bytes with `secret`).
 */
export async function sendWebhook(
  url: string,
  body: unknown,
  secret: string,
  opts: { event?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: string }> {
  const payload = typeof body === 'string' ? body : JSON.stringify(body);
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'user-agent': 'GitHub-Hookshot/osfleet-test',
      'x-github-event': opts.event ?? 'push',
      'x-github-delivery': randomUUID(),
      'x-hub-signature-256': hubSignature256(payload, secret),
      ...opts.headers,
    },
    body: payload,
  });
  return { status: res.status, body: await res.text() };
}
