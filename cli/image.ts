// `osfleet image build`: the slot image an OSVersion points to, its OSVersion document, and the disk
// image for a first install. Needs root and Debian's image tools (hack/deps.sh installs them).
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { CliIO } from './io.js';

export const USAGE = `usage: osfleet image build --version V --url-base URL [options]

Builds an osfleet node image (as root):
  OUT/NAME.squashfs        the slot image: the read-only root filesystem an OSVersion points to
  OUT/NAME.osversion.yaml  the OSVersion document for it (version, URL, sha256, size): commit it
  OUT/NAME.disk.img        the disk image for a first install (GPT, UEFI): EFI system partition with
                           GRUB, boot partition (grub.cfg, grubenv), slot A filled, slot B empty,
                           persist partition (unless --no-disk)
NAME is the OSVersion name (--name, default from the version). Write the disk image to a machine's
disk (dd) or boot it in a VM; serve the slot image at URL-BASE/NAME.squashfs for upgrades.

options:
  --version V              the version string of this image (required), e.g. 2026.12.1
  --url-base URL           where slot images will be served from (required), e.g. https://images.example.com/osfleet
  --name NAME              OSVersion name (default: the version, lowercased)
  --out DIR                output directory (default: ./out)
  --rootfs PATH            start from this root filesystem (directory or tarball) instead of Debian;
                           it needs systemd, a kernel (/boot/vmlinuz-V, /usr/lib/modules/V) and initramfs-tools
  --suite NAME             Debian suite for the default root filesystem (default bookworm)
  --include PKG[,PKG...]   more Debian packages in the default root filesystem (repeatable)
  --apt-sources FILE       apt sources for mmdebstrap (repeatable; default: this machine's)
  --settings DIR           bake the NodeSettings of this osfleet repository into the image: their
                           sysctls as the image's defaults, their kernel arguments as the disk's base
  --node-label K=V         labels that decide which NodeSettings apply (repeatable; default none:
                           only NodeSettings selecting every node)
  --health-checks FILE     the agent's health checks for this image (JSON, as osfleet agent --health-checks)
  --kernel-modules SET     server (default: without graphics, sound, media and radio drivers) or all
  --node-version V         Node.js runtime in the image (default ${'${DEFAULT_NODE_VERSION}'})
  --no-disk                build the slot image only
  --slot-size MIB          size of each root slot (default 2048; every later image must fit)
  --persist-size MIB       size of the persist partition (default 1024)
  --persist-file REL=FILE  put FILE on the persist partition at REL, e.g. etc/osfleet/agent.env=./agent.env (repeatable)
  --cache DIR              build cache (default ~/.cache/osfleet/image)
  -h, --help               this help

Every step is cached by its inputs (root filesystem packages and sources, osfleet's boot files,
the Node version, this osfleet build): a second build with the same inputs takes seconds.
`;

function kv(list: string[] | undefined, flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of list ?? []) {
    const i = item.indexOf('=');
    if (i <= 0) throw new Error(`${flag} ${item}: expected KEY=VALUE`);
    out[item.slice(0, i)] = item.slice(i + 1);
  }
  return out;
}

function mib(v: string | undefined, flag: string, dflt: number): number {
  if (v === undefined) return dflt;
  if (!/^\d+$/.test(v)) throw new Error(`${flag} ${v}: expected a whole number of MiB`);
  return Number(v);
}

