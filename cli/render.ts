// `osfleet render [DIR] [-o OUTDIR]`: the OS and OSConfig objects the repository renders to.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from './args.js';
import { plural, printDiagnostics, repositoryDir, withUsage } from './common.js';
import type { CliIO } from './io.js';

export const USAGE = `usage: osfleet render [DIR] [-o OUTDIR] [--revision REV] [--fleet-source NAME]

Validates the repository in DIR (default: the current directory) and prints the cluster objects it
renders to — one OS per RolloutPolicy, one OSConfig per NodeSettings — as multi-document YAML on
stdout. Nothing is printed on stdout when the repository has errors (they go to stderr).

options:
  -o, --output OUTDIR    write one file per object (os-NAME.yaml, osconfig-NAME.yaml) instead
  --revision REV         revision to annotate the objects with (default: a digest of the files)
  --fleet-source NAME    add the osfleet.dev/fleetsource label, as the controller does
  -h, --help             this help

exit status: 0 rendered, 1 the repository has errors, 2 wrong usage
`;

export async function run(argv: string[], io: CliIO): Promise<number> {
  return withUsage(io, USAGE, async () => {
    const { options, positionals } = parseArgs(
      argv,
      { output: { value: true, short: 'o' }, revision: { value: true }, 'fleet-source': { value: true } },
      1,
    );
    if (options.help) {
      io.stdout(USAGE);
      return 0;
    }
    const dir = await repositoryDir(positionals);
    const { loadAndRender, objectsToYaml, objectToYaml } = await import('../render/index.js');
    const r = await loadAndRender(dir, {
      ...(typeof options.revision === 'string' ? { revision: options.revision } : {}),
      ...(typeof options['fleet-source'] === 'string' ? { fleetSource: options['fleet-source'] } : {}),
    });
    printDiagnostics(io, r.errors);
    printDiagnostics(io, r.warnings);
    if (r.errors.length) {
      io.stderr(`${dir}: not rendered — ${plural(r.errors.length, 'error')}\n`);
      return 1;
    }
    if (typeof options.output === 'string') {
      const out = options.output;
      await mkdir(out, { recursive: true });
      for (const o of r.objects) await writeFile(join(out, `${o.kind.toLowerCase()}-${o.metadata.name}.yaml`), objectToYaml(o));
      io.stdout(`wrote ${plural(r.objects.length, 'object')} to ${out}\n`);
      return 0;
    }
    io.stdout(objectsToYaml(r.objects));
    return 0;
  });
}
