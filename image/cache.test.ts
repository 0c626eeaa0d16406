import { chmod, mkdtemp, mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cached, inputsKey } from './cache.js';
import { treeDigest } from './slot.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});
const tmp = async () => {
  const d = await mkdtemp(path.join(tmpdir(), 'osfleet-cache-test-'));
  dirs.push(d);
  return d;
};

describe('build cache', () => {
  it('keys by every input, in key order, telling strings, numbers and buffers apart', () => {
    expect(inputsKey({ a: 1, b: 'x' })).toBe(inputsKey({ b: 'x', a: 1 }));
    expect(inputsKey({ a: 1 })).not.toBe(inputsKey({ a: '1' }));
    expect(inputsKey(['ab', 'c'])).not.toBe(inputsKey(['a', 'bc']));
    expect(inputsKey({ f: Buffer.from('x') })).not.toBe(inputsKey({ f: 'x' }));
  });

  it('builds once, then serves the finished result; a failed step leaves nothing that looks done', async () => {
    const dir = await tmp();
    let builds = 0;
    const make = async (out: string) => {
      builds++;
      await writeFile(out, 'result');
    };
    const first = await cached(dir, 'step', 'k1', 'out.txt', make);
    const second = await cached(dir, 'step', 'k1', 'out.txt', make);
    expect([first.hit, second.hit, builds]).toEqual([false, true, 1]);
    expect(await readFile(second.path, 'utf8')).toBe('result');
    await expect(
      cached(dir, 'step', 'k2', 'out.txt', async (out) => {
        await writeFile(out, 'half');
        throw new Error('power cut');
      }),
    ).rejects.toThrow('power cut');
    const retry = await cached(dir, 'step', 'k2', 'out.txt', make);
    expect(retry.hit).toBe(false);
  });

  it('a tree digest changes with content, mode, names and link targets', async () => {
    const d = await tmp();
    await mkdir(path.join(d, 'sub'));
    await writeFile(path.join(d, 'sub/a'), 'one');
    await symlink('sub/a', path.join(d, 'link'));
    const base = await treeDigest(d);
    expect(await treeDigest(d)).toBe(base);
    await writeFile(path.join(d, 'sub/a'), 'two');
    const content = await treeDigest(d);
    expect(content).not.toBe(base);
    await chmod(path.join(d, 'sub/a'), 0o755);
    const mode = await treeDigest(d);
    expect(mode).not.toBe(content);
    await rm(path.join(d, 'link'));
    await symlink('sub', path.join(d, 'link'));
    expect(await treeDigest(d)).not.toBe(mode);
  });
});
