// Test support only: the test bed's git smart-HTTP server (optional basic auth, request log) in the
// shape the controller's tests and sync bench use, plus a clone that pushes straight to the bare repo.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
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
  // The test bed's smart-HTTP server (git http-backend behind node:http) serves; this adapter adds
  // bare repositories created synchronously and the shape the controller's tests and bench use.
  const { GitServer } = await import('../../test/harness/git-server.js');
  const server = await GitServer.start(opts.credentials ? { auth: opts.credentials } : {});
  const root = server.info.root;
  return {
    baseUrl: server.info.url,
    root,
    requests: server.requests,
    setCredentials: (c) => server.setAuth(c),
    createRepo(name) {
      const dir = path.join(root, name);
      execFileSync('git', ['init', '--quiet', '--bare', '--initial-branch=main', dir]);
      execFileSync('git', ['-C', dir, 'config', 'http.receivepack', 'true']);
      execFileSync('git', ['-C', dir, 'config', 'uploadpack.allowReachableSHA1InWant', 'true']);
      return `${server.info.url}/${name}`;
    },
    close: () => server.stop(),
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
