// Builds (or finds in the cache) the images the VM tests boot, with `osfleet image build` itself,
// and writes a manifest the tests read. Run by hack/test.sh before vitest, as root:
//   good 1.0.0 (disk + slot), good 2.0.0 (slot), 3.0.0 whose health check fails (slot);
//   four broken slots made from pieces of 1.0.0: no kernel, a kernel file GRUB cannot load, a
//   kernel that panics (its initramfs is junk), and a system without an init.
import { mkdir, mkdtemp, rm, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildImage, BUILD_DEFAULTS, defaultCacheDir, type BuildOptions } from '../../image/build.js';
import { run } from '../../image/tools.js';
import { sha256File, squash } from '../../image/slot.js';

export const GUEST_IMAGE_HOST = '10.0.2.101';
export const GUEST_IMAGE_PORT = 80;
export const GUEST_IMAGE_URL = `http://${GUEST_IMAGE_HOST}`;

export interface VmImage {
  version: string;
  file: string;
  sha256: string;
  size: number;
}

export interface VmImages {
  disk: string;
  kernel: string;
  good: Record<'v1' | 'v2' | 'unhealthy', VmImage>;
  broken: Record<'noKernel' | 'badKernel' | 'panic' | 'noInit', VmImage>;
  build: { coldOrCached: Record<string, boolean>; timingsMs: Record<string, Record<string, number>> };
}

export function manifestPath(): string {
  return path.join(defaultCacheDir(), '..', 'vm-images', 'manifest.json');
}

export const UNHEALTHY_CHECK = 'app-ready';

async function main(): Promise<void> {
  const out = path.join(defaultCacheDir(), '..', 'vm-images');
  await mkdir(out, { recursive: true });
  const log = (m: string) => process.stderr.write(`vm-images: ${m}\n`);
  const common: Omit<BuildOptions, 'version' | 'disk' | 'healthChecksJson'> = {
    outDir: out,
    urlBase: GUEST_IMAGE_URL,
    suite: BUILD_DEFAULTS.suite,
    extraPackages: ['qemu-guest-agent'],
    nodeLabels: {},
    kernelModules: 'server',
    nodeVersion: BUILD_DEFAULTS.nodeVersion,
    sizes: { ...BUILD_DEFAULTS.sizes, slotMiB: 768, persistMiB: 256 },
    cacheDir: defaultCacheDir(),
    sourceDateEpoch: BUILD_DEFAULTS.sourceDateEpoch,
  };
  const timings: Record<string, Record<string, number>> = {};
  const hits: Record<string, boolean> = {};
  const build = async (key: string, o: Pick<BuildOptions, 'version' | 'disk' | 'healthChecksJson'>) => {
    const t0 = Date.now();
    const r = await buildImage({ ...common, ...o }, log);
    timings[key] = { ...r.timings, total: Date.now() - t0 };
    hits[key] = Object.values(r.cacheHits).every(Boolean);
    return r;
  };
  const v1 = await build('v1', { version: '1.0.0', disk: true, healthChecksJson: BUILD_DEFAULTS.healthChecksJson });
  const v2 = await build('v2', { version: '2.0.0', disk: false, healthChecksJson: BUILD_DEFAULTS.healthChecksJson });
  const bad = await build('unhealthy', {
    version: '3.0.0-unhealthy',
    disk: false,
    healthChecksJson: `${JSON.stringify({ checks: [{ name: UNHEALTHY_CHECK, exec: ['/bin/false'] }], attempts: 2, interval: '2s' })}\n`,
  });

  // Broken slots, from the kernel and initramfs of 1.0.0.
  const work = await mkdtemp(path.join(tmpdir(), 'osfleet-vm-broken-'));
  const broken = {} as VmImages['broken'];
  try {
    const unpacked = path.join(work, 'v1');
    await run('unsquashfs', ['-q', '-n', '-d', unpacked, v1.slotImage, 'boot', 'usr/lib/osfleet/persist.conf']);
    const listing = await run('ls', [path.join(unpacked, 'boot')]);
    const kname = listing.split('\n').find((f) => f.startsWith('vmlinuz-'));
    const iname = listing.split('\n').find((f) => f.startsWith('initrd.img-'));
    if (!kname || !iname) throw new Error(`no kernel or initramfs in ${v1.slotImage}`);
    const kernel = path.join(out, 'vmlinuz');
    await run('cp', [path.join(unpacked, 'boot', kname), kernel]);
    const tree = async (name: string, files: Record<string, string | Buffer | { copy: string }>) => {
      const t = path.join(work, name);
      for (const [rel, c] of Object.entries(files)) {
        await mkdir(path.dirname(path.join(t, rel)), { recursive: true });
        if (typeof c === 'object' && !Buffer.isBuffer(c)) await run('cp', [c.copy, path.join(t, rel)]);
        else await writeFile(path.join(t, rel), c);
      }
      const file = path.join(out, `broken-${name}.squashfs`);
      await squash(t, file, common.sourceDateEpoch, false);
      return file;
    };
    const release = (v: string) => `NAME=osfleet-broken\nVERSION_ID=${v}\n`;
    const slot = async (key: keyof VmImages['broken'], version: string, files: Record<string, string | Buffer | { copy: string }>) => {
      const file = await tree(key, { 'etc/os-release': release(version), ...files });
      broken[key] = { version, file, sha256: await sha256File(file), size: (await readFile(file)).length };
    };
    await slot('noKernel', '4.0.0-no-kernel', {});
    await slot('badKernel', '4.1.0-bad-kernel', { 'boot/vmlinuz': Buffer.alloc(1024 * 1024, 0x5a), 'boot/initrd.img': { copy: path.join(unpacked, 'boot', iname) } });
    await slot('panic', '5.0.0-panic', { 'boot/vmlinuz': { copy: kernel }, 'boot/initrd.img': Buffer.alloc(64 * 1024, 0x5a) });
    await slot('noInit', '6.0.0-no-init', { 'boot/vmlinuz': { copy: kernel }, 'boot/initrd.img': { copy: path.join(unpacked, 'boot', iname) } });
    const img = (r: typeof v1): VmImage => ({ version: r.version, file: r.slotImage, sha256: r.sha256, size: r.slotImageSize });
    const manifest: VmImages = { disk: v1.disk as string, kernel, good: { v1: img(v1), v2: img(v2), unhealthy: img(bad) }, broken, build: { coldOrCached: hits, timingsMs: timings } };
    await writeFile(manifestPath(), `${JSON.stringify(manifest, null, 2)}\n`);
    log(`manifest ${manifestPath()}`);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err: unknown) => {
    process.stderr.write(`vm-images: ${(err as Error).message}\n`);
    process.exit(1);
  });
}
