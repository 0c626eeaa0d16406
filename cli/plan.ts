// `osfleet plan [DIR] --fleet FILE | --kubeconfig PATH [--now ISO] [--from REV --to REV] [--format markdown|json]`:
// runs the real planner on a simulated clock with nodes that succeed at once, for a PR comment.
import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { parseArgs, UsageError } from './args.js';
import { gitRevisions, printDiagnostics, repositoryDir, withUsage } from './common.js';
import type { CliIO } from './io.js';
import { kubeClientNodeProblem } from './node-version.js';
import type { PlanNode } from '../rollout/plan-report.js';
import type { RenderResult } from '../render/index.js';

export const USAGE = `usage: osfleet plan [DIR] (--fleet FILE | --kubeconfig PATH) [--now ISO8601] [--from REV --to REV] [--format markdown|json]

Runs the rollout planner against a simulated clock and nodes that succeed at once, and reports for
each RolloutPolicy which nodes go in which batch, when (in the policy's time zone and UTC), and
which of them reboot. DIR (default: the current directory) is the repository.

options:
  --fleet FILE             the nodes: YAML {nodes: [{name, labels, osVersion}]}
  --kubeconfig PATH        read the nodes (labels, booted version, applied settings) from a cluster instead
  --now ISO8601            start of the simulation (default: now)
  --from REV --to REV      plan the change between two revisions of the git clone containing DIR:
                           nodes are assumed to carry REV --from's settings, the diff is shown on top
  --format markdown|json   Markdown (default) or JSON {"policies":[{"name","batches":[{"index","nodes","start"}]}]}
  -h, --help               this help

exit status: 0 plan written, 1 the repository has errors, 2 wrong usage
`;

interface FleetFile {
  nodes?: Array<{ name?: unknown; labels?: unknown; osVersion?: unknown }>;
}

export async function readFleetFile(path: string): Promise<PlanNode[]> {
  let doc: FleetFile;
  try {
    doc = parseYaml(await readFile(path, 'utf8')) as FleetFile;
  } catch (err) {
    throw new UsageError(`--fleet ${path}: ${(err as Error).message}`);
  }
  if (!doc || !Array.isArray(doc.nodes)) throw new UsageError(`--fleet ${path}: expected a mapping with a "nodes" list`);
  return doc.nodes.map((n, i) => {
    if (typeof n?.name !== 'string' || !n.name) throw new UsageError(`--fleet ${path}: nodes[${i}] needs a name`);
    if (typeof n.osVersion !== 'string') throw new UsageError(`--fleet ${path}: nodes[${i}] (${n.name}) needs osVersion, the version it runs now`);
    const labels = (n.labels ?? {}) as Record<string, unknown>;
    if (typeof labels !== 'object' || Array.isArray(labels)) throw new UsageError(`--fleet ${path}: nodes[${i}].labels must be a mapping`);
    return { name: n.name, osVersion: n.osVersion, labels: Object.fromEntries(Object.entries(labels).map(([k, v]) => [k, String(v ?? '')])) };
  });
}

/** Nodes of a live cluster: labels from Node, booted version and applied settings from its OSNode. */
async function readClusterFleet(kubeconfig: string): Promise<PlanNode[]> {
  const { KubeConfig } = await import('../api/client-node.js');
  const { KubeClient } = await import('../controller/kube/client.js');
  const { API_VERSION } = await import('../api/meta.js');
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const client = new KubeClient(kc, { maxSockets: 2 });
  let nodes, osnodes;
  try {
    nodes = await client.list<{ metadata?: { name?: string; labels?: Record<string, string> } }>('/api/v1/nodes');
    osnodes = await client.list<import('../api/resources.js').OSNode>(`/apis/${API_VERSION}/osnodes`);
  } finally {
    client.close();
  }
  const byName = new Map(osnodes.items.map((o) => [o.metadata.name, o]));
  return nodes.items.map((n) => {
    const name = n.metadata?.name ?? '';
    const o = byName.get(name);
    const node: PlanNode = { name, labels: n.metadata?.labels ?? {}, osVersion: o?.status?.bootedVersion ?? '' };
    const cfg = o?.spec.config;
    if (cfg && o?.status?.appliedConfigHash === cfg.hash) node.appliedConfig = { sysctl: cfg.sysctl, kernelArgs: cfg.kernelArgs };
    return node;
  });
}

