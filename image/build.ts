// `osfleet image build`: root filesystem → slot image (+ its OSVersion document) → optional disk
// image for a first install. Every step is cached by its inputs under ~/.cache/osfleet/image.
import { copyFile, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { defaultCacheDir } from './cache.js';
import { buildDisk } from './disk.js';
import { DEFAULT_SIZES, type LayoutSizes } from './layout.js';
import { DEFAULT_NODE_VERSION, nodeBinary } from './node-runtime.js';
import { debianRootfsTar, rootfsSourceKey } from './rootfs.js';
import { bakeSettingsFromRepository, DEFAULT_KERNEL_ARGS, type BakedSettings } from './settings.js';
import { baseSlotImage, sha256File, slotImage, stageApp } from './slot.js';
import { missingTools } from './tools.js';
import { parseHealthConfig } from '../agent/health.js';
import type { Labels } from '../rollout/selector.js';

export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..').replace(/\/dist$/, '');

export interface BuildOptions {
  version: string;
  /** OSVersion name; default derived from the version. */
  name?: string;
  outDir: string;
  /** Base of the URL the slot image will be served from. */
  urlBase: string;
  /** A root filesystem tree or tarball; default: Debian from mmdebstrap. */
  rootfs?: string;
  suite: string;
  extraPackages: string[];
  aptSources?: string[];
  settingsDir?: string;
  nodeLabels: Labels;
  /** The agent's --health-checks JSON for this image. */
  healthChecksJson: string;
  kernelModules: 'all' | 'server';
  nodeVersion: string;
  disk: boolean;
  sizes: LayoutSizes;
  persistFiles?: Record<string, string>;
  cacheDir: string;
  sourceDateEpoch: number;
}

export const BUILD_DEFAULTS = {
  suite: 'bookworm',
  extraPackages: [] as string[],
  nodeLabels: {} as Labels,
  healthChecksJson: '{"checks": []}\n',
  kernelModules: 'server' as const,
  nodeVersion: DEFAULT_NODE_VERSION,
  disk: true,
  sizes: DEFAULT_SIZES,
  sourceDateEpoch: 1767225600, // 2026-01-01T00:00:00Z
};

export interface BuildResult {
  name: string;
  version: string;
  slotImage: string;
  slotImageSize: number;
  sha256: string;
  url: string;
  osVersionYaml: string;
  osVersionFile: string;
  disk?: string;
  settings: BakedSettings;
  timings: Record<string, number>;
  cacheHits: Record<string, boolean>;
}

export function osVersionName(version: string): string {
  const n = version.toLowerCase().replace(/[^a-z0-9.-]+/g, '-').replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '');
  if (!n) throw new Error(`version ${JSON.stringify(version)} gives no usable OSVersion name: pass --name`);
  return n.slice(0, 63);
}

