// Kernel settings under /proc/sys: key validation and mapping, live apply, the one
// persisted sysctl.d file, and restoring the value a key had before osfleet changed it.
//
// Key convention (the one sysctl(8) and systemd-sysctl use for dotted names): segments
// are separated by `.`; a `/` inside a segment stands for a literal `.` in that path
// component. So `net.ipv4.conf.eth0/100.forwarding` is
// `/proc/sys/net/ipv4/conf/eth0.100/forwarding` (VLAN interface `eth0.100`). Keys
// written with `/` as the separator (`net/ipv4/ip_forward`) are refused: one spelling
// per key keeps the persisted file, the originals and the status comparable.
import { closeSync, constants, openSync, readFileSync, readSync, writeFileSync, writeSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { atomicWriteFile } from './atomic-file.js';

export const SYSCTL_FILE = 'etc/sysctl.d/90-osfleet.conf';
export const SYSCTL_ORIGINALS_FILE = 'var/lib/osfleet/sysctl-originals.json';

export interface SysctlPaths {
  procSysRoot: string;
  persistDir: string;
}

export { sysctlKeyProblem, sysctlValueProblem } from '../api/settings-syntax.js';
import { sysctlKeyProblem, sysctlValueProblem } from '../api/settings-syntax.js';

/** The file under `procSysRoot` for `key`. Throws (touching nothing) if the key is not acceptable. */
export function sysctlPath(procSysRoot: string, key: string): string {
  const problem = sysctlKeyProblem(key);
  if (problem) throw new Error(`sysctl key "${key}" refused: it ${problem}`);
  const root = path.resolve(procSysRoot);
  const p = path.join(root, ...key.split('.').map((seg) => seg.replaceAll('/', '.')));
  // Defence in depth: the checks above already make this impossible.
  if (!p.startsWith(root + path.sep)) throw new Error(`sysctl key "${key}" refused: it resolves outside ${root}`);
  return p;
}

/** Values as the kernel prints them use tabs; compare and persist them with single spaces. */
export function normalizeSysctlValue(value: string): string {
  return value.trim().split(/\s+/).join(' ');
}

export function renderSysctlFile(settings: Record<string, string>): string {
  const lines = ['# Written by the osfleet agent from the node\'s OSNode spec. Local edits are overwritten.'];
  for (const key of Object.keys(settings).sort()) lines.push(`${key} = ${normalizeSysctlValue(settings[key] as string)}`);
  return lines.join('\n') + '\n';
}

export interface SysctlReport {
  /** Keys written live and persisted, with the value written. */
  applied: Record<string, string>;
  /** Keys no longer desired: removed from the file, live value set back to what it was before osfleet. */
  restored: Record<string, string>;
  /** Keys the kernel refused (live write failed); they are left out of the persisted file. */
  failed: Record<string, string>;
  persistFile: string;
}

interface OriginalsState {
  version: 1;
  /** Live value before osfleet first wrote the key; null when the key cannot be read (write-only). */
  originals: Record<string, string | null>;
}

async function readOriginals(file: string): Promise<OriginalsState> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, originals: {} };
    throw err;
  }
  try {
    const parsed = JSON.parse(text) as Partial<OriginalsState>;
    if (parsed.version !== 1 || typeof parsed.originals !== 'object' || parsed.originals === null) throw new Error('unexpected shape');
    return { version: 1, originals: parsed.originals };
  } catch (err) {
    throw new Error(
      `the sysctl originals file ${file} is unreadable (${(err as Error).message}); ` +
        'without it osfleet cannot restore removed keys. Inspect it, then delete it to start over',
    );
  }
}

/**
 * Make the live kernel and the persisted file match `desired`. Every key and value is
 * validated, and every key checked to exist, before anything is written.
 */
