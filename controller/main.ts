// Owns the `osfleet controller` process: flags and environment, wiring (watches, leader
// election, reconciler, HTTP listeners), and a shutdown that releases the Lease within 5 s.
import { randomBytes } from 'node:crypto';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { PooledKubeConfig } from '../agent/kube-config.js';
import { pino, type Logger } from 'pino';
import { parseDuration } from '../api/duration.js';
import { FleetSourceReconciler, type Renderer } from './fleetsource-reconciler.js';
import { startHttpServers } from './http-server.js';
import { foundationRenderer } from './renderer.js';
import { parseSize } from './repository-limits.js';
import { DEFAULT_LEASE_DURATION_MS, DEFAULT_RENEW_DEADLINE_MS, DEFAULT_RETRY_PERIOD_MS, LeaderElector } from './leader-election.js';
import { ControllerMetrics } from './metrics.js';
import { createWebhookHandler } from './webhook.js';
import { startRollout, type RolloutHandle } from './rollout/executor.js';
import type { Clock } from './rollout/clock.js';

const USAGE = `usage: osfleet controller [options]

  --kubeconfig PATH       kubeconfig file (env KUBECONFIG); in-cluster config when absent
  --namespace NS          namespace of the leader Lease and of the Secrets FleetSources name
                          (env POD_NAMESPACE; default osfleet-system)
  --metrics-addr ADDR     /metrics listener (default :8080; "off" disables)
  --health-addr ADDR      /healthz and /readyz listener (default :8081)
  --webhook-addr ADDR     /hooks/<fleetsource> listener (default :9292; "off" disables)
  --log-level LEVEL       trace, debug, info, warn, error (env LOG_LEVEL; default info)
  --cache-dir DIR         git cache, reused across restarts (default $TMPDIR/osfleet-cache)
  --lease-name NAME       leader Lease name (default osfleet-controller)
  --lease-duration D      default 15s
  --renew-deadline D      default 10s
  --retry-period D        default 2s
  --identity ID           leader election identity (default <hostname>_<random>)
  --shutdown-timeout D    hard limit for a graceful stop (default 4500ms)
  --max-pack-size SIZE    most bytes one git response (a fetched pack) may carry; a repository
                          over it is refused with status reason RepositoryTooLarge (default 64Mi)
  --strict-catalogue      sysctl keys and kernel arguments the catalogue (policies/) does not
                          know make a revision invalid (default: a warning)
  --rollout on|off        run the rollout executor (OSNodes, cordon, drain, permits) while leading
                          (default on; off = git sync only)
`;

export interface ControllerDeps {
  /** Overrides the renderer (tests); by default the foundation renderer in render/. */
  render?: Renderer;
  /**
   * The rollout's clock (tests). No flag sets it: test seams stay out of the production binary
   * (controller/testing/main-with-clock.ts is the whole-process tests' entry).
   */
  clock?: Clock & { stop?: () => void };
  /** Resolves to stop the controller, as SIGTERM does (tests running it in-process). */
  stopSignal?: Promise<void>;
  /** Receives the bound addresses once listening (tests with port 0). */
  onListening?: (addrs: { metrics?: string; health?: string; webhook?: string }) => void;
}

function durationFlag(name: string, value: string | undefined, dflt: number): number {
  if (value === undefined) return dflt;
  const d = parseDuration(value);
  const ms = d.ok ? d.ms : undefined;
  if (ms === undefined || ms <= 0) throw new UsageError(`--${name} "${value}" is not a duration like 15s or 500ms`);
  return ms;
}

export class UsageError extends Error {}

export interface LeaderElectionTimings {
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
}

/** The leader-election flags; absent ones take client-go's defaults (15 s lease, 10 s renew deadline, 2 s retry). */
export function leaderElectionTimings(flags: { 'lease-duration'?: string; 'renew-deadline'?: string; 'retry-period'?: string }): LeaderElectionTimings {
  return {
    leaseDurationMs: durationFlag('lease-duration', flags['lease-duration'], DEFAULT_LEASE_DURATION_MS),
    renewDeadlineMs: durationFlag('renew-deadline', flags['renew-deadline'], DEFAULT_RENEW_DEADLINE_MS),
    retryPeriodMs: durationFlag('retry-period', flags['retry-period'], DEFAULT_RETRY_PERIOD_MS),
  };
}

