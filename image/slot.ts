// The slot image: the read-only root filesystem an OSVersion points to. squashfs, because GRUB 2.06
// reads it (EROFS needs GRUB 2.12), the kernel mounts it natively, it cannot drift from its digest
// (no read-write mount), and it is compressed (smaller downloads, no separate .zst needed).
//
// Two cached layers: the base (root filesystem + osfleet's boot integration + Node runtime +
// initramfs), and per image an appended /osfleet directory (this osfleet build, the version,
// baked settings, health checks), so a change to osfleet's code rebuilds seconds, not minutes.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cached, inputsKey } from './cache.js';
import { unpackRootfs } from './rootfs.js';
import { run } from './tools.js';

export const IMAGE_DIR = path.dirname(fileURLToPath(import.meta.url)).replace(/\/dist\/image$/, '/image');
export const ROOTFS_FILES = path.join(IMAGE_DIR, 'rootfs-files');

/** Kernel module trees a server node does without (graphics, sound, cameras, radios). */
export const SERVER_PRUNED_MODULES: readonly string[] = [
  'kernel/sound',
  'kernel/drivers/gpu',
  'kernel/drivers/media',
  'kernel/drivers/staging',
  'kernel/drivers/net/wireless',
  'kernel/drivers/bluetooth',
  'kernel/net/bluetooth',
  'kernel/net/wireless',
  'kernel/net/mac80211',
  'kernel/drivers/iio',
  'kernel/drivers/isdn',
  'kernel/drivers/nfc',
  'kernel/drivers/input/touchscreen',
];

export interface BaseSlotOptions {
  /** Root filesystem tarball or directory. */
  rootfs: string;
  /** Cache key of the root filesystem (its inputs, or a digest of the user's tree). */
  rootfsKey: string;
  nodeBinary: string;
  nodeVersion: string;
  kernelModules: 'all' | 'server';
  sourceDateEpoch: number;
}

