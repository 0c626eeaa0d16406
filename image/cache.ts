// Content-addressed cache of image build steps: a step's output is kept under the digest of all its
// inputs, so an unchanged input set is never rebuilt and a changed one never reuses a stale result.
import { createHash } from 'node:crypto';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';

export function defaultCacheDir(): string {
  const base = process.env.XDG_CACHE_HOME || path.join(homedir(), '.cache');
  return path.join(base, 'osfleet', 'image');
}

/** A stable digest of a step's inputs (strings, buffers, nested arrays/objects in key order). */
export function inputsKey(parts: unknown): string {
  const h = createHash('sha256');
  const feed = (v: unknown): void => {
    if (v === undefined || v === null) h.update('\u0000n');
    else if (Buffer.isBuffer(v)) {
      h.update(`\u0000b${v.length}:`);
      h.update(v);
    } else if (typeof v === 'string') h.update(`\u0000s${Buffer.byteLength(v)}:${v}`);
    else if (typeof v === 'number' || typeof v === 'boolean') h.update(`\u0000p${String(v)}`);
    else if (Array.isArray(v)) {
      h.update(`\u0000a${v.length}`);
      v.forEach(feed);
    } else if (typeof v === 'object') {
      const o = v as Record<string, unknown>;
      const keys = Object.keys(o).sort();
      h.update(`\u0000o${keys.length}`);
      for (const k of keys) {
        feed(k);
        feed(o[k]);
      }
    } else throw new Error(`cannot key a ${typeof v}`);
  };
  feed(parts);
  return h.digest('hex').slice(0, 32);
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

/**
 * The cached file or directory `name` of step `step` for `key`, produced by `make(tmpPath)` when it is
 * not there yet. `make` writes to a temporary path that is renamed into place only when it succeeds,
 * so an interrupted build never leaves a half-made entry that looks done.
 */
export async function cached(
  cacheDir: string,
  step: string,
  key: string,
  name: string,
  make: (tmpPath: string) => Promise<void>,
): Promise<{ path: string; hit: boolean }> {
  const dir = path.join(cacheDir, step, key);
  const final = path.join(dir, name);
  if (await exists(final)) return { path: final, hit: true };
  await mkdir(dir, { recursive: true });
  const tmp = path.join(dir, `.${name}.${process.pid}.tmp`);
  await rm(tmp, { recursive: true, force: true });
  try {
    await make(tmp);
    await rename(tmp, final);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
  return { path: final, hit: false };
}
