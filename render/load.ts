// Loading a repository (I/O edge): a working directory or a commit of a local git clone → YAML files as bytes.
//
// Rules shared by both sources: only `*.yaml` / `*.yml`; hidden files and folders (a name starting with `.`)
// are ignored; a file over 1 MiB is refused without being read into the parser; a symlink pointing
// outside the repository is refused. UTF-8 is checked by the parser (render/parse.ts), which is pure.
import { promises as fsp } from 'node:fs';
import * as nodeFs from 'node:fs';
import * as path from 'node:path';
import type { Diagnostic } from './diagnostics.js';

/** One YAML file of the repository. `path` is relative to the rendered folder, `/`-separated. */
export interface SourceFile {
  path: string;
  bytes: Uint8Array;
}

export interface LoadResult {
  files: SourceFile[];
  /** File-level refusals (too large, symlink escaping the repository, unreadable). */
  errors: Diagnostic[];
  /** The commit a git source resolved to (40 hex), absent for a working directory. */
  commit?: string;
}

export const MAX_FILE_BYTES = 1024 * 1024;
const MAX_SYMLINK_HOPS = 32;

export function isYamlName(name: string): boolean {
  return name.endsWith('.yaml') || name.endsWith('.yml');
}

function isHidden(name: string): boolean {
  return name.startsWith('.');
}

function fileError(p: string, message: string): Diagnostic {
  return { severity: 'error', path: p, line: 1, col: 1, message };
}

function tooLarge(p: string, size: number): Diagnostic {
  return fileError(
    p,
    `file is ${size} bytes, over the 1 MiB limit for a repository file; split it into several files`,
  );
}

function byPath(a: SourceFile, b: SourceFile): number {
  return a.path < b.path ? -1 : a.path > b.path ? 1 : 0;
}

function isInside(root: string, target: string): boolean {
  const rel = path.relative(root, target);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/**
 * Read every YAML file under `dir` (or under `dir/subPath`). The repository boundary for symlinks is `dir`.
 * Never throws for problems with the repository's content; a missing `dir` is reported as an error.
 */
export async function loadDirectory(dir: string, subPath = ''): Promise<LoadResult> {
  const files: SourceFile[] = [];
  const errors: Diagnostic[] = [];
  let repoRoot: string;
  try {
    repoRoot = await fsp.realpath(dir);
  } catch {
    return { files, errors: [fileError('.', `cannot read the repository directory ${JSON.stringify(dir)}: it does not exist or is not readable`)] };
  }
  const start = path.resolve(repoRoot, subPath || '.');
  if (!isInside(repoRoot, start)) {
    return { files, errors: [fileError(subPath, `path ${JSON.stringify(subPath)} is outside the repository`)] };
  }
  let startReal: string;
  try {
    startReal = await fsp.realpath(start);
  } catch {
    return { files, errors: [fileError(subPath, `path ${JSON.stringify(subPath)} does not exist in the repository`)] };
  }
  if (!isInside(repoRoot, startReal)) {
    return { files, errors: [fileError(subPath, `path ${JSON.stringify(subPath)} is a symlink leading outside the repository; refused`)] };
  }
  const visitedDirs = new Set<string>();

  // `rel` is the path shown to the user (relative to `start`), `abs` the path on disk.
  async function walk(abs: string, rel: string): Promise<void> {
    const real = await fsp.realpath(abs);
    if (visitedDirs.has(real)) return; // a symlink loop inside the repository: read each folder once
    visitedDirs.add(real);
    const entries = await fsp.readdir(abs, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      if (isHidden(e.name)) continue;
      const childAbs = path.join(abs, e.name);
      const childRel = rel ? `${rel}/${e.name}` : e.name;
      try {
        let isDir = e.isDirectory();
        let isFile = e.isFile();
        let readFrom = childAbs;
        if (e.isSymbolicLink()) {
          let target: string;
          try {
            target = await fsp.realpath(childAbs);
          } catch {
            if (isYamlName(e.name)) errors.push(fileError(childRel, 'symlink points to nothing (dangling); remove it or fix its target'));
            continue;
          }
          if (!isInside(repoRoot, target)) {
            if (isYamlName(e.name) || (await fsp.stat(target).then((s) => s.isDirectory(), () => false))) {
              errors.push(fileError(childRel, `symlink points outside the repository (to ${JSON.stringify(target)}); refused — copy the file into the repository instead`));
            }
            continue;
          }
          const st = await fsp.stat(target);
          isDir = st.isDirectory();
          isFile = st.isFile();
          readFrom = target;
        }
        if (isDir) {
          await walk(childAbs, childRel);
        } else if (isFile && isYamlName(e.name)) {
          const st = await fsp.stat(readFrom);
          if (st.size > MAX_FILE_BYTES) {
            errors.push(tooLarge(childRel, st.size));
            continue;
          }
          const bytes = await fsp.readFile(readFrom);
          if (bytes.length > MAX_FILE_BYTES) {
            errors.push(tooLarge(childRel, bytes.length));
            continue;
          }
          files.push({ path: childRel, bytes: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length) });
        }
      } catch (err) {
        errors.push(fileError(childRel, `cannot read: ${(err as Error).message}`));
      }
    }
  }

  try {
    const st = await fsp.stat(startReal);
    if (st.isFile()) {
      // A single file given as the repository: allowed, convenient for `osfleet validate file.yaml`.
      const name = path.basename(start);
      if (st.size > MAX_FILE_BYTES) errors.push(tooLarge(name, st.size));
      else files.push({ path: name, bytes: new Uint8Array(await fsp.readFile(startReal)) });
    } else {
      await walk(start, '');
    }
  } catch (err) {
    errors.push(fileError(subPath || '.', `cannot read the repository: ${(err as Error).message}`));
  }
  files.sort(byPath);
  return { files, errors };
}