export async function runController(argv: string[], deps: ControllerDeps = {}): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        kubeconfig: { type: 'string' },
        namespace: { type: 'string' },
        'metrics-addr': { type: 'string' },
        'health-addr': { type: 'string' },
        'webhook-addr': { type: 'string' },
        'log-level': { type: 'string' },
        'cache-dir': { type: 'string' },
        'lease-name': { type: 'string' },
        'lease-duration': { type: 'string' },
        'renew-deadline': { type: 'string' },
        'retry-period': { type: 'string' },
        identity: { type: 'string' },
        'shutdown-timeout': { type: 'string' },
        rollout: { type: 'string' },
        'strict-catalogue': { type: 'boolean' },
        'max-pack-size': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    process.stderr.write(`osfleet controller: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const env = process.env;
  const logger: Logger = pino({ level: values['log-level'] ?? env.LOG_LEVEL ?? 'info', base: { component: 'osfleet-controller' } });
  let timings: LeaderElectionTimings, shutdownMs: number;
  try {
    timings = leaderElectionTimings(values);
    shutdownMs = durationFlag('shutdown-timeout', values['shutdown-timeout'], 4500);
  } catch (err) {
    process.stderr.write(`osfleet controller: ${(err as Error).message}\n`);
    return 2;
  }
  const rolloutMode = values.rollout ?? 'on';
  if (rolloutMode !== 'on' && rolloutMode !== 'off') {
    process.stderr.write(`osfleet controller: --rollout must be on or off, got "${rolloutMode}"\n`);
    return 2;
  }
  const clock = deps.clock;
  let maxPackBytes: number | undefined;
  if (values['max-pack-size'] !== undefined) {
    maxPackBytes = parseSize(values['max-pack-size']);
    if (maxPackBytes === undefined) {
      process.stderr.write(`osfleet controller: --max-pack-size "${values['max-pack-size']}" is not a size like 64Mi or 1Gi\n`);
      return 2;
    }
  }
  const namespace = values.namespace ?? env.POD_NAMESPACE ?? 'osfleet-system';
  const identity = values.identity ?? `${env.POD_NAME ?? os.hostname()}_${randomBytes(4).toString('hex')}`;
  const cacheDir = values['cache-dir'] ?? env.OSFLEET_CACHE_DIR ?? path.join(os.tmpdir(), 'osfleet-cache');

  const kc = new PooledKubeConfig();
  try {
    const file = values.kubeconfig ?? env.KUBECONFIG;
    if (file) kc.loadFromFile(file);
    else kc.loadFromCluster();
    if (!kc.getCurrentCluster()) throw new Error('no cluster in the configuration');
  } catch (err) {
    logger.error({ err: (err as Error).message }, 'cannot load Kubernetes client configuration: pass --kubeconfig or run in a pod');
    return 1;
  }

  let render: Renderer;
  try {
    render = deps.render ?? foundationRenderer(undefined, { strict: values['strict-catalogue'] === true });
  } catch (err) {
    logger.error({ err: (err as Error).message }, 'cannot start');
    return 1;
  }

  const metrics = new ControllerMetrics({ defaultMetrics: true });
  const reconciler = new FleetSourceReconciler({
    kc,
    namespace,
    cacheDir,
    render,
    metrics,
    logger,
    identity,
    ...(maxPackBytes !== undefined ? { repositoryLimits: { maxResponseBytes: maxPackBytes } } : {}),
  });
  let watchesSynced = false;
  let shuttingDown = false;
  let elector: LeaderElector | undefined;
  let rollout: RolloutHandle | undefined;
  let rolloutStopped: Promise<void> = Promise.resolve();
  const stopRollout = (): Promise<void> => {
    const r = rollout;
    rollout = undefined;
    if (r) {
      rolloutStopped = r.stop().catch((err: unknown) => logger.error({ err: (err as Error).message }, 'stopping the rollout failed'));
    }
    return rolloutStopped;
  };
  let servers;
  try {
    servers = await startHttpServers({
      metricsAddr: values['metrics-addr'] ?? ':8080',
      healthAddr: values['health-addr'] ?? ':8081',
      webhookAddr: values['webhook-addr'] ?? ':9292',
      metrics,
      logger,
      live: () => ({ ok: !shuttingDown, reason: shuttingDown ? 'shutting down' : 'running' }),
      // Every replica is ready once its caches are warm: followers serve webhooks' 404/401 and take over fast.
      ready: () => (watchesSynced && !shuttingDown ? { ok: true, reason: reconciler.isLeader ? 'leader' : 'standby' } : { ok: false, reason: shuttingDown ? 'shutting down' : 'starting watches' }),
      webhook: createWebhookHandler({
        lookupSecret: (name) => reconciler.webhookSecret(name),
        trigger: (name) => reconciler.trigger(name),
        metrics,
        logger,
      }),
    });
  } catch (err) {
    logger.error({ err: (err as Error).message }, 'cannot listen');
    return 1;
  }
  deps.onListening?.({ metrics: servers.metricsAddr, health: servers.healthAddr, webhook: servers.webhookAddr });

  let resolveStop!: () => void;
  const stopRequested = new Promise<void>((r) => (resolveStop = r));
  const onSignal = (sig: string): void => {
    logger.info({ signal: sig }, 'stopping');
    resolveStop();
  };
  const sigterm = (): void => onSignal('SIGTERM');
  const sigint = (): void => onSignal('SIGINT');
  process.on('SIGTERM', sigterm);
  process.on('SIGINT', sigint);
  void deps.stopSignal?.then(resolveStop);

  let exitCode = 0;
  try {
    await Promise.race([reconciler.start(), stopRequested]);
    watchesSynced = true;
    elector = new LeaderElector({
      kc,
      namespace,
      name: values['lease-name'] ?? 'osfleet-controller',
      identity,
      ...timings,
      logger,
      onStartedLeading: () => {
        metrics.isLeader.set(1);
        reconciler.setLeader(true);
        // A new executor starts only after the previous one has stopped writing (leadership can flap).
        if (rolloutMode === 'on') {
          void rolloutStopped
            .then(() => {
              if (elector?.isLeader && !rollout && !shuttingDown) {
                rollout = startRollout({ kubeConfig: kc, logger: logger.child({ part: 'rollout' }), registry: metrics.registry, ...(clock ? { clock } : {}) });
              }
            })
            .catch((err: unknown) => {
              // Leading without an executor would be silent: say so, and exit so the pod restarts.
              logger.fatal({ err: (err as Error).message }, 'starting the rollout executor failed; exiting');
              exitCode = 1;
              onSignal('rollout-failed');
            });
        }
      },
      onStoppedLeading: () => {
        metrics.isLeader.set(0);
        reconciler.setLeader(false);
        stopRollout();
      },
      onNewLeader: (id) => logger.info({ leader: id, me: id === identity }, 'leader observed'),
    });
    elector.start();
    logger.info({ identity, namespace, cacheDir }, 'controller started');
    await stopRequested;
  } catch (err) {
    logger.error({ err: (err as Error).message }, 'controller failed');
    exitCode = 1;
  }

  // Graceful stop, bounded: stop watches and reconciles, release the Lease, close listeners.
  shuttingDown = true;
  const hardStop = setTimeout(() => {
    logger.warn('graceful stop took too long; exiting');
    process.exit(exitCode || 1);
  }, shutdownMs);
  hardStop.unref();
  try {
    // Stop every writer first, then give up the Lease: another replica may lead the moment it is released.
    await Promise.all([reconciler.stop(Math.max(500, shutdownMs - 2000)), stopRollout()]);
    await elector?.stop();
    clock?.stop?.();
    await servers.close();
    await kc.closePool();
  } finally {
    clearTimeout(hardStop);
    process.off('SIGTERM', sigterm);
    process.off('SIGINT', sigint);
  }
  logger.info('stopped');
  return exitCode;
}

// Run directly (node --import tsx controller/main.ts …, or dist/controller/main.js).
if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  runController(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`osfleet controller: internal error: ${(err as Error)?.stack ?? String(err)}\n`);
      process.exitCode = 70;
    },
  );
}
