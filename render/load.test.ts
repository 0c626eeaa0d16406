// Loading a repository from a directory and from a git commit: which files are read, which are refused.
import * as fs from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import git from 'isomorphic-git';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatDiagnostic } from './diagnostics.js';
import { loadDirectory, loadGitCommit, resolveCommit, RevisionError } from './load.js';

let root: string;
let outside: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'osfleet-load-'));
  outside = await mkdtemp(join(tmpdir(), 'osfleet-outside-'));
  await writeFile(join(outside, 'secret.yaml'), 'kind: OSVersion\n');
  await mkdir(join(root, 'sub/deeper'), { recursive: true });
  await mkdir(join(root, '.github'), { recursive: true });
  await writeFile(join(root, 'a.yaml'), 'a: 1\n');
  await writeFile(join(root, 'sub/b.yml'), 'b: 1\n');
  await writeFile(join(root, 'sub/deeper/c.yaml'), 'c: 1\n');
  await writeFile(join(root, '.github/ci.yaml'), 'hidden: true\n');
  await writeFile(join(root, '.hidden.yaml'), 'hidden: true\n');
  await writeFile(join(root, 'notes.txt'), 'not yaml\n');
  await writeFile(join(root, 'big.yaml'), `# ${'x'.repeat(1024 * 1024)}\n`);
  await symlink(join(outside, 'secret.yaml'), join(root, 'escape.yaml'));
  await symlink(outside, join(root, 'escape-dir'));
  await symlink('a.yaml', join(root, 'alias.yaml'));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
  await rm(outside, { recursive: true, force: true });
});

describe('loadDirectory', () => {
  it('reads *.yaml and *.yml in any folder, skipping hidden files and folders and other extensions', async () => {
    const r = await loadDirectory(root);
    expect(r.files.map((f) => f.path)).toEqual(['a.yaml', 'alias.yaml', 'sub/b.yml', 'sub/deeper/c.yaml']);
  });

  it('refuses a file over 1 MiB and symlinks leaving the repository, one error each', async () => {
    const r = await loadDirectory(root);
    expect(r.errors.map(formatDiagnostic)).toEqual([
      'big.yaml:1:1: error: file is 1048579 bytes, over the 1 MiB limit for a repository file; split it into several files',
      `escape-dir:1:1: error: symlink points outside the repository (to ${JSON.stringify(fs.realpathSync(outside))}); refused — copy the file into the repository instead`,
      `escape.yaml:1:1: error: symlink points outside the repository (to ${JSON.stringify(fs.realpathSync(join(outside, 'secret.yaml')))}); refused — copy the file into the repository instead`,
    ]);
  });

  it('reads a subfolder with paths relative to it', async () => {
    const r = await loadDirectory(root, 'sub');
    expect(r.files.map((f) => f.path)).toEqual(['b.yml', 'deeper/c.yaml']);
  });

  it('reports a missing directory instead of throwing', async () => {
    const r = await loadDirectory(join(root, 'nope'));
    expect(r.files).toEqual([]);
    expect(r.errors[0]?.message).toMatch(/does not exist/);
  });
});

describe('loadGitCommit', () => {
  let repo: string;
  let first: string;
  const author = { name: 'test', email: 'test@example.com', timestamp: 1_700_000_000, timezoneOffset: 0 };

  beforeAll(async () => {
    repo = await mkdtemp(join(tmpdir(), 'osfleet-git-'));
    await git.init({ fs, dir: repo, defaultBranch: 'main' });
    await mkdir(join(repo, 'fleet/.hidden'), { recursive: true });
    await writeFile(join(repo, 'fleet/one.yaml'), 'one: 1\n');
    await writeFile(join(repo, 'fleet/.hidden/x.yaml'), 'x: 1\n');
    await writeFile(join(repo, 'README.md'), '# repo\n');
    await symlink('../../etc/passwd', join(repo, 'fleet/escape.yaml'));
    await symlink('one.yaml', join(repo, 'fleet/alias.yaml'));
    for (const f of ['fleet/one.yaml', 'fleet/.hidden/x.yaml', 'README.md', 'fleet/escape.yaml', 'fleet/alias.yaml']) await git.add({ fs, dir: repo, filepath: f });
    first = await git.commit({ fs, dir: repo, message: 'first', author });
    await writeFile(join(repo, 'fleet/one.yaml'), 'one: 2\n');
    await writeFile(join(repo, 'fleet/two.yml'), 'two: 2\n');
    await git.add({ fs, dir: repo, filepath: 'fleet/one.yaml' });
    await git.add({ fs, dir: repo, filepath: 'fleet/two.yml' });
    await git.commit({ fs, dir: repo, message: 'second', author });
    await git.tag({ fs, dir: repo, ref: 'v1', object: first });
  });

  afterAll(async () => {
    await rm(repo, { recursive: true, force: true });
  });

  it('reads the files of a commit without looking at the working tree', async () => {
    await writeFile(join(repo, 'fleet/uncommitted.yaml'), 'u: 1\n');
    const r = await loadGitCommit({ dir: repo, ref: 'HEAD', path: 'fleet' });
    expect(r.files.map((f) => [f.path, new TextDecoder().decode(f.bytes)])).toEqual([
      ['alias.yaml', 'one: 2\n'],
      ['one.yaml', 'one: 2\n'],
      ['two.yml', 'two: 2\n'],
    ]);
    expect(r.errors.map(formatDiagnostic)).toEqual([
      'escape.yaml:1:1: error: symlink points outside the repository (to "../../etc/passwd"); refused — copy the file into the repository instead',
    ]);
  });

  it('resolves HEAD~1, tags, branches and abbreviated commit ids to the same commit', async () => {
    for (const ref of ['HEAD~1', 'HEAD^', 'v1', first.slice(0, 7), first]) {
      expect(await resolveCommit({ dir: repo, ref })).toBe(first);
    }
    const r = await loadGitCommit({ dir: repo, ref: 'main~1', path: 'fleet' });
    expect(r.commit).toBe(first);
    expect(r.files.map((f) => f.path)).toEqual(['alias.yaml', 'one.yaml']);
  });

  it('rejects an unknown revision with a RevisionError', async () => {
    await expect(resolveCommit({ dir: repo, ref: 'no-such-branch' })).rejects.toBeInstanceOf(RevisionError);
    await expect(resolveCommit({ dir: repo, ref: 'HEAD~5' })).rejects.toBeInstanceOf(RevisionError);
  });
});
