// `osfleet validate [DIR] [--format text|json]`: every error of the repository, one line each.
import { parseArgs } from './args.js';
import { plural, printDiagnostics, repositoryDir, withUsage } from './common.js';
import type { CliIO } from './io.js';

export const USAGE = `usage: osfleet validate [DIR] [--format text|json] [--strict]

Checks every YAML document under DIR (default: the current directory) — OSVersion, NodeSettings and
RolloutPolicy — and reports every problem as one line:

  path/to/file.yaml:LINE:COL: error: what is wrong and how to fix it

Warnings point at things that are legal but surprising. Hidden files and folders are ignored.

options:
  --format text   errors and warnings on stderr, a summary on stdout (default)
  --format json   one JSON object on stdout: {valid, errors, warnings, files, documents}
  --strict        sysctl keys and kernel arguments not in the catalogue are errors (as the
                  controller's --strict-catalogue)
  -h, --help      this help

exit status: 0 valid (warnings allowed), 1 invalid, 2 wrong usage
`;

export async function run(argv: string[], io: CliIO): Promise<number> {
  return withUsage(io, USAGE, async () => {
    const { options, positionals } = parseArgs(argv, { format: { value: true, choices: ['text', 'json'] }, strict: {} }, 1);
    if (options.help) {
      io.stdout(USAGE);
      return 0;
    }
    const dir = await repositoryDir(positionals);
    const { loadAndRender } = await import('../render/index.js');
    const r = await loadAndRender(dir, options.strict === true ? { strict: true } : {});
    const valid = r.errors.length === 0;
    if (options.format === 'json') {
      io.stdout(`${JSON.stringify({ valid, errors: r.errors, warnings: r.warnings, files: r.files.length, documents: r.documents.length }, null, 2)}\n`);
      return valid ? 0 : 1;
    }
    printDiagnostics(io, r.errors);
    printDiagnostics(io, r.warnings);
    if (valid) {
      io.stdout(`${dir}: valid — ${plural(r.documents.length, 'document')} in ${plural(r.files.length, 'file')}, ${plural(r.warnings.length, 'warning')}\n`);
      return 0;
    }
    io.stderr(`${dir}: invalid — ${plural(r.errors.length, 'error')}, ${plural(r.warnings.length, 'warning')}\n`);
    return 1;
  });
}
