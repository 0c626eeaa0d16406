// Owns the git side of a FleetSource: one ref advertisement to learn the remote revision,
// a shallow single-ref fetch into a cache dir that survives restarts, and reading the files
// of a fetched commit straight from the object store (no checkout).
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import git from 'isomorphic-git';
import nodeHttp from 'isomorphic-git/http/node';
import type { GitAuth, HttpClient, ServerRef } from 'isomorphic-git';
import type { Diagnostic } from '../render/diagnostics.js';
import { DEFAULT_REPOSITORY_LIMITS, limitResponses, mib, type RepositoryLimits } from './repository-limits.js';
import { isYamlName, MAX_FILE_BYTES, type LoadResult, type SourceFile } from '../render/load.js';

export interface GitRefSpec {
  branch?: string;
  tag?: string;
  commit?: string;
}

/** Credentials read from the FleetSource's Secret; `secret` names it in error messages. */
export interface GitCredentials {
  username?: string;
  password?: string;
  /** Sent as `Authorization: Bearer <token>`. */
  bearerToken?: string;
  secret: { namespace: string; name: string };
}

export type GitFailureReason =
  | 'AuthenticationFailed'
  | 'RefNotFound'
  | 'MissingHead'
  | 'EmptyRepository'
  | 'RepositoryNotFound'
  | 'NetworkError'
  | 'PathNotFound'
  | 'RepositoryTooLarge'
  | 'GitError';

/** A fetch problem, phrased for the person who owns the FleetSource. */
export class GitSourceError extends Error {
  constructor(
    readonly reason: GitFailureReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'GitSourceError';
  }
  /** Network and auth failures are retried with back-off; the others wait for a spec change too, but back off the same way. */
  get transient(): boolean {
    return this.reason === 'NetworkError';
  }
}

export interface RemoteRevision {
  /** Full ref name that was resolved, e.g. refs/heads/main ("" for a pinned commit). */
  ref: string;
  /** Commit the ref points to (annotated tags peeled). */
  commit: string;
  /** Flux-style human revision: `main@sha1:<commit>`. */
  revision: string;
}

export interface FetchResult extends RemoteRevision {
  /** False when the commit was already in the cache and nothing was downloaded. */
  downloaded: boolean;
}

export interface GitSourceOptions {
  url: string;
  ref?: GitRefSpec;
  /** Root of the cache; each URL and credential identity gets its own bare repository below it. */
  cacheDir: string;
  credentials?: GitCredentials;
  http?: HttpClient;
  /** How much of the repository the controller will hold; default DEFAULT_REPOSITORY_LIMITS. */
  limits?: Partial<RepositoryLimits>;
}


