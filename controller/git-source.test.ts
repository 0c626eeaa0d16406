import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GitSource, GitSourceError } from './git-source.js';
import { startGitServer, WorkRepo, type LocalGitServer } from './testing/git-http-server.js';

let server: LocalGitServer;
let cacheDir: string;
const work: WorkRepo[] = [];

beforeAll(async () => {
  server = await startGitServer();
  cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'osfleet-cache-'));
});
afterAll(async () => {
  await server.close();
  for (const w of work) w.cleanup();
  fs.rmSync(cacheDir, { recursive: true, force: true });
});

function repo(name: string): { url: string; w: WorkRepo; bare: string } {
  const url = server.createRepo(name);
  const bare = path.join(server.root, name);
  const w = new WorkRepo(bare);
  work.push(w);
  return { url, w, bare };
}

describe('GitSource', () => {
  it('fetches a branch shallowly and reads the files under spec.path without a checkout', async () => {
    const { url, w } = repo('a.git');
    w.write('fleet/os.yaml', 'kind: OSVersion\n').write('fleet/sub/n.yaml', 'kind: NodeSettings\n').write('README.md', 'hi');
    const c1 = w.commitAndPush('first');
    const src = new GitSource({ url, ref: { branch: 'main' }, cacheDir });
    const r = await src.fetch();
    expect(r).toMatchObject({ commit: c1, ref: 'refs/heads/main', revision: `main@sha1:${c1}`, downloaded: true });
    const loaded = await src.readSource(r.commit, 'fleet');
    expect(loaded.errors).toEqual([]);
    expect(loaded.commit).toBe(c1);
    expect(loaded.files.map((f) => [f.path, Buffer.from(f.bytes).toString()])).toEqual([
      ['os.yaml', 'kind: OSVersion\n'],
      ['sub/n.yaml', 'kind: NodeSettings\n'],
    ]);
    // shallow: only one commit is present
    w.write('fleet/os.yaml', 'kind: OSVersion\n# 2\n');
    const c2 = w.commitAndPush('second');
    const r2 = await src.fetch();
    expect(r2.commit).toBe(c2);
    expect(fs.readFileSync(path.join(src.gitdir, 'shallow'), 'utf8')).toContain(c2);
  });

  it('checks an unchanged remote with exactly one HTTP request and downloads nothing', async () => {
    const { url, w } = repo('b.git');
    w.write('x.yaml', 'a: 1\n').commitAndPush('one');
    const src = new GitSource({ url, ref: { branch: 'main' }, cacheDir });
    await src.fetch();
    const before = server.requests.length;
    const remote = await src.checkRemote();
    const res = await src.fetch(remote);
    expect(res.downloaded).toBe(false);
    expect(server.requests.slice(before)).toEqual(['GET /b.git/info/refs?service=git-upload-pack']);
  });

  it('reuses the cache across restarts (a new GitSource on the same cache dir downloads nothing)', async () => {
    const { url, w } = repo('c.git');
    const c1 = w.write('x.yaml', 'a: 1\n').commitAndPush('one');
    await new GitSource({ url, ref: { branch: 'main' }, cacheDir }).fetch();
    const again = new GitSource({ url, ref: { branch: 'main' }, cacheDir });
    expect((await again.lastFetched())?.commit).toBe(c1);
    const before = server.requests.length;
    const res = await again.fetch();
    expect(res.downloaded).toBe(false);
    expect(server.requests.length - before).toBe(1);
  });

  it('resolves annotated tags to their commit and pinned commits', async () => {
    const { url, w } = repo('d.git');
    const c1 = w.write('x.yaml', 'v: 1\n').commitAndPush('one');
    w.git('tag', '-a', 'v1', '-m', 'release 1');
    w.git('push', '--quiet', 'origin', 'v1');
    const c2 = w.write('x.yaml', 'v: 2\n').commitAndPush('two');
    const tagged = await new GitSource({ url, ref: { tag: 'v1' }, cacheDir: fs.mkdtempSync(path.join(cacheDir, 't')) }).fetch();
    expect(tagged.commit).toBe(c1);
    expect(tagged.revision).toBe(`v1@sha1:${c1}`);

    const pinnedDir = fs.mkdtempSync(path.join(cacheDir, 'p'));
    const pinned = new GitSource({ url, ref: { commit: c1 }, cacheDir: pinnedDir });
    const p = await pinned.fetch();
    expect(p.commit).toBe(c1);
    expect(Buffer.from((await pinned.readSource(c1)).files[0]!.bytes).toString()).toBe('v: 1\n');
    const tip = new GitSource({ url, ref: { commit: c2 }, cacheDir: pinnedDir });
    expect((await tip.fetch()).commit).toBe(c2);
  });

  it('says which branches exist when the branch is wrong', async () => {
    const { url, w } = repo('e.git');
    w.write('x.yaml', 'a: 1\n').commitAndPush('one');
    const err = await new GitSource({ url, ref: { branch: 'nope' }, cacheDir }).fetch().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GitSourceError);
    expect((err as GitSourceError).reason).toBe('RefNotFound');
    expect((err as Error).message).toBe(`branch "nope" does not exist at ${url} (branches there: main)`);
  });

  it('explains a HEAD that names a missing branch (the master-vs-main pitfall)', async () => {
    const { url, w, bare } = repo('f.git');
    w.write('x.yaml', 'a: 1\n').commitAndPush('one');
    execFileSync('git', ['-C', bare, 'symbolic-ref', 'HEAD', 'refs/heads/master']);
    const err = (await new GitSource({ url, cacheDir }).fetch().catch((e: unknown) => e)) as GitSourceError;
    expect(err.reason).toBe('MissingHead');
    expect(err.message).toContain('HEAD names a branch that does not exist');
    expect(err.message).toContain('one of: main');
    // naming the branch does not help isomorphic-git, so the same explanation comes back
    const withBranch = (await new GitSource({ url, ref: { branch: 'main' }, cacheDir }).fetch().catch((e: unknown) => e)) as GitSourceError;
    expect(withBranch.reason).toBe('MissingHead');
    // fixing the server's HEAD fixes the fetch
    execFileSync('git', ['-C', bare, 'symbolic-ref', 'HEAD', 'refs/heads/main']);
    expect((await new GitSource({ url, ref: { branch: 'main' }, cacheDir }).fetch()).downloaded).toBe(true);
  });

  it('follows symlinks inside the repository and refuses ones that leave it', async () => {
    const { url, w } = repo('i.git');
    w.write('shared/base.yaml', 'kind: OSVersion\n').write('.hidden/x.yaml', 'x: 1\n').write('fleet/notes.txt', 'not yaml');
    fs.symlinkSync('../shared/base.yaml', path.join(w.dir, 'fleet', 'base.yaml'));
    fs.symlinkSync('../../../etc/passwd.yaml', path.join(w.dir, 'fleet', 'evil.yaml'));
    w.commitAndPush('links');
    const src = new GitSource({ url, ref: { branch: 'main' }, cacheDir });
    const r = await src.fetch();
    const loaded = await src.readSource(r.commit, 'fleet');
    expect(loaded.files.map((f) => [f.path, Buffer.from(f.bytes).toString()])).toEqual([['base.yaml', 'kind: OSVersion\n']]);
    expect(loaded.errors.map((e) => `${e.path}: ${e.message}`)).toEqual(['evil.yaml: symlink leads outside the repository; refused']);
  });

  it('says spec.path is missing rather than returning nothing', async () => {
    const { url, w } = repo('g.git');
    w.write('x.yaml', 'a: 1\n').commitAndPush('one');
    const src = new GitSource({ url, ref: { branch: 'main' }, cacheDir });
    const r = await src.fetch();
    await expect(src.readSource(r.commit, 'clusters/prod')).rejects.toThrow(/spec.path "clusters\/prod" does not exist/);
  });

  it('turns a 401 into a message naming the Secret, and sends credentials without a challenge round', async () => {
    const { url, w } = repo('h.git');
    w.write('x.yaml', 'a: 1\n').commitAndPush('one');
    server.setCredentials({ username: 'fleet', password: 's3cret' });
    try {
      const bad = new GitSource({
        url,
        ref: { branch: 'main' },
        cacheDir,
        credentials: { username: 'fleet', password: 'wrong', secret: { namespace: 'osfleet-system', name: 'git-creds' } },
      });
      const err = (await bad.fetch().catch((e: unknown) => e)) as GitSourceError;
      expect(err.reason).toBe('AuthenticationFailed');
      expect(err.message).toBe(`authentication failed for ${url}: check the Secret osfleet-system/git-creds`);

      const none = (await new GitSource({ url, ref: { branch: 'main' }, cacheDir }).fetch().catch((e: unknown) => e)) as GitSourceError;
      expect(none.reason).toBe('AuthenticationFailed');
      expect(none.message).toContain('set spec.secretRef');

      const good = new GitSource({
        url,
        ref: { branch: 'main' },
        cacheDir,
        credentials: { username: 'fleet', password: 's3cret', secret: { namespace: 'osfleet-system', name: 'git-creds' } },
      });
      await good.fetch();
      const before = server.requests.length;
      await good.checkRemote();
      expect(server.requests.length - before).toBe(1);
    } finally {
      server.setCredentials(undefined);
    }
  });

  it('never serves a private repository from the cache to a source without its credentials (pinned commit)', async () => {
    const { url, w } = repo('private.git');
    const secretCommit = w.write('x.yaml', 'secret: team-a\n').commitAndPush('private');
    server.setCredentials({ username: 'team-a', password: 'pw-a' });
    try {
      const owner = new GitSource({
        url,
        ref: { branch: 'main' },
        cacheDir,
        credentials: { username: 'team-a', password: 'pw-a', secret: { namespace: 'osfleet-system', name: 'team-a-git' } },
      });
      await owner.fetch();
      expect(await owner.readSource(secretCommit)).toMatchObject({ commit: secretCommit });

      // Same URL, the commit pinned, no credentials or other ones: the server must be asked, and refuses.
      const others = [
        new GitSource({ url, ref: { commit: secretCommit }, cacheDir }),
        new GitSource({
          url: `${url}/`,
          ref: { commit: secretCommit },
          cacheDir,
          credentials: { username: 'team-b', password: 'pw-b', secret: { namespace: 'osfleet-system', name: 'team-b-git' } },
        }),
      ];
      for (const other of others) {
        const before = server.requests.length;
        const err = (await other.fetch().catch((e: unknown) => e)) as GitSourceError;
        expect(err).toBeInstanceOf(GitSourceError);
        expect(err.reason).toBe('AuthenticationFailed');
        expect(server.requests.length).toBeGreaterThan(before);
        await expect(other.readSource(secretCommit)).rejects.toThrow();
      }
    } finally {
      server.setCredentials(undefined);
    }
  });

  it('stops a download over the per-response limit, and refuses revisions with too many entries or too much YAML', async () => {
    const { url, w } = repo('large.git');
    // Incompressible bytes, so the pack is as large as the file.
    w.write('blob.bin', randomBytes(3 * 1024 * 1024).toString('base64')).write('a.yaml', 'a: 1\n').commitAndPush('large');
    const capped = new GitSource({ url, ref: { branch: 'main' }, cacheDir, limits: { maxResponseBytes: 1024 * 1024 } });
    const err = (await capped.fetch().catch((e: unknown) => e)) as GitSourceError;
    expect(err).toBeInstanceOf(GitSourceError);
    expect(err.reason).toBe('RepositoryTooLarge');
    expect(err.message).toContain('sent more than 1 MiB for one request');

    const { url: url2, w: w2 } = repo('many.git');
    for (let i = 0; i < 30; i++) w2.write(`docs/f${i}.yaml`, `i: ${i}\n`);
    const c = w2.commitAndPush('many');
    const few = new GitSource({ url: url2, ref: { branch: 'main' }, cacheDir, limits: { maxEntries: 20 } });
    await few.fetch();
    await expect(few.readSource(c)).rejects.toMatchObject({ reason: 'RepositoryTooLarge', message: expect.stringContaining('more than 20 files and folders') });
    const small = new GitSource({ url: url2, ref: { branch: 'main' }, cacheDir, limits: { maxYamlBytes: 100 } });
    await expect(small.readSource(c)).rejects.toMatchObject({ reason: 'RepositoryTooLarge', message: expect.stringContaining('more than 100 bytes of YAML') });
    // Within the limits the same revision reads fine.
    expect((await new GitSource({ url: url2, ref: { branch: 'main' }, cacheDir }).readSource(c)).files).toHaveLength(30);
  });

  it('reports an unreachable server as a network error', async () => {
    const err = (await new GitSource({ url: 'http://127.0.0.1:1/x.git', cacheDir }).checkRemote().catch((e: unknown) => e)) as GitSourceError;
    expect(err.reason).toBe('NetworkError');
    expect(err.transient).toBe(true);
  });
});