/** What `loadGitCommit` needs to find a commit in a local clone. */
export interface GitLocation {
  /** Working tree of the clone (or any folder inside it when `gitdir` is given). */
  dir: string;
  /** `.git` folder; defaults to `<dir>/.git`. */
  gitdir?: string;
  /** A branch, tag, remote branch, full or abbreviated commit id, `HEAD`, optionally followed by `~N` / `^`. */
  ref: string;
  /** Folder inside the repository to render (`examples/gitrepo`); default the whole tree. */
  path?: string;
  /** An `fs` implementation for isomorphic-git (default: node:fs). */
  fs?: unknown;
}

interface GitApi {
  resolveRef(a: object): Promise<string>;
  expandOid(a: object): Promise<string>;
  readObject(a: object): Promise<{ type: string; object: unknown; oid: string }>;
  readTree(a: object): Promise<{ oid: string; tree: Array<{ mode: string; path: string; oid: string; type: string }> }>;
  readBlob(a: object): Promise<{ oid: string; blob: Uint8Array }>;
  readCommit(a: object): Promise<{ oid: string; commit: { parent: string[]; tree: string } }>;
}

async function gitApi(): Promise<GitApi> {
  // Lazy: isomorphic-git is only needed by `diff` and the controller, not by `validate`.
  const mod = (await import('isomorphic-git')) as unknown as { default?: GitApi } & GitApi;
  return mod.default ?? mod;
}

/** A revision expression that does not resolve, reported to the user as a usage problem. */
export class RevisionError extends Error {}

/** Resolve `ref` (with optional `~N` / `^` suffixes) to a commit id in a local clone. */
export async function resolveCommit(loc: Omit<GitLocation, 'path'>): Promise<string> {
  const git = await gitApi();
  const fs = loc.fs ?? nodeFs;
  const base = { fs, dir: loc.dir, ...(loc.gitdir ? { gitdir: loc.gitdir } : {}) };
  const m = /^(.*?)((?:~\d*|\^\d*)*)$/.exec(loc.ref.trim());
  const name = m?.[1] ?? loc.ref;
  const suffix = m?.[2] ?? '';
  if (!name) throw new RevisionError(`revision ${JSON.stringify(loc.ref)} is empty`);
  let oid: string | undefined;
  try {
    oid = await git.resolveRef({ ...base, ref: name });
  } catch {
    if (/^[0-9a-f]{4,40}$/i.test(name)) {
      try {
        oid = await git.expandOid({ ...base, oid: name.toLowerCase() });
      } catch {
        oid = undefined;
      }
    }
  }
  if (!oid) throw new RevisionError(`revision ${JSON.stringify(name)} not found in ${loc.dir} (try a branch, tag or commit id)`);
  // Peel annotated tags to their commit.
  for (let i = 0; i < 8; i++) {
    const obj = await git.readObject({ ...base, oid, format: 'parsed' });
    if (obj.type === 'tag') {
      oid = (obj.object as { object: string }).object;
      continue;
    }
    if (obj.type !== 'commit') throw new RevisionError(`revision ${JSON.stringify(name)} is a ${obj.type}, not a commit`);
    break;
  }
  for (const step of suffix.match(/~\d*|\^\d*/g) ?? []) {
    const n = step.length > 1 ? Number(step.slice(1)) : 1;
    if (step.startsWith('~')) {
      for (let i = 0; i < n; i++) {
        const { commit } = await git.readCommit({ ...base, oid });
        const parent = commit.parent[0];
        if (!parent) throw new RevisionError(`revision ${JSON.stringify(loc.ref)} goes past the first commit`);
        oid = parent;
      }
    } else if (n > 0) {
      const { commit } = await git.readCommit({ ...base, oid });
      const parent = commit.parent[n - 1];
      if (!parent) throw new RevisionError(`revision ${JSON.stringify(loc.ref)}: commit has no parent number ${n}`);
      oid = parent;
    }
  }
  return oid;
}

