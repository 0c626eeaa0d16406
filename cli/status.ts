// `osfleet status [--watch] [--kubeconfig PATH]`: the dashboard's overview in the terminal.
import { parseArgs } from './args.js';
import { withUsage } from './common.js';
import type { CliIO } from './io.js';

export const USAGE = `usage: osfleet status [--watch] [--kubeconfig PATH] [--clock-file FILE]

FleetSources, each OS's progress, batch, failure budget, window and halt reason, and the nodes that
are neither idle nor done. On a terminal with progress bars; piped, as plain key=value lines.

options:
  -w, --watch         keep following the cluster (a terminal is redrawn; piped, changed lines are printed)
  --kubeconfig PATH   default: $KUBECONFIG, then ~/.kube/config
  --clock-file FILE   read "now" from FILE (an ISO 8601 instant), as a test controller with --clock-file does
  -h, --help          this help
`;

export async function run(argv: string[], io: CliIO): Promise<number> {
  return withUsage(io, USAGE, async () => {
    const { options } = parseArgs(argv, { watch: { short: 'w' }, kubeconfig: { value: true }, 'clock-file': { value: true } }, 0);
    if (options.help) {
      io.stdout(USAGE);
      return 0;
    }
    const { loadUserKubeconfig, clockFrom, KubeconfigError } = await import('../display/connect.js');
    const { pino } = await import('pino');
    const { LiveFleet } = await import('../display/live-fleet.js');
    const { fleetView } = await import('../display/fleet-view.js');
    const { statusLines } = await import('../display/status-text.js');
    let kc: ReturnType<typeof loadUserKubeconfig>;
    try {
      kc = loadUserKubeconfig(typeof options.kubeconfig === 'string' ? options.kubeconfig : undefined);
    } catch (err) {
      if (!(err instanceof KubeconfigError)) throw err;
      io.stderr(`osfleet status: ${err.message}\n`);
      return 1;
    }
    const now = clockFrom(typeof options['clock-file'] === 'string' ? options['clock-file'] : undefined);
    const live = new LiveFleet(kc, pino({ level: 'warn' }, pino.destination(2)));
    await live.start();
    const tty = process.stdout.isTTY === true;
    const draw = () =>
      statusLines(
        fleetView(
          { sources: live.sources.values(), oses: live.oses.values(), osnodes: live.osnodes.values(), events: [], nodeLabels: (n) => live.nodes.get(n)?.metadata.labels },
          now(),
        ),
        { tty, columns: process.stdout.columns ?? 80, now: now() },
      );
    if (!options.watch) {
      io.stdout(`${draw().join('\n')}\n`);
      live.stop();
      return 0;
    }
    let shown = new Set<string>();
    const frame = () => {
      const lines = draw();
      if (tty) {
        // Home, draw, clear what is left of an older, longer frame.
        io.stdout(`\u001b[H\u001b[2J${lines.join('\n')}\n\u001b[2m${new Date(now()).toISOString()}  (Ctrl-C stops)\u001b[0m\n`);
      } else {
        const fresh = lines.filter((l) => !shown.has(l));
        if (fresh.length) io.stdout(`${fresh.map((l) => `${new Date(now()).toISOString()} ${l}`).join('\n')}\n`);
        shown = new Set(lines);
      }
    };
    let pending: NodeJS.Timeout | undefined;
    live.onChange(() => {
      pending ??= setTimeout(() => {
        pending = undefined;
        frame();
      }, 100);
    });
    frame();
    // Countdowns move without cluster changes: a terminal is redrawn every second.
    const tick = tty ? setInterval(frame, 1000) : undefined;
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    if (tick) clearInterval(tick);
    if (pending) clearTimeout(pending);
    live.stop();
    return 0;
  });
}