export function formatRevision(ref: string, commit: string): string {
  const short = ref.replace(/^refs\/(heads|tags)\//, '');
  return short ? `${short}@sha1:${commit}` : `sha1:${commit}`;
}

export class GitSource {
  readonly url: string;
  readonly ref: GitRefSpec;
  readonly gitdir: string;
  private readonly credentials: GitCredentials | undefined;
  private readonly http: HttpClient;
  readonly limits: RepositoryLimits;
  /**
   * isomorphic-git's object cache: it holds every pack it opened (the whole pack file and its
   * index) for as long as it lives. Good within one fetch + read; kept across syncs it pins every
   * pack ever fetched, so the reconciler drops it after each run (releaseCache).
   */
  private cache: object = {};

  constructor(opts: GitSourceOptions) {
    this.url = opts.url.replace(/\/+$/, '');
    this.ref = opts.ref ?? {};
    this.credentials = opts.credentials;
    this.limits = { ...DEFAULT_REPOSITORY_LIMITS, ...opts.limits };
    const max = this.limits.maxResponseBytes;
    this.http = limitResponses(
      opts.http ?? nodeHttp,
      max,
      () =>
        new GitSourceError(
          'RepositoryTooLarge',
          `${this.url} sent more than ${mib(max)} for one request (the limit per response, e.g. the pack of the fetched commit): ` +
            'keep the fleet repository to settings (no images or binaries), or point spec.url at a repository that holds only them',
        ),
    );
    this.gitdir = path.join(opts.cacheDir, cacheKey(this.url, opts.credentials));
  }

  /**
   * Asks the server which commit the configured ref points to: exactly one HTTP request
   * (a protocol-v1 ref advertisement), nothing downloaded. A pinned commit needs no request.
   */
  async checkRemote(): Promise<RemoteRevision> {
    if (this.ref.commit) {
      const commit = this.ref.commit.toLowerCase();
      return { ref: '', commit, revision: formatRevision('', commit) };
    }
    const refs = await this.wrap(() =>
      git.listServerRefs({
        http: this.http,
        url: this.url,
        protocolVersion: 1,
        symrefs: true,
        peelTags: true,
        headers: this.authHeaders(),
        onAuth: () => this.gitAuth(),
      }),
    );
    return this.resolveAdvertised(refs);
  }

  /** Makes the commit of the configured ref present in the cache; downloads only when it is not. */
  async fetch(known?: RemoteRevision): Promise<FetchResult> {
    await this.ensureRepo();
    const target = known ?? (await this.checkRemote());
    if (await this.hasCommit(target.commit)) return { ...target, downloaded: false };
    if (this.ref.commit) return this.fetchPinnedCommit(target);

    const res = await this.wrap(() =>
      git.fetch({
        fs,
        http: this.http,
        gitdir: this.gitdir,
        cache: this.cache,
        url: this.url,
        ref: target.ref,
        remoteRef: target.ref,
        singleBranch: true,
        depth: 1,
        tags: false,
        headers: this.authHeaders(),
        onAuth: () => this.gitAuth(),
      }),
    );
    if (!res.fetchHead) {
      throw new GitSourceError('EmptyRepository', `the repository at ${this.url} has no commits yet: push a first commit`);
    }
    // The ref may have moved between the advertisement and the fetch; trust what we received.
    const commit = await this.peelToCommit(res.fetchHead);
    const fetched = { ref: target.ref, commit, revision: formatRevision(target.ref, commit) };
    await this.remember(fetched);
    return { ...fetched, downloaded: true };
  }

  /**
   * Reads the YAML files under `subpath` of a fetched commit straight from the object store (no
   * working tree), with the renderer's loading rules: `*.yaml` / `*.yml` only, hidden names skipped,
   * files over 1 MiB refused, symlinks followed only inside the repository.
   */
  async readSource(commit: string, subpath = ''): Promise<LoadResult> {
    const clean = normaliseSubpath(subpath);
    const { commit: c } = await git.readCommit({ fs, gitdir: this.gitdir, oid: commit, cache: this.cache });
    let treeOid = c.tree;
    if (clean) {
      try {
        const t = await git.readTree({ fs, gitdir: this.gitdir, oid: c.tree, filepath: clean, cache: this.cache });
        treeOid = t.oid;
      } catch (err) {
        throw new GitSourceError(
          'PathNotFound',
          `spec.path "${subpath}" does not exist (or is not a folder) in commit ${commit.slice(0, 12)} of ${this.url}`,
          { cause: err },
        );
      }
    }
    const files: SourceFile[] = [];
    const errors: Diagnostic[] = [];
    const { maxEntries, maxYamlBytes } = this.limits;
    let entries = 0;
    let yamlBytes = 0;
    const where = `${clean ? `spec.path "${clean}" of ` : ''}commit ${commit.slice(0, 12)} of ${this.url}`;
    const refuse = (p: string, message: string): void => {
      errors.push({ severity: 'error', path: p, line: 1, col: 1, message });
    };
    const readBlob = async (oid: string, rel: string): Promise<void> => {
      const { blob } = await git.readBlob({ fs, gitdir: this.gitdir, oid, cache: this.cache });
      if (blob.byteLength > MAX_FILE_BYTES) {
        refuse(rel, `file is ${blob.byteLength} bytes, over the 1 MiB limit for a repository file; split it into several files`);
      } else {
        yamlBytes += blob.byteLength;
        if (yamlBytes > maxYamlBytes) {
          throw new GitSourceError(
            'RepositoryTooLarge',
            `${where} holds more than ${mib(maxYamlBytes)} of YAML (the limit per revision): keep only fleet documents there, or set spec.path to the folder that holds them`,
          );
        }
        files.push({ path: rel, bytes: blob });
      }
    };
    const walkTree = async (oid: string, prefix: string): Promise<void> => {
      const { tree } = await git.readTree({ fs, gitdir: this.gitdir, oid, cache: this.cache });
      entries += tree.length;
      if (entries > maxEntries) {
        throw new GitSourceError(
          'RepositoryTooLarge',
          `${where} holds more than ${maxEntries} files and folders (the limit per revision): keep only fleet documents there, or set spec.path to the folder that holds them`,
        );
      }
      for (const entry of tree) {
        if (entry.path.startsWith('.')) continue;
        const rel = prefix ? `${prefix}/${entry.path}` : entry.path;
        if (entry.type === 'tree') {
          await walkTree(entry.oid, rel);
          continue;
        }
        if (entry.type !== 'blob' || !isYamlName(entry.path)) continue;
        if (entry.mode !== '120000') {
          await readBlob(entry.oid, rel);
          continue;
        }
        // A symlink: its blob is the target path, relative to the link's folder.
        const { blob } = await git.readBlob({ fs, gitdir: this.gitdir, oid: entry.oid, cache: this.cache });
        const target = path.posix.normalize(path.posix.join(path.posix.dirname(clean ? `${clean}/${rel}` : rel), Buffer.from(blob).toString('utf8')));
        if (target.startsWith('..') || path.posix.isAbsolute(target)) {
          refuse(rel, `symlink leads outside the repository; refused`);
          continue;
        }
        try {
          const r = await git.readBlob({ fs, gitdir: this.gitdir, oid: commit, filepath: target, cache: this.cache });
          await readBlob(r.oid, rel);
        } catch {
          refuse(rel, `symlink points at ${JSON.stringify(target)}, which is not a file in this commit`);
        }
      }
    };
    await walkTree(treeOid, '');
    files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    return { files, errors, commit };
  }

  /** Forgets the parsed packs and objects of the last run; the next read reopens what it needs. */
  releaseCache(): void {
    this.cache = {};
  }

  /** The last commit fetched for this URL and ref, from a previous run (cache reuse across restarts). */
  async lastFetched(): Promise<RemoteRevision | undefined> {
    try {
      const raw = JSON.parse(await fs.promises.readFile(this.stateFile(), 'utf8')) as RemoteRevision & { key: string };
      if (raw.key !== this.refKey() || !(await this.hasCommit(raw.commit))) return undefined;
      return { ref: raw.ref, commit: raw.commit, revision: raw.revision };
    } catch {
      return undefined;
    }
  }

  // --- internals -------------------------------------------------------------------------

  private resolveAdvertised(refs: ServerRef[]): RemoteRevision {
    if (refs.length === 0) {
      throw new GitSourceError('EmptyRepository', `the repository at ${this.url} has no branches yet: push a first commit`);
    }
    const byName = new Map(refs.map((r) => [r.ref, r]));
    const branches = refs.filter((r) => r.ref.startsWith('refs/heads/')).map((r) => r.ref.slice(11));
    const head = byName.get('HEAD');
    if (!head || (head.target && !byName.has(head.target))) {
      // isomorphic-git's fetch resolves the remote HEAD even when asked for one branch, so a
      // dangling HEAD breaks every fetch: say so before downloading anything.
      throw new GitSourceError(
        'MissingHead',
        `the repository at ${this.url} has no usable HEAD` +
          (head?.target ? ` (HEAD names ${head.target}, which does not exist)` : ' (HEAD names a branch that does not exist)') +
          `, and the git client osfleet uses cannot fetch from such a repository even with spec.ref set: ` +
          `point the server's HEAD at an existing branch (${branches.length ? `one of: ${branches.join(', ')}; ` : ''}` +
          `git symbolic-ref HEAD refs/heads/<branch> in the bare repository, or create it with git init --bare --initial-branch=<branch>)`,
      );
    }
    let name: string;
    if (this.ref.tag) {
      name = `refs/tags/${this.ref.tag}`;
      if (!byName.has(name)) {
        throw new GitSourceError('RefNotFound', `tag "${this.ref.tag}" does not exist at ${this.url}`);
      }
    } else if (this.ref.branch) {
      name = `refs/heads/${this.ref.branch}`;
      if (!byName.has(name)) {
        throw new GitSourceError(
          'RefNotFound',
          `branch "${this.ref.branch}" does not exist at ${this.url} (branches there: ${branches.join(', ') || 'none'})`,
        );
      }
    } else {
      name = head.target ?? 'HEAD';
    }
    const r = byName.get(name)!;
    const commit = r.peeled ?? r.oid;
    return { ref: name, commit, revision: formatRevision(name, commit) };
  }

  /** A commit that is not at a ref tip: fetch the branch (or HEAD) deeper until it shows up. */
  private async fetchPinnedCommit(target: RemoteRevision): Promise<FetchResult> {
    const remoteRef = this.ref.branch ? `refs/heads/${this.ref.branch}` : 'HEAD';
    for (const depth of [1, 50, 1000]) {
      await this.wrap(() =>
        git.fetch({
          fs,
          http: this.http,
          gitdir: this.gitdir,
          cache: this.cache,
          url: this.url,
          remoteRef,
          singleBranch: true,
          depth,
          tags: false,
          headers: this.authHeaders(),
          onAuth: () => this.gitAuth(),
        }),
      );
      if (await this.hasCommit(target.commit)) {
        await this.remember(target);
        return { ...target, downloaded: true };
      }
    }
    throw new GitSourceError(
      'RefNotFound',
      `commit ${target.commit} is not among the last 1000 commits of ${this.ref.branch ? `branch "${this.ref.branch}"` : 'the default branch'} at ${this.url}` +
        (this.ref.branch ? '' : ': set spec.ref.branch to the branch that contains it'),
    );
  }

  private async ensureRepo(): Promise<void> {
    if (fs.existsSync(path.join(this.gitdir, 'config')) && (await git.getConfig({ fs, gitdir: this.gitdir, path: 'remote.origin.url' }))) return;
    await fs.promises.mkdir(this.gitdir, { recursive: true });
    await git.init({ fs, gitdir: this.gitdir, bare: true, defaultBranch: 'main' });
    // fetch records what it got under refs/remotes/origin/*, which needs a configured remote.
    await git.addRemote({ fs, gitdir: this.gitdir, remote: 'origin', url: this.url, force: true });
  }

  private async hasCommit(oid: string): Promise<boolean> {
    if (!/^[0-9a-f]{40}$/.test(oid)) return false;
    try {
      await git.readCommit({ fs, gitdir: this.gitdir, oid, cache: this.cache });
      return true;
    } catch {
      return false;
    }
  }

  private async peelToCommit(oid: string): Promise<string> {
    let cur = oid;
    for (let i = 0; i < 10; i++) {
      const obj = await git.readObject({ fs, gitdir: this.gitdir, oid: cur, format: 'parsed', cache: this.cache });
      if (obj.type === 'commit') return cur;
      if (obj.type === 'tag') {
        cur = (obj.object as { object: string }).object;
        continue;
      }
      throw new GitSourceError('GitError', `ref points at a ${obj.type}, not a commit`);
    }
    throw new GitSourceError('GitError', `tag chain too long at ${oid}`);
  }

  private refKey(): string {
    return JSON.stringify(this.ref);
  }

  private stateFile(): string {
    return path.join(this.gitdir, 'osfleet-fetched.json');
  }

  private async remember(rev: RemoteRevision): Promise<void> {
    const tmp = `${this.stateFile()}.tmp`;
    await fs.promises.writeFile(tmp, JSON.stringify({ ...rev, key: this.refKey() }));
    await fs.promises.rename(tmp, this.stateFile());
  }

  /** Sent up front so an authenticated poll is still a single request (no 401 challenge round). */
  private authHeaders(): Record<string, string> {
    const c = this.credentials;
    if (!c) return {};
    if (c.bearerToken) return { Authorization: `Bearer ${c.bearerToken}` };
    if (c.username !== undefined || c.password !== undefined) {
      const token = Buffer.from(`${c.username ?? ''}:${c.password ?? ''}`).toString('base64');
      return { Authorization: `Basic ${token}` };
    }
    return {};
  }

  private gitAuth(): GitAuth | void {
    const c = this.credentials;
    if (!c) return { cancel: true };
    if (c.bearerToken) return { headers: { Authorization: `Bearer ${c.bearerToken}` } };
    return { username: c.username ?? '', password: c.password ?? '' };
  }

  private async wrap<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw this.explain(err);
    }
  }

  private explain(err: unknown): Error {
    if (err instanceof GitSourceError) return err;
    const e = err as { code?: string; data?: { statusCode?: number }; message?: string };
    const secret = this.credentials?.secret;
    const secretHint = secret
      ? `check the Secret ${secret.namespace}/${secret.name}`
      : 'the server asks for credentials: set spec.secretRef to a Secret with username/password or bearerToken';
    if (e.code === 'UserCanceledError' || (e.code === 'HttpError' && (e.data?.statusCode === 401 || e.data?.statusCode === 403))) {
      return new GitSourceError('AuthenticationFailed', `authentication failed for ${this.url}: ${secretHint}`, { cause: err });
    }
    if (e.code === 'HttpError' && e.data?.statusCode === 404) {
      return new GitSourceError('RepositoryNotFound', `no git repository at ${this.url} (HTTP 404): check spec.url`, { cause: err });
    }
    if (e.code === 'HttpError') {
      return new GitSourceError('NetworkError', `git server at ${this.url} answered HTTP ${e.data?.statusCode}`, { cause: err });
    }
    if (e.code === 'NotFoundError' && /HEAD/.test(e.message ?? '')) {
      return new GitSourceError(
        'MissingHead',
        `the repository at ${this.url} has no usable HEAD (it names a branch that does not exist): ` +
          `point it at an existing branch with git symbolic-ref HEAD refs/heads/<branch> in the bare repository`,
        { cause: err },
      );
    }
    if (e.code === 'NotFoundError') {
      return new GitSourceError('RefNotFound', `${e.message} (at ${this.url})`, { cause: err });
    }
    const sys = err as NodeJS.ErrnoException;
    if (sys.code && /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|EPIPE)$/.test(sys.code)) {
      return new GitSourceError('NetworkError', `cannot reach ${this.url}: ${sys.code}`, { cause: err });
    }
    return new GitSourceError('GitError', `git fetch from ${this.url} failed: ${e.message ?? String(err)}`, { cause: err });
  }
}

/**
 * The cache directory of a URL as seen with some credentials. What one identity fetched is never
 * served to another: a FleetSource without credentials (or with other ones) pinning a commit of a
 * private repository must ask the server, not find it in another FleetSource's cache. The identity
 * is the Secret (which lends itself only to the FleetSources it names), or none.
 */
export function cacheKey(url: string, credentials: GitCredentials | undefined): string {
  const identity = credentials ? `secret:${credentials.secret.namespace}/${credentials.secret.name}` : 'anonymous';
  return createHash('sha256').update(`${url}\n${identity}`).digest('hex').slice(0, 24);
}

function normaliseSubpath(p: string): string {
  const parts = p.split('/').filter((s) => s && s !== '.');
  if (parts.some((s) => s === '..')) {
    throw new GitSourceError('PathNotFound', `spec.path "${p}" may not contain "..": it is relative to the repository root`);
  }
  return parts.join('/');
}