export async function applySysctls(paths: SysctlPaths, desired: Record<string, string>): Promise<SysctlReport> {
  const problems: string[] = [];
  const target = new Map<string, { file: string; value: string }>();
  for (const [key, raw] of Object.entries(desired)) {
    const kp = sysctlKeyProblem(key);
    if (kp) {
      problems.push(`sysctl key "${key}" ${kp}`);
      continue;
    }
    const vp = sysctlValueProblem(raw);
    if (vp) {
      problems.push(`the value of sysctl ${key} ${vp}`);
      continue;
    }
    target.set(key, { file: sysctlPath(paths.procSysRoot, key), value: normalizeSysctlValue(raw) });
  }
  if (problems.length > 0) throw new Error(`refusing to apply any sysctl: ${problems.join('; ')}`);

  const originalsFile = path.join(paths.persistDir, SYSCTL_ORIGINALS_FILE);
  const state = await readOriginals(originalsFile);
  const originals = { ...state.originals };

  // Open every key before any write: proves it exists (and is writable) and lets us read
  // its original through the same descriptor. One open per key keeps this as cheap as sysctl -p.
  const fds = new Map<string, number>();
  let newOriginals = false;
  try {
    for (const [key, { file }] of target) {
      let fd: number;
      try {
        fd = openKey(file);
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        problems.push(e.code === 'ENOENT' || e.code === 'ENOTDIR' ? `sysctl ${key}: no such setting on this kernel (${file} does not exist)` : `sysctl ${key}: cannot open ${file}: ${e.message}`);
        continue;
      }
      if (!(key in originals)) {
        originals[key] = readFd(fd);
        newOriginals = true;
      }
      if (fds.size < MAX_OPEN) fds.set(key, fd);
      else closeSync(fd);
    }
    if (problems.length > 0) throw new Error(`refusing to apply any sysctl: ${problems.join('; ')}`);

    const applied: Record<string, string> = {};
    for (const [key, { value }] of target) applied[key] = value;
    const persistFile = path.join(paths.persistDir, SYSCTL_FILE);
    // Originals must be durable before the values they describe change; the persisted
    // file may go first too (the next boot applying it early is harmless).
    // A re-apply of an unchanged set (every reconcile, every boot) rewrites nothing on disk.
    const rendered = renderSysctlFile(applied);
    const persisted = await readFile(persistFile, 'utf8').catch(() => undefined);
    await Promise.all([
      newOriginals ? atomicWriteFile(originalsFile, JSON.stringify({ version: 1, originals }, null, 1) + '\n') : undefined,
      persisted === rendered ? undefined : atomicWriteFile(persistFile, rendered),
    ]);
    const failed: Record<string, string> = {};
    for (const [key, { file, value }] of target) {
      const err = writeLive(fds.get(key) ?? file, value);
      if (err) {
        failed[key] = `the kernel refused ${JSON.stringify(value)}: ${err}`;
        delete applied[key];
      }
    }
    if (Object.keys(failed).length > 0) await atomicWriteFile(persistFile, renderSysctlFile(applied));
    return await restoreRemoved(paths, target, originals, originalsFile, { applied, failed, persistFile });
  } finally {
    for (const fd of fds.values()) closeSync(fd);
  }
}

/** Keys osfleet changed before but no longer wants: live value back to the original, then forget them. */
async function restoreRemoved(
  paths: SysctlPaths,
  target: Map<string, unknown>,
  originals: Record<string, string | null>,
  originalsFile: string,
  partial: Omit<SysctlReport, 'restored'>,
): Promise<SysctlReport> {
  const { failed } = partial;
  const restored: Record<string, string> = {};
  let dropped = false;
  for (const key of Object.keys(originals)) {
    if (target.has(key)) continue;
    const original = originals[key];
    if (original !== null && original !== undefined) {
      const err = writeLive(sysctlPath(paths.procSysRoot, key), original);
      if (err && !/ENOENT/.test(err)) {
        failed[key] = `could not restore the original value ${JSON.stringify(original)}: ${err}`;
        continue; // keep the original so the next apply tries again
      }
      restored[key] = normalizeSysctlValue(original);
    }
    delete originals[key];
    dropped = true;
  }
  if (dropped) await atomicWriteFile(originalsFile, JSON.stringify({ version: 1, originals }, null, 1) + '\n');
  return { ...partial, restored };
}

/** Descriptors held open between the existence check and the write (beyond this, reopen). */
const MAX_OPEN = 512;
const readBuf = Buffer.alloc(8192);

function openKey(file: string): number {
  try {
    return openSync(file, constants.O_RDWR);
  } catch (err) {
    // Write-only settings (e.g. net.ipv4.route.flush) cannot be opened for reading.
    if ((err as NodeJS.ErrnoException).code === 'EACCES') return openSync(file, constants.O_WRONLY);
    throw err;
  }
}

function readFd(fd: number): string | null {
  try {
    const n = readSync(fd, readBuf, 0, readBuf.length, 0);
    return normalizeSysctlValue(readBuf.toString('utf8', 0, n));
  } catch {
    return null;
  }
}

function writeLive(target: string | number, value: string): string | undefined {
  try {
    if (typeof target === 'number') writeSync(target, value, 0);
    else writeFileSync(target, value);
    return undefined;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return e.code ? `${e.code} ${e.message}` : e.message;
  }
}

/** Read the live value of `key` (normalized); used for status and tests. */
export function readSysctl(procSysRoot: string, key: string): string {
  return normalizeSysctlValue(readFileSync(sysctlPath(procSysRoot, key), 'utf8'));
}