export async function run(argv: string[], io: CliIO): Promise<number> {
  return withUsage(io, USAGE, async () => {
    const { options, positionals } = parseArgs(
      argv,
      {
        fleet: { value: true },
        kubeconfig: { value: true },
        now: { value: true },
        from: { value: true },
        to: { value: true },
        format: { value: true, choices: ['markdown', 'json'] },
      },
      1,
    );
    if (options.help) {
      io.stdout(USAGE);
      return 0;
    }
    const fleetFile = typeof options.fleet === 'string' ? options.fleet : undefined;
    const kubeconfig = typeof options.kubeconfig === 'string' ? options.kubeconfig : undefined;
    if (!fleetFile === !kubeconfig) throw new UsageError('give exactly one of --fleet FILE or --kubeconfig PATH');
    if ((typeof options.from === 'string') !== (typeof options.to === 'string')) throw new UsageError('--from and --to go together');
    const now = typeof options.now === 'string' ? Date.parse(options.now) : Date.now();
    if (Number.isNaN(now)) throw new UsageError(`--now ${String(options.now)}: not an ISO 8601 time (e.g. 2026-03-27T12:00:00Z)`);
    const dir = await repositoryDir(positionals);

    const { loadAndRender, defaultCatalogue, sysctlNeedsReboot } = await import('../render/index.js');
    let before: RenderResult | undefined;
    let after: RenderResult;
    if (typeof options.from === 'string' && typeof options.to === 'string') {
      const { at } = await gitRevisions(dir);
      before = await at(options.from);
      after = await at(options.to);
    } else {
      after = await loadAndRender(dir);
    }

    if (kubeconfig) {
      const tooOld = kubeClientNodeProblem('osfleet plan --kubeconfig');
      if (tooOld) {
        io.stderr(tooOld);
        return 1;
      }
    }
    const nodes = fleetFile ? await readFleetFile(fleetFile) : await readClusterFleet(kubeconfig!);
    const { buildPlan, planToJson } = await import('../rollout/plan-report.js');
    const catalogue = defaultCatalogue();
    const planOf = (r: RenderResult) =>
      buildPlan({
        objects: r.objects,
        ...(before && before.errors.length === 0 ? { before: before.objects } : {}),
        nodes,
        now,
        isRebootSysctl: (k) => sysctlNeedsReboot(catalogue, k),
      });

    let diffMarkdown = '';
    let diffJson: unknown;
    if (before) {
      const { diffRenders } = await import('../render/diff.js');
      const { formatDiffMarkdown } = await import('../render/diff-markdown.js');
      const report = diffRenders(before, after);
      diffMarkdown = formatDiffMarkdown(report);
      diffJson = report;
    }
    if (after.errors.length > 0) {
      printDiagnostics(io, after.errors);
      if (diffMarkdown && options.format !== 'json') io.stdout(diffMarkdown);
      io.stderr(`osfleet: the repository has ${after.errors.length} error(s); nothing would roll out\n`);
      return 1;
    }
    const report = planOf(after);
    if (options.format === 'json') {
      io.stdout(`${JSON.stringify({ ...(planToJson(report) as object), ...(diffJson ? { diff: diffJson } : {}) }, null, 2)}\n`);
    } else {
      const { formatPlanMarkdown } = await import('../rollout/plan-markdown.js');
      io.stdout(`${diffMarkdown ? `${diffMarkdown}\n` : ''}${formatPlanMarkdown(report)}`);
    }
    return 0;
  });
}
