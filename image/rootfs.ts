// The root filesystem a slot starts from: Debian built with mmdebstrap (pinned suite, package list
// and apt sources; cached by them), or a tree or tarball the user brings.
import { readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { cached, inputsKey } from './cache.js';
import { run } from './tools.js';

/** What every osfleet node needs: systemd, a kernel with an initramfs the persist script hooks into, and the tools those scripts use. */
export const BASE_PACKAGES: readonly string[] = [
  'systemd-sysv',
  'udev',
  'kmod',
  'linux-image-amd64',
  'initramfs-tools',
  'busybox',
  'e2fsprogs',
  'util-linux',
  'mount',
  'iproute2',
  'procps',
  'dbus',
  'ca-certificates',
];

export interface DebianSpec {
  suite: string;
  /** Packages beyond BASE_PACKAGES. */
  extraPackages: readonly string[];
  /** apt sources (files in sources.list or deb822 format); default: the build host's. */
  sourcesFiles?: readonly string[];
  /** Fixed timestamp for reproducible output (SOURCE_DATE_EPOCH). */
  sourceDateEpoch: number;
}

/** The build host's apt sources, which mmdebstrap takes as its mirror list. */
export async function hostAptSources(): Promise<string[]> {
  const found: string[] = [];
  const main = '/etc/apt/sources.list';
  if ((await stat(main).catch(() => undefined))?.size) found.push(main);
  const dir = '/etc/apt/sources.list.d';
  for (const f of (await readdir(dir).catch(() => [] as string[])).sort()) {
    if (f.endsWith('.list') || f.endsWith('.sources')) found.push(path.join(dir, f));
  }
  if (found.length === 0) throw new Error('the build host has no apt sources (/etc/apt/sources.list[.d]); pass --apt-sources FILE');
  return found;
}

/** A Debian root filesystem tarball, cached by suite, packages, the content of the apt sources and the timestamp. */
export async function debianRootfsTar(cacheDir: string, spec: DebianSpec, log: (m: string) => void): Promise<{ path: string; hit: boolean; key: string }> {
  const sources = spec.sourcesFiles ?? (await hostAptSources());
  const sourceTexts = await Promise.all(sources.map((f) => readFile(f, 'utf8')));
  const packages = [...new Set([...BASE_PACKAGES, ...spec.extraPackages])].sort();
  const key = inputsKey({ tool: 'mmdebstrap', variant: 'minbase', arch: 'amd64', suite: spec.suite, packages, sourceTexts, epoch: spec.sourceDateEpoch });
  const r = await cached(cacheDir, 'rootfs', key, 'rootfs.tar', async (tmp) => {
    log(`building the Debian ${spec.suite} root filesystem with mmdebstrap (${packages.length} packages)`);
    await run(
      'mmdebstrap',
      ['--mode=root', '--variant=minbase', '--architectures=amd64', `--include=${packages.join(',')}`, '--format=tar', spec.suite, tmp, ...sources],
      { env: { ...process.env, SOURCE_DATE_EPOCH: String(spec.sourceDateEpoch) } },
    );
  });
  return { ...r, key };
}

/** Unpack a root filesystem (tarball or directory) into an empty directory `into`, keeping owners, modes and device nodes. */
export async function unpackRootfs(source: string, into: string): Promise<void> {
  const st = await stat(source).catch(() => undefined);
  if (!st) throw new Error(`root filesystem ${source} does not exist`);
  if (st.isDirectory()) await run('cp', ['-a', '--', `${source}/.`, into]);
  else await run('tar', ['--numeric-owner', '--xattrs', '-xpf', source, '-C', into]);
}

/** A digest of a user-supplied tree or tarball (its listing with sizes and mtimes: cheap, and changes whenever content does in practice). */
export async function rootfsSourceKey(source: string): Promise<string> {
  const st = await stat(source);
  if (!st.isDirectory()) return inputsKey({ file: source, size: st.size, mtime: st.mtimeMs });
  const listing = await run('find', [source, '-printf', '%P %s %T@ %m %l\\n']);
  return inputsKey({ dir: listing });
}
