// `osfleet agent`: flags and environment → host configuration, Kubernetes client, health server,
// and the reconcile loop. Exits on SIGTERM after the current pass.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { PooledKubeConfig } from './kube-config.js';
import { pino } from 'pino';
import { startAgent } from './daemon.js';
import { type HealthCheck, type HealthConfig, httpGetOk, parseHealthConfig } from './health.js';
import { createHost, defaultHostConfig, type HostConfig, type SlotDevice } from './host.js';
import { createOSNodeClient } from './osnode-client.js';

export const USAGE = `usage: osfleet agent [options]

Runs on every node (DaemonSet): watches the node's own OSNode, applies sysctl and kernel settings,
stages and boots A/B root images when the controller permits it, and reports status.

  --node-name NAME        this node (env NODE_NAME; required)
  --kubeconfig PATH       kubeconfig (env KUBECONFIG); in-cluster service account when absent
  --host-root DIR         the host's root filesystem as mounted in the pod (default /host)
  --proc-sys DIR          sysctl tree (default /proc/sys; the pod shares the host network namespace)
  --persist DIR           persist partition mount (default <host-root>/persist)
  --grubenv FILE          GRUB environment block (default <host-root>/boot/grub/grubenv)
  --cmdline FILE          kernel command line (default /proc/cmdline)
  --boot-id FILE          the kernel's boot id, to tell whether a requested reboot happened
                          (default /proc/sys/kernel/random/boot_id)
  --slot-a DEV            slot A device path, or partlabel:NAME (default partlabel:osfleet-A)
  --slot-b DEV            slot B device path, or partlabel:NAME (default partlabel:osfleet-B)
  --partlabel-dir DIR     where partlabel:NAME is looked up (default <host-root>/dev/disk/by-partlabel);
                          a slot whose device is the booted slot's device is never written
  --reboot-command CMD    reboot command, split on spaces (default "chroot <host-root> systemctl reboot")
  --booted-version V      version of the running system when slot metadata has none (e.g. first install)
  --health-addr ADDR      /healthz listener, host:port (default 127.0.0.1:9440; "off" disables)
  --log-level LEVEL       trace, debug, info, warn, error (default info)

Health checks: after booting a new slot once, the agent runs its checks; only when all pass is the
slot made permanent. A check still failing after the last attempt makes the agent reboot, GRUB boots
the previous slot, and the OSNode reports RolledBack with the failing checks and why. Always run:
"agent" (a GET of this agent's own /healthz answers 2xx; not when --health-addr is off) and
"kubernetes-api" (this node's OSNode can be read from the API server). Add your own with:

  --health-check NAME[@TIMEOUT]=TARGET   (repeatable) TARGET is one of
        http://URL or https://URL   a GET that must answer 2xx (redirects are not followed)
        exec:COMMAND ARGS...        a command (split on spaces, run in the agent's container)
                                    that must exit 0; its last output line explains a failure
      e.g. --health-check kubelet@5s=http://127.0.0.1:10248/healthz
           --health-check containerd=exec:chroot /host systemctl is-active --quiet containerd
  --health-checks FILE    checks from a JSON file (e.g. a ConfigMap), added to the flags':
        {"checks": [{"name": "kubelet", "http": "https://127.0.0.1:10250/healthz",
                     "caFile": "/etc/kubelet-ca.pem", "timeout": "5s"},
                    {"name": "containerd", "exec": ["chroot", "/host", "crictl", "info"]}],
         "attempts": 10, "interval": "3s", "timeout": "10s"}
  --health-check-attempts N      rounds before the slot is declared unhealthy (default 10)
  --health-check-interval DUR    pause between rounds, e.g. 3s (default 3s)
  --health-check-timeout DUR     time limit of one check attempt without its own @TIMEOUT (default 10s)
Durations: 500ms, 10s, 2m, 1m30s. Flags override the file's attempts, interval and timeout.
`;

function slotDevice(v: string | undefined, dflt: SlotDevice): SlotDevice {
  if (!v) return dflt;
  return v.startsWith('partlabel:') ? { partLabel: v.slice('partlabel:'.length) } : { path: v };
}

function bootedVersionFromOsRelease(root: string): string | undefined {
  try {
    const text = readFileSync(`${root}/etc/os-release`, 'utf8');
    return /^VERSION_ID="?([^"\n]+)"?$/m.exec(text)?.[1];
  } catch {
    return undefined;
  }
}

