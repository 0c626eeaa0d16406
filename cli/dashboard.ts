// `osfleet dashboard [--kubeconfig PATH] [--port N]`: a read-only web page of the fleet on
// 127.0.0.1, kept live through watches with the user's own kubeconfig.
import { parseArgs, UsageError } from './args.js';
import { withUsage } from './common.js';
import type { CliIO } from './io.js';

export const USAGE = `usage: osfleet dashboard [--kubeconfig PATH] [--port N] [--clock-file FILE]

Serves a live, read-only page of the fleet on http://127.0.0.1:PORT/ : FleetSources, each OS's
progress, batch, failure budget, window and halt reason, the nodes with phase, slots and downloads,
recent Events and the planned timeline. It uses your kubeconfig and nothing else, and listens on
loopback only; for a remote cluster, run it on your machine with that cluster's kubeconfig (or
reach a remote one through \`ssh -L 8765:127.0.0.1:8765 host\`).

options:
  --kubeconfig PATH   default: $KUBECONFIG, then ~/.kube/config
  --port N            default 8765; 0 picks a free port
  --clock-file FILE   read "now" from FILE (an ISO 8601 instant), as a controller with --clock-file does
  -h, --help          this help

Stops on Ctrl-C.
`;

export async function run(argv: string[], io: CliIO): Promise<number> {
  return withUsage(io, USAGE, async () => {
    const { options } = parseArgs(argv, { kubeconfig: { value: true }, port: { value: true }, 'clock-file': { value: true } }, 0);
    if (options.help) {
      io.stdout(USAGE);
      return 0;
    }
    const port = options.port === undefined ? 8765 : Number(options.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port ${String(options.port)}: not a port number`);
    const { loadUserKubeconfig, clockFrom, KubeconfigError } = await import('../display/connect.js');
    const { pino } = await import('pino');
    const { LiveFleet } = await import('../display/live-fleet.js');
    const { DashboardFeed } = await import('../display/dashboard-feed.js');
    const { startDashboardServer } = await import('../display/dashboard-server.js');
    let kc: ReturnType<typeof loadUserKubeconfig>;
    try {
      kc = loadUserKubeconfig(typeof options.kubeconfig === 'string' ? options.kubeconfig : undefined);
    } catch (err) {
      if (!(err instanceof KubeconfigError)) throw err;
      io.stderr(`osfleet dashboard: ${err.message}\n`);
      return 1;
    }
    const now = clockFrom(typeof options['clock-file'] === 'string' ? options['clock-file'] : undefined);
    const live = new LiveFleet(kc, pino({ level: 'warn' }, pino.destination(2)));
    const feed = new DashboardFeed(live, { now });
    let server: Awaited<ReturnType<typeof startDashboardServer>>;
    try {
      server = await startDashboardServer(feed, { port });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
      feed.stop();
      io.stderr(`osfleet dashboard: 127.0.0.1:${port} is in use; pass --port N (0 picks a free port)\n`);
      return 1;
    }
    io.stdout(`osfleet dashboard: ${server.url} (cluster ${kc.getCurrentCluster()!.server}; Ctrl-C stops)\n`);
    await live.start();
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    feed.stop();
    live.stop();
    await server.close();
    return 0;
  });
}