export async function run(argv: string[], io: CliIO): Promise<number> {
  const { DEFAULT_NODE_VERSION } = await import('../image/node-runtime.js');
  const usage = USAGE.replace('${DEFAULT_NODE_VERSION}', DEFAULT_NODE_VERSION);
  if (argv[0] !== 'build') {
    if (argv[0] === '-h' || argv[0] === '--help') {
      io.stdout(usage);
      return 0;
    }
    io.stderr(`osfleet image: ${argv[0] === undefined ? 'missing' : `unknown`} subcommand${argv[0] ? ` "${argv[0]}"` : ''}\n\n${usage}`);
    return 2;
  }
  let values: Record<string, string | string[] | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv.slice(1),
      options: {
        version: { type: 'string' },
        'url-base': { type: 'string' },
        name: { type: 'string' },
        out: { type: 'string' },
        rootfs: { type: 'string' },
        suite: { type: 'string' },
        include: { type: 'string', multiple: true },
        'apt-sources': { type: 'string', multiple: true },
        settings: { type: 'string' },
        'node-label': { type: 'string', multiple: true },
        'health-checks': { type: 'string' },
        'kernel-modules': { type: 'string' },
        'node-version': { type: 'string' },
        'no-disk': { type: 'boolean' },
        'slot-size': { type: 'string' },
        'persist-size': { type: 'string' },
        'persist-file': { type: 'string', multiple: true },
        cache: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    io.stderr(`osfleet image build: ${(err as Error).message}\n\n${usage}`);
    return 2;
  }
  if (values.help) {
    io.stdout(usage);
    return 0;
  }
  const { buildImage, BUILD_DEFAULTS, defaultCacheDir } = await import('../image/build.js');
  try {
    if (!values.version || !values['url-base']) throw new Error('--version and --url-base are required');
    const modules = (values['kernel-modules'] as string | undefined) ?? BUILD_DEFAULTS.kernelModules;
    if (modules !== 'server' && modules !== 'all') throw new Error(`--kernel-modules ${modules}: expected server or all`);
    const persistFiles: Record<string, string> = {};
    for (const [rel, file] of Object.entries(kv(values['persist-file'] as string[] | undefined, '--persist-file'))) persistFiles[rel] = await readFile(file, 'utf8');
    const healthFile = values['health-checks'] as string | undefined;
    const r = await buildImage(
      {
        version: values.version as string,
        urlBase: values['url-base'] as string,
        ...(values.name ? { name: values.name as string } : {}),
        outDir: path.resolve((values.out as string | undefined) ?? 'out'),
        ...(values.rootfs ? { rootfs: values.rootfs as string } : {}),
        suite: (values.suite as string | undefined) ?? BUILD_DEFAULTS.suite,
        extraPackages: ((values.include as string[] | undefined) ?? []).flatMap((p) => p.split(',')).filter(Boolean),
        ...(values['apt-sources'] ? { aptSources: values['apt-sources'] as string[] } : {}),
        ...(values.settings ? { settingsDir: values.settings as string } : {}),
        nodeLabels: kv(values['node-label'] as string[] | undefined, '--node-label'),
        healthChecksJson: healthFile ? await readFile(healthFile, 'utf8') : BUILD_DEFAULTS.healthChecksJson,
        kernelModules: modules,
        nodeVersion: (values['node-version'] as string | undefined) ?? BUILD_DEFAULTS.nodeVersion,
        disk: !values['no-disk'],
        sizes: {
          ...BUILD_DEFAULTS.sizes,
          slotMiB: mib(values['slot-size'] as string | undefined, '--slot-size', BUILD_DEFAULTS.sizes.slotMiB),
          persistMiB: mib(values['persist-size'] as string | undefined, '--persist-size', BUILD_DEFAULTS.sizes.persistMiB),
        },
        ...(Object.keys(persistFiles).length ? { persistFiles } : {}),
        cacheDir: path.resolve((values.cache as string | undefined) ?? defaultCacheDir()),
        sourceDateEpoch: BUILD_DEFAULTS.sourceDateEpoch,
      },
      (m) => io.stderr(`osfleet image: ${m}\n`),
    );
    io.stderr(`osfleet image: slot image ${r.slotImage} (${(r.slotImageSize / 1024 / 1024).toFixed(1)} MiB)${r.disk ? `, disk image ${r.disk}` : ''}\n`);
    io.stdout(r.osVersionYaml);
    return 0;
  } catch (err) {
    io.stderr(`osfleet image build: ${(err as Error).message}\n`);
    return 1;
  }
}