export async function runAgent(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        'node-name': { type: 'string' },
        kubeconfig: { type: 'string' },
        'host-root': { type: 'string' },
        'proc-sys': { type: 'string' },
        persist: { type: 'string' },
        grubenv: { type: 'string' },
        cmdline: { type: 'string' },
        'boot-id': { type: 'string' },
        'slot-a': { type: 'string' },
        'slot-b': { type: 'string' },
        'partlabel-dir': { type: 'string' },
        'reboot-command': { type: 'string' },
        'booted-version': { type: 'string' },
        'health-addr': { type: 'string' },
        'log-level': { type: 'string' },
        'health-check': { type: 'string', multiple: true },
        'health-checks': { type: 'string' },
        'health-check-attempts': { type: 'string' },
        'health-check-interval': { type: 'string' },
        'health-check-timeout': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    process.stderr.write(`osfleet agent: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const nodeName = values['node-name'] ?? process.env.NODE_NAME;
  if (!nodeName) {
    process.stderr.write('osfleet agent: the node name is unknown: pass --node-name or set NODE_NAME (the DaemonSet sets it from spec.nodeName)\n');
    return 2;
  }
  const root = values['host-root'] ?? '/host';
  let health: HealthConfig;
  try {
    const file = values['health-checks'];
    health = parseHealthConfig({
      flags: values['health-check'] ?? [],
      ...(file ? { file: { text: readFileSync(file, 'utf8'), source: file } } : {}),
      ...(values['health-check-attempts'] !== undefined ? { attempts: values['health-check-attempts'] } : {}),
      ...(values['health-check-interval'] !== undefined ? { interval: values['health-check-interval'] } : {}),
      ...(values['health-check-timeout'] !== undefined ? { timeout: values['health-check-timeout'] } : {}),
    });
  } catch (err) {
    process.stderr.write(`osfleet agent: health check configuration: ${(err as Error).message}\n`);
    return 2;
  }
  const healthAddr = values['health-addr'] ?? '127.0.0.1:9440';
  let listen: { host: string | undefined; port: number } | undefined;
  if (healthAddr !== 'off') {
    const i = healthAddr.lastIndexOf(':');
    const port = Number(healthAddr.slice(i + 1));
    if (i < 0 || !Number.isInteger(port) || port < 0 || port > 65535) {
      process.stderr.write(`osfleet agent: --health-addr ${healthAddr}: expected host:port, :port or "off"\n`);
      return 2;
    }
    listen = { host: healthAddr.slice(0, i).replace(/^\[(.*)\]$/, '$1') || undefined, port };
  }

  const logger = pino({ level: values['log-level'] ?? process.env.LOG_LEVEL ?? 'info', base: { component: 'osfleet-agent', node: nodeName } });
  const d = defaultHostConfig(root);
  const config: HostConfig = {
    ...d,
    procSysRoot: values['proc-sys'] ?? d.procSysRoot,
    persistDir: values.persist ?? d.persistDir,
    grubenvPath: values.grubenv ?? d.grubenvPath,
    cmdlinePath: values.cmdline ?? d.cmdlinePath,
    bootIdPath: values['boot-id'] ?? d.bootIdPath,
    slotDevices: { A: slotDevice(values['slot-a'], d.slotDevices.A), B: slotDevice(values['slot-b'], d.slotDevices.B) },
    partLabelDir: values['partlabel-dir'] ?? d.partLabelDir,
    rebootCommand: values['reboot-command'] ? values['reboot-command'].split(' ').filter(Boolean) : d.rebootCommand,
  };
  const kc = new PooledKubeConfig();
  const kubeconfig = values.kubeconfig ?? process.env.KUBECONFIG;
  if (kubeconfig) kc.loadFromFile(kubeconfig);
  else kc.loadFromCluster();

  const host = createHost(config);
  try {
    await host.bootedSlot();
  } catch (err) {
    logger.error({ err: (err as Error).message }, 'cannot start');
    return 1;
  }

  // The /healthz listener first: the "agent" health check of a freshly booted slot asks it.
  let server: http.Server | undefined;
  let exitCode = 0;
  let resolveDone!: () => void;
  const done = new Promise<void>((resolve) => (resolveDone = resolve));
  process.once('SIGTERM', () => resolveDone());
  process.once('SIGINT', () => resolveDone());
  let selfCheck: HealthCheck | undefined;
  if (listen) {
    const srv = http.createServer((req, res) => {
      res.writeHead(req.url === '/healthz' ? 200 : 404, { 'content-type': 'text/plain' });
      res.end(req.url === '/healthz' ? 'ok\n' : 'not found\n');
    });
    server = srv;
    const listening = await new Promise<boolean>((resolve) => {
      // Without a listener the liveness probe fails anyway: say why and exit instead of crashing.
      srv.once('error', (err) => {
        logger.error({ err: err.message }, `cannot serve /healthz on ${healthAddr}; pick another --health-addr or "off"`);
        resolve(false);
      });
      srv.listen(listen.port, listen.host, () => resolve(true));
    });
    if (!listening) return 1;
    srv.on('error', (err) => {
      logger.error({ err: err.message }, '/healthz listener failed; stopping');
      exitCode = 1;
      resolveDone();
    });
    const port = (srv.address() as AddressInfo).port;
    const h = listen.host === undefined || listen.host === '0.0.0.0' ? '127.0.0.1' : listen.host === '::' ? '::1' : listen.host;
    selfCheck = httpGetOk('agent', `http://${h.includes(':') ? `[${h}]` : h}:${port}/healthz`);
  }

  const bootedVersionHint = values['booted-version'] ?? bootedVersionFromOsRelease(root);
  const agent = startAgent({
    nodeName,
    host,
    client: createOSNodeClient(kc, nodeName),
    logger,
    healthChecks: [...(selfCheck ? [selfCheck] : []), ...health.checks],
    healthOptions: health.options,
    ...(bootedVersionHint ? { bootedVersionHint } : {}),
  });
  logger.info(
    { slots: config.slotDevices, persist: config.persistDir, healthChecks: ['kubernetes-api', ...(selfCheck ? ['agent'] : []), ...health.checks.map((c) => c.name)], healthOptions: health.options },
    'agent started',
  );
  await done;
  logger.info('stopping');
  await agent.stop();
  await kc.closePool();
  server?.close();
  return exitCode;
}
