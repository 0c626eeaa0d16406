// The osfleet command line: dispatches to subcommands. Returns the process exit code
// (0 success, 1 the repository or operation failed, 2 wrong usage). Subcommands are imported lazily,
// so `osfleet validate` never loads git, Kubernetes or HTTP code.
import { processIO, type CliIO, type Command } from './io.js';
import { kubeClientNodeProblem } from './node-version.js';

interface Entry {
  summary: string;
  load: () => Promise<Command>;
  /** Talks to Kubernetes, so it needs the Node the Kubernetes client needs. */
  kube?: boolean;
}

/** The subcommands. Each module exports `run(argv, io)`. */
export const COMMANDS: Record<string, Entry> = {
  validate: { summary: 'check a repository; every error as file:line:col', load: () => import('./validate.js') },
  render: { summary: 'print the OS / OSConfig objects a repository renders to', load: () => import('./render.js') },
  diff: { summary: 'Markdown report of what changes between two git revisions', load: () => import('./diff.js') },
  controller: {
    summary: 'run the controller: git sync, rollout executor, webhooks, metrics (leader-elected)',
    kube: true,
    load: async () => ({ run: async (argv) => (await import('../controller/main.js')).runController(argv) }),
  },
  agent: {
    summary: "run the node agent: settings, A/B upgrades and status for this node's OSNode",
    kube: true,
    load: async () => ({ run: async (argv) => (await import('../agent/main.js')).runAgent(argv) }),
  },
  image: { summary: 'build a node image: the slot image for an OSVersion, and a disk image for a first install', load: () => import('./image.js') },
  plan: { summary: 'which nodes roll out in which batch and when (simulated, for PR review)', load: () => import('./plan.js') },
  dashboard: { summary: 'a live, read-only web page of the fleet on 127.0.0.1', load: () => import('./dashboard.js'), kube: true },
  status: { summary: 'the fleet in the terminal: sources, rollouts, busy nodes (--watch follows)', load: () => import('./status.js'), kube: true },
};

export function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  const lines = Object.entries(COMMANDS).map(([name, e]) => `  ${name.padEnd(width)}  ${e.summary}`);
  return [
    'osfleet — run the operating system of a Kubernetes fleet from git',
    '',
    'usage: osfleet <command> [options]',
    '',
    'commands:',
    ...lines,
    '',
    'Run `osfleet <command> --help` for the options of a command.',
    '',
  ].join('\n');
}

export async function main(argv: string[], io: CliIO = processIO): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    if (cmd === 'help' && rest[0] && COMMANDS[rest[0]]) return (await COMMANDS[rest[0]]!.load()).run(['--help'], io);
    io.stdout(usage());
    return 0;
  }
  if (cmd === '--version' || cmd === '-v') {
    const { readFileSync } = await import('node:fs');
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    io.stdout(`osfleet ${pkg.version}\n`);
    return 0;
  }
  const entry = Object.prototype.hasOwnProperty.call(COMMANDS, cmd) ? COMMANDS[cmd] : undefined;
  if (!entry) {
    io.stderr(`osfleet: unknown command ${JSON.stringify(cmd)}\n\n${usage()}`);
    return 2;
  }
  const tooOld = entry.kube ? kubeClientNodeProblem(`osfleet ${cmd}`) : undefined;
  if (tooOld) {
    io.stderr(tooOld);
    return 1;
  }
  return (await entry.load()).run(rest, io);
}
