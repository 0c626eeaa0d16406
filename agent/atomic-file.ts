// Crash-safe file replacement: readers (and the next boot) see the old content or
// the new content, never a torn mix, even if the process dies or power fails.
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, unlink } from 'node:fs/promises';
import path from 'node:path';

export interface AtomicWriteOptions {
  /** File mode of the new file (default 0o644). */
  mode?: number;
}

const TMP_MARK = '.osfleet-tmp-';

/**
 * Replace `file` with `data`: write a temp file in the same directory, fsync it,
 * rename it over `file`, then fsync the directory so the rename itself is durable.
 */
export async function atomicWriteFile(file: string, data: string | Uint8Array, options: AtomicWriteOptions = {}): Promise<void> {
  const dir = path.dirname(file);
  const base = path.basename(file);
  await mkdir(dir, { recursive: true });
  await removeStaleTemps(dir, base);
  const tmp = path.join(dir, `.${base}${TMP_MARK}${process.pid}-${randomBytes(4).toString('hex')}`);
  const fh = await open(tmp, 'wx', options.mode ?? 0o644);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (err) {
    await fh.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw new Error(`cannot write ${file}: ${(err as Error).message}`);
  }
  await fh.close();
  try {
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw new Error(`cannot replace ${file}: ${(err as Error).message}`);
  }
  await syncDir(dir);
}

export async function syncDir(dir: string): Promise<void> {
  const dh = await open(dir, 'r');
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}

/** Temp files of writers that were killed mid-write; only those whose process is gone are removed. */
async function removeStaleTemps(dir: string, base: string): Promise<void> {
  const prefix = `.${base}${TMP_MARK}`;
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number.parseInt(name.slice(prefix.length), 10);
    if (Number.isInteger(pid) && pid !== process.pid && !processAlive(pid)) {
      await unlink(path.join(dir, name)).catch(() => undefined);
    }
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