export function buildProblem(o: Pick<BuildOptions, 'version' | 'urlBase' | 'healthChecksJson'>): string | undefined {
  if (!/^[A-Za-z0-9][A-Za-z0-9._+~-]{0,62}$/.test(o.version)) return `--version ${JSON.stringify(o.version)}: use letters, digits and . _ + ~ - (at most 63), starting with a letter or digit`;
  let url: URL;
  try {
    url = new URL(o.urlBase);
  } catch {
    return `--url-base ${JSON.stringify(o.urlBase)} is not a URL (e.g. https://images.example.com/osfleet)`;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return `--url-base must be http(s), got ${url.protocol}`;
  if (url.username || url.password) return '--url-base must not carry credentials';
  try {
    parseHealthConfig({ file: { text: o.healthChecksJson, source: 'health checks' } });
  } catch (err) {
    return (err as Error).message;
  }
  return undefined;
}

export async function buildImage(o: BuildOptions, log: (m: string) => void = () => {}): Promise<BuildResult> {
  const problem = buildProblem(o);
  if (problem) throw new Error(problem);
  if (process.getuid?.() !== 0) throw new Error('building an image needs root (chroot, device nodes and file owners in the root filesystem); run it with sudo');
  const missing = await missingTools(['mksquashfs', 'chroot', 'tar', 'npm', ...(o.rootfs ? [] : ['mmdebstrap']), ...(o.disk ? ['sgdisk', 'mkfs.vfat', 'mmd', 'mcopy', 'mke2fs', 'grub-mkimage', 'grub-editenv'] : [])]);
  if (missing) throw new Error(`${missing}; hack/deps.sh installs them all`);
  if (o.disk && !(await stat('/usr/lib/grub/x86_64-efi').catch(() => undefined))) throw new Error('GRUB for UEFI is missing: install the Debian package grub-efi-amd64-bin');
  const timings: Record<string, number> = {};
  const cacheHits: Record<string, boolean> = {};
  const timed = async <T>(step: string, f: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    try {
      return await f();
    } finally {
      timings[step] = Math.round(performance.now() - t0);
    }
  };
  const name = o.name ?? osVersionName(o.version);
  await mkdir(o.outDir, { recursive: true });

  const settings = o.settingsDir ? await bakeSettingsFromRepository(o.settingsDir, o.nodeLabels) : { sysctlFile: '', kernelArgs: [...DEFAULT_KERNEL_ARGS], sources: [] };
  const node = await timed('node', () => nodeBinary(o.cacheDir, o.nodeVersion, log));
  cacheHits.node = node.hit;
  let rootfs: { path: string; key: string };
  if (o.rootfs) rootfs = { path: path.resolve(o.rootfs), key: await rootfsSourceKey(o.rootfs) };
  else {
    const r = await timed('rootfs', () => debianRootfsTar(o.cacheDir, { suite: o.suite, extraPackages: o.extraPackages, ...(o.aptSources ? { sourcesFiles: o.aptSources } : {}), sourceDateEpoch: o.sourceDateEpoch }, log));
    cacheHits.rootfs = r.hit;
    rootfs = r;
  }
  const base = await timed('base', () =>
    baseSlotImage(o.cacheDir, { rootfs: rootfs.path, rootfsKey: rootfs.key, nodeBinary: node.path, nodeVersion: o.nodeVersion, kernelModules: o.kernelModules, sourceDateEpoch: o.sourceDateEpoch }, log),
  );
  cacheHits.base = base.hit;
  const appDir = await mkdtemp(path.join(o.cacheDir, 'app-'));
  let slot: { path: string; hit: boolean };
  try {
    await timed('app', () => stageApp(o.cacheDir, PACKAGE_ROOT, path.join(appDir, 'app'), log));
    slot = await timed('slot', () => slotImage(o.cacheDir, base, { version: o.version, appDir: path.join(appDir, 'app'), sysctlFile: settings.sysctlFile, healthChecksJson: o.healthChecksJson }, o.sourceDateEpoch));
  } finally {
    await rm(appDir, { recursive: true, force: true });
  }
  cacheHits.slot = slot.hit;
  const slotFile = `${name}.squashfs`;
  const slotOut = path.join(o.outDir, slotFile);
  await timed('copy', () => copyFile(slot.path, slotOut));
  const size = (await stat(slotOut)).size;
  const sha256 = await timed('sha256', () => sha256File(slotOut));
  const url = `${o.urlBase.replace(/\/+$/, '')}/${slotFile}`;
  const doc = {
    apiVersion: 'osfleet.dev/v1alpha1',
    kind: 'OSVersion',
    metadata: { name },
    spec: { version: o.version, image: { url, sha256, size } },
  };
  const osVersionYaml = `# Built by osfleet image build${settings.sources.length ? `; settings baked in: ${settings.sources.join(', ')}` : ''}.\n${stringify(doc)}`;
  const osVersionFile = path.join(o.outDir, `${name}.osversion.yaml`);
  await writeFile(osVersionFile, osVersionYaml);
  let disk: string | undefined;
  if (o.disk) {
    disk = path.join(o.outDir, `${name}.disk.img`);
    await timed('disk', () =>
      buildDisk(disk as string, { slotImage: slotOut, slotImageSize: size, version: o.version, sha256, sizes: o.sizes, kernelArgs: settings.kernelArgs, ...(o.persistFiles ? { persistFiles: o.persistFiles } : {}) }),
    );
  }
  return { name, version: o.version, slotImage: slotOut, slotImageSize: size, sha256, url, osVersionYaml, osVersionFile, ...(disk ? { disk } : {}), settings, timings, cacheHits };
}

export { defaultCacheDir };