function normalizePosix(p: string): string | undefined {
  const out: string[] = [];
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (out.length === 0) return undefined;
      out.pop();
    } else out.push(seg);
  }
  return out.join('/');
}

/**
 * Read every YAML file of one commit of a local clone, without touching the working tree.
 * Symlinks in the tree are followed when they stay inside the repository.
 */
export async function loadGitCommit(loc: GitLocation): Promise<LoadResult> {
  const git = await gitApi();
  const fs = loc.fs ?? nodeFs;
  const base = { fs, dir: loc.dir, ...(loc.gitdir ? { gitdir: loc.gitdir } : {}) };
  const commit = await resolveCommit(loc);
  const files: SourceFile[] = [];
  const errors: Diagnostic[] = [];
  const prefix = normalizePosix(loc.path ?? '');
  if (prefix === undefined) {
    return { files, errors: [fileError(loc.path ?? '', `path ${JSON.stringify(loc.path)} is outside the repository`)], commit };
  }
  const treeCache = new Map<string, Array<{ mode: string; path: string; oid: string; type: string }> | null>();

  async function treeAt(dirPath: string): Promise<Array<{ mode: string; path: string; oid: string; type: string }> | null> {
    if (treeCache.has(dirPath)) return treeCache.get(dirPath) ?? null;
    let entries: Array<{ mode: string; path: string; oid: string; type: string }> | null;
    try {
      entries = (await git.readTree({ ...base, oid: commit, ...(dirPath ? { filepath: dirPath } : {}) })).tree;
    } catch {
      entries = null;
    }
    treeCache.set(dirPath, entries);
    return entries;
  }

  /** Find the entry at a repository path (following directory structure, not symlinks). */
  async function entryAt(p: string): Promise<{ mode: string; oid: string; type: string } | null> {
    if (p === '') return { mode: '040000', oid: '', type: 'tree' };
    const slash = p.lastIndexOf('/');
    const parent = slash < 0 ? '' : p.slice(0, slash);
    const name = p.slice(slash + 1);
    const tree = await treeAt(parent);
    return tree?.find((e) => e.path === name) ?? null;
  }

  const visited = new Set<string>();
  // `repoPath` is the path in the commit; `shown` the path relative to the rendered folder.
  async function walk(repoPath: string, shown: string): Promise<void> {
    if (visited.has(repoPath)) return;
    visited.add(repoPath);
    const tree = await treeAt(repoPath);
    if (!tree) return;
    const sorted = [...tree].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    for (const e of sorted) {
      if (isHidden(e.path)) continue;
      const childRepo = repoPath ? `${repoPath}/${e.path}` : e.path;
      const childShown = shown ? `${shown}/${e.path}` : e.path;
      await visit(e, childRepo, childShown, 0);
    }
  }

  async function visit(e: { mode: string; oid: string; type: string; path?: string }, repoPath: string, shown: string, hops: number): Promise<void> {
    const name = shown.slice(shown.lastIndexOf('/') + 1);
    if (e.type === 'tree') return walk(repoPath, shown);
    if (e.type !== 'blob') return; // submodules
    if (e.mode === '120000') {
      const { blob } = await git.readBlob({ ...base, oid: e.oid });
      const target = new TextDecoder().decode(blob);
      const dirOf = repoPath.includes('/') ? repoPath.slice(0, repoPath.lastIndexOf('/')) : '';
      const resolved = target.startsWith('/') ? undefined : normalizePosix(`${dirOf}/${target}`);
      if (resolved === undefined) {
        if (isYamlName(name)) errors.push(fileError(shown, `symlink points outside the repository (to ${JSON.stringify(target)}); refused — copy the file into the repository instead`));
        return;
      }
      if (hops >= MAX_SYMLINK_HOPS) {
        errors.push(fileError(shown, 'symlink chain too long (a loop?); refused'));
        return;
      }
      const te = await entryAt(resolved);
      if (!te) {
        if (isYamlName(name)) errors.push(fileError(shown, 'symlink points to nothing (dangling); remove it or fix its target'));
        return;
      }
      if (te.type === 'tree') return walk(resolved, shown);
      if (!isYamlName(name)) return;
      return visit(te, resolved, shown, hops + 1);
    }
    if (!isYamlName(name)) return;
    const { blob } = await git.readBlob({ ...base, oid: e.oid });
    if (blob.length > MAX_FILE_BYTES) {
      errors.push(tooLarge(shown, blob.length));
      return;
    }
    files.push({ path: shown, bytes: blob });
  }

  const startEntry = await entryAt(prefix);
  if (!startEntry) {
    errors.push(fileError(prefix, `path ${JSON.stringify(prefix)} does not exist in commit ${commit.slice(0, 12)}`));
  } else if (startEntry.type === 'tree') {
    await walk(prefix, '');
  } else {
    await visit(startEntry, prefix, prefix.slice(prefix.lastIndexOf('/') + 1), 0);
  }
  files.sort(byPath);
  return { files, errors, commit };
}