/** A digest of a directory tree: every path (sorted), its mode, and the content or link target. */
export async function treeDigest(dir: string): Promise<string> {
  const h = createHash('sha256');
  const walk = async (rel: string): Promise<void> => {
    const entries = (await readdir(path.join(dir, rel), { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      const full = path.join(dir, p);
      const st = await lstat(full);
      h.update(`${p}\u0000${(st.mode & 0o7777).toString(8)}\u0000`);
      if (e.isSymbolicLink()) h.update(`-> ${await readlink(full)}\u0000`);
      else if (e.isDirectory()) await walk(p);
      else if (e.isFile()) h.update(await readFile(full));
    }
  };
  await walk('');
  return h.digest('hex');
}

function chroot(tree: string, args: string[]): Promise<string> {
  return run('chroot', [tree, ...args], { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8', DEBIAN_FRONTEND: 'noninteractive' } });
}

async function kernelVersion(tree: string): Promise<string> {
  const versions = await readdir(path.join(tree, 'usr/lib/modules')).catch(() => [] as string[]);
  const withKernel: string[] = [];
  for (const v of versions) if (await stat(path.join(tree, 'boot', `vmlinuz-${v}`)).catch(() => undefined)) withKernel.push(v);
  if (withKernel.length !== 1) {
    throw new Error(`the root filesystem must hold exactly one kernel (/boot/vmlinuz-V with /usr/lib/modules/V); found ${withKernel.length ? withKernel.join(', ') : 'none'}`);
  }
  return withKernel[0] as string;
}

/** Make the tree an osfleet slot: boot integration, Node runtime, initramfs, mount points. */
async function integrate(tree: string, o: BaseSlotOptions, log: (m: string) => void): Promise<void> {
  const kver = await kernelVersion(tree);
  if (await stat(path.join(tree, 'osfleet')).catch(() => undefined)) throw new Error('the root filesystem has /osfleet, which osfleet adds per image: remove it');
  if (!(await stat(path.join(tree, 'usr/sbin/update-initramfs')).catch(() => undefined))) {
    throw new Error('the root filesystem has no update-initramfs: install initramfs-tools in it (osfleet mounts persist from the initramfs)');
  }
  await run('cp', ['-a', '--no-preserve=ownership', `${ROOTFS_FILES}/.`, tree]);
  await mkdir(path.join(tree, 'usr/lib/osfleet'), { recursive: true });
  await copyFile(o.nodeBinary, path.join(tree, 'usr/lib/osfleet/node'));
  await run('chmod', ['0755', path.join(tree, 'usr/lib/osfleet/node')]);
  for (const d of ['persist', 'boot/osfleet', 'etc/osfleet']) await mkdir(path.join(tree, d), { recursive: true });
  for (const [link, target] of [
    ['boot/vmlinuz', `vmlinuz-${kver}`],
    ['boot/initrd.img', `initrd.img-${kver}`],
    // The image's baked settings, then the agent's (on persist): systemd-sysctl applies both at boot.
    ['etc/sysctl.d/85-osfleet-image.conf', '/osfleet/sysctl.conf'],
    ['etc/sysctl.d/90-osfleet.conf', '/persist/etc/sysctl.d/90-osfleet.conf'],
  ] as const) {
    await rm(path.join(tree, link), { force: true });
    await mkdir(path.dirname(path.join(tree, link)), { recursive: true });
    await symlink(target, path.join(tree, link));
  }
  await writeFile(path.join(tree, 'etc/hostname'), 'osfleet-node\n');
  if (o.kernelModules === 'server') {
    for (const m of SERVER_PRUNED_MODULES) await rm(path.join(tree, 'usr/lib/modules', kver, m), { recursive: true, force: true });
    await chroot(tree, ['depmod', '-a', kver]);
  }
  await chroot(tree, ['systemctl', 'enable', 'systemd-networkd.service', 'osfleet-provision.service', 'osfleet-agent.service', 'osfleet-boot-deadline.service']);
  log(`making the initramfs (kernel ${kver})`);
  await chroot(tree, ['update-initramfs', '-u', '-k', kver]);
}

export async function squash(src: string, out: string, epoch: number, append: boolean): Promise<void> {
  // The root directory as a root filesystem needs it, whatever the source directory's mode (a
  // mkdtemp is 0700, and a / that others cannot search breaks every service with its own user).
  const root = ['-root-mode', '755', '-root-uid', '0', '-root-gid', '0', '-root-time', String(epoch)];
  await run('mksquashfs', [src, out, '-comp', 'gzip', ...(append ? [] : ['-noappend']), '-no-progress', '-quiet', '-no-recovery', '-all-time', String(epoch), '-mkfs-time', String(epoch), ...root]);
}

export async function baseSlotImage(cacheDir: string, o: BaseSlotOptions, log: (m: string) => void): Promise<{ path: string; hit: boolean; key: string }> {
  const key = inputsKey({ rootfs: o.rootfsKey, files: await treeDigest(ROOTFS_FILES), node: o.nodeVersion, modules: o.kernelModules, epoch: o.sourceDateEpoch, format: 'squashfs-gzip-v1' });
  const r = await cached(cacheDir, 'base-slot', key, 'base.squashfs', async (tmp) => {
    const tree = await mkdtemp(path.join(path.dirname(tmp), 'tree-'));
    try {
      log('unpacking the root filesystem');
      await unpackRootfs(o.rootfs, tree);
      await integrate(tree, o, log);
      log('compressing the base layer (squashfs)');
      await squash(tree, tmp, o.sourceDateEpoch, false);
    } finally {
      await rm(tree, { recursive: true, force: true });
    }
  });
  return { ...r, key };
}

export interface ImageLayer {
  version: string;
  /** The osfleet build (bin, dist, node_modules, ...) the slot runs as its agent. */
  appDir: string;
  /** Baked sysctl file content. */
  sysctlFile: string;
  /** The agent's health checks for this image, as the agent's --health-checks JSON. */
  healthChecksJson: string;
}

/** The /osfleet directory appended to the base: what differs between images built from one base. */
export async function slotImage(cacheDir: string, base: { path: string; key: string }, layer: ImageLayer, epoch: number): Promise<{ path: string; hit: boolean }> {
  // format: bump when how the layer is made changes (2: root directory mode set on append).
  const key = inputsKey({ base: base.key, layer: { ...layer, appDir: await treeDigest(layer.appDir) }, epoch, format: 2 });
  return cached(cacheDir, 'slot', key, 'slot.squashfs', async (tmp) => {
    const dir = await mkdtemp(path.join(path.dirname(tmp), 'layer-'));
    try {
      const root = path.join(dir, 'osfleet');
      await mkdir(root);
      await run('cp', ['-a', layer.appDir, path.join(root, 'app')]);
      await writeFile(path.join(root, 'release'), `${JSON.stringify({ version: layer.version }, null, 2)}\n`);
      await writeFile(path.join(root, 'sysctl.conf'), layer.sysctlFile);
      await writeFile(path.join(root, 'health-checks.json'), layer.healthChecksJson);
      await copyFile(base.path, tmp);
      await squash(dir, tmp, epoch, true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
}

export async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 4 * 1024 * 1024 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** The app a slot runs: this package's build with its production dependencies (cached by the lockfile). */
export async function stageApp(cacheDir: string, pkgRoot: string, into: string, log: (m: string) => void): Promise<void> {
  if (!(await stat(path.join(pkgRoot, 'dist/cli/main.js')).catch(() => undefined))) {
    throw new Error(`${pkgRoot} has no build (dist/cli/main.js): run npm run build first`);
  }
  const lock = await readFile(path.join(pkgRoot, 'package-lock.json'));
  const pkg = await readFile(path.join(pkgRoot, 'package.json'));
  const deps = await cached(cacheDir, 'app-deps', inputsKey({ lock, pkg }), 'node_modules', async (tmp) => {
    log('installing the production dependencies of the agent');
    const work = await mkdtemp(path.join(path.dirname(tmp), 'npm-'));
    try {
      await writeFile(path.join(work, 'package.json'), pkg);
      await writeFile(path.join(work, 'package-lock.json'), lock);
      await run('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: work });
      await run('mv', [path.join(work, 'node_modules'), tmp]);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
  await mkdir(into, { recursive: true });
  for (const p of ['package.json', 'bin', 'dist', 'policies', 'agent/boot']) {
    await mkdir(path.dirname(path.join(into, p)), { recursive: true });
    await run('cp', ['-a', path.join(pkgRoot, p), path.join(into, p)]);
  }
  await run('cp', ['-a', deps.path, path.join(into, 'node_modules')]);
}
