// What ships is what is tested: the images run Node 24 (deploy/images/*.Dockerfile), so the suite
// (hack/test.sh puts hack/node.sh's Node first in PATH) and the processes it starts run on it too.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** The Node major of deploy/images/<image>.Dockerfile's base images (`node:24-…`, `nodejs24-…`). */
function imageNodeMajors(image: 'controller' | 'agent'): number[] {
  const text = readFileSync(join(repo, 'deploy/images', `${image}.Dockerfile`), 'utf8');
  return [...text.matchAll(/^ARG \w+_IMAGE=\S*?node(?:js)?:?(\d+)-/gm)].map((m) => Number(m[1]));
}

describe('the runtime the tests run on', () => {
  it('is the Node major every image ships', () => {
    const major = Number(process.versions.node.split('.')[0]);
    for (const image of ['controller', 'agent'] as const) {
      const majors = imageNodeMajors(image);
      expect(majors.length, `no Node base image found in deploy/images/${image}.Dockerfile`).toBeGreaterThan(0);
      for (const m of majors) expect(m, `deploy/images/${image}.Dockerfile ships Node ${m}, the tests run on ${process.version}`).toBe(major);
    }
  });

  it('is exactly the Node the node images carry (osfleet image build)', async () => {
    const { DEFAULT_NODE_VERSION } = await import('../../image/node-runtime.js');
    expect(DEFAULT_NODE_VERSION).toBe(process.versions.node);
  });

  it('is the Node hack/node.sh provisions, and `node` in PATH (what spawned tools and scripts find) is the same', async () => {
    const { stdout: provisioned } = await run('bash', [join(repo, 'hack/node.sh')], { cwd: repo, timeout: 120_000 });
    const bin = provisioned.trim().split('\n').pop()!;
    const { stdout: v } = await run(bin, ['--version']);
    expect(v.trim()).toBe(process.version);
    const { stdout: inPath } = await run('node', ['--version']);
    expect(inPath.trim()).toBe(process.version);
  });
});
