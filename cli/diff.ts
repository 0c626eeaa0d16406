// `osfleet diff [DIR] --from REV [--to REV]`: what a change to the repository does to the fleet, as
// Markdown for a pull-request comment. Reads revisions straight from the local git clone (isomorphic-git).
import { parseArgs, UsageError } from './args.js';
import { gitRevisions, repositoryDir, withUsage } from './common.js';
import type { CliIO } from './io.js';
import type { OS } from '../api/resources.js';

export const USAGE = `usage: osfleet diff [DIR] --from REV [--to REV] [--now ISO8601] [--format markdown|json]

Renders two revisions of the git repository containing DIR (default: the current directory) and
reports, as Markdown for a pull-request comment: objects added / changed / removed, OS version
bumps, node settings changed per selector, which changes need a reboot, rollout policies whose
windows or pace changed, settings osfleet does not know, and the new revision's validation errors;
for each changed policy, a chart (Mermaid gantt) of its maintenance and deny windows in the week ahead.
Only DIR (a folder of the clone) is rendered, so a repository can keep osfleet documents in a subfolder.

options:
  --from REV               the base: branch, tag, commit id, HEAD, origin/main, HEAD~1 ...
  --to REV                 the change (default: the working tree of DIR, uncommitted edits included)
  --now ISO8601            where the week of windows starts (default: now)
  --format markdown|json   the report as Markdown (default) or as the JSON report model
  -h, --help               this help

exit status: 0 report written, 1 the new revision has validation errors (report still written),
2 wrong usage (unknown revision, not a git clone)
`;

export async function run(argv: string[], io: CliIO): Promise<number> {
  return withUsage(io, USAGE, async () => {
    const { options, positionals } = parseArgs(
      argv,
      { from: { value: true }, to: { value: true }, now: { value: true }, format: { value: true, choices: ['markdown', 'json'] } },
      1,
    );
    if (options.help) {
      io.stdout(USAGE);
      return 0;
    }
    if (typeof options.from !== 'string') throw new UsageError('--from REV is required');
    const now = typeof options.now === 'string' ? Date.parse(options.now) : Date.now();
    if (Number.isNaN(now)) throw new UsageError(`--now ${String(options.now)}: not an ISO 8601 time (e.g. 2026-03-27T12:00:00Z)`);
    const dir = await repositoryDir(positionals);
    const { root, sub, at } = await gitRevisions(dir);
    const { loadAndRender } = await import('../render/index.js');
    const { diffRenders } = await import('../render/diff.js');
    const { formatDiffMarkdown } = await import('../render/diff-markdown.js');
    const before = await at(options.from);
    const after =
      typeof options.to === 'string'
        ? await at(options.to)
        : { ...(await loadAndRender({ type: 'directory', dir: root, path: sub }, { partial: true })), revision: 'working tree' };
    const report = diffRenders(before, after);
    if (options.format === 'json') io.stdout(`${JSON.stringify(report, null, 2)}\n`);
    else {
      const { windowsAheadMarkdown } = await import('../rollout/diff-timeline.js');
      const touched = [...report.versions.map((v) => v.policy), ...report.policies.map((p) => p.policy)];
      const oses = after.objects.filter((o): o is OS => o.kind === 'OS');
      const chart = windowsAheadMarkdown(oses, touched, now);
      io.stdout(`${formatDiffMarkdown(report)}${chart ? `\n${chart}` : ''}`);
    }
    return after.errors.length ? 1 : 0;
  });
}
