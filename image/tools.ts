// The host programs the image builder runs, each with the Debian package that provides it, so a
// missing tool is an error that says what to install.
import { execFile, spawn } from 'node:child_process';

const PACKAGE_OF: Record<string, string> = {
  mmdebstrap: 'mmdebstrap',
  mksquashfs: 'squashfs-tools',
  unsquashfs: 'squashfs-tools',
  sgdisk: 'gdisk',
  'mkfs.vfat': 'dosfstools',
  mmd: 'mtools',
  mcopy: 'mtools',
  mke2fs: 'e2fsprogs',
  'grub-mkimage': 'grub-efi-amd64-bin and grub-common',
  'grub-editenv': 'grub-common',
  tar: 'tar',
  chroot: 'coreutils',
  npm: 'npm (Node.js)',
};

export class ToolError extends Error {}

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Passed to the child's standard input. */
  input?: string;
}

/** Run a program to completion; resolves with its stdout, rejects naming the command, its stderr tail and, when it is missing, the package. */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout?.on('data', (b: Buffer) => out.push(b));
    child.stderr?.on('data', (b: Buffer) => {
      err = (err + b.toString()).slice(-4000);
    });
    child.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') {
        const pkg = PACKAGE_OF[cmd];
        reject(new ToolError(`${cmd} is not installed${pkg ? `: install the Debian package ${pkg}` : ''} (needed to build osfleet images)`));
      } else reject(new ToolError(`${cmd}: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      if (code === 0) resolve(Buffer.concat(out).toString());
      else reject(new ToolError(`${cmd} ${args.join(' ')} failed (${signal ?? `exit ${code}`}): ${err.trim().split('\n').slice(-8).join('\n')}`));
    });
    if (child.stdin) {
      // A child that exits without reading its input is judged by its exit status, not by EPIPE.
      child.stdin.on('error', () => {});
      child.stdin.end(opts.input);
    }
  });
}

/** True when `cmd` can be started (used for a clear up-front check of everything a build needs). */
export function available(cmd: string): Promise<boolean> {
  return new Promise((resolve) => {
    execFile('sh', ['-c', `command -v "$1" >/dev/null`, 'sh', cmd], (e) => resolve(!e));
  });
}

/** Every missing tool of `cmds`, with its package, as one message; undefined when all are there. */
export async function missingTools(cmds: readonly string[]): Promise<string | undefined> {
  const missing: string[] = [];
  for (const c of cmds) if (!(await available(c))) missing.push(`${c} (Debian package ${PACKAGE_OF[c] ?? c})`);
  return missing.length ? `missing tools: ${missing.join(', ')}` : undefined;
}
