// `osfleet agent`: flags and environment → host configuration, Kubernetes client, health server,
// and the reconcile loop. Exits on SIGTERM after the current pass.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { parseArgs } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { startAgent } from './daemon.js';
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
  --slot-a DEV            slot A device path, or partlabel:NAME (default partlabel:osfleet-A)
  --slot-b DEV            slot B device path, or partlabel:NAME (default partlabel:osfleet-B)
  --reboot-command CMD    reboot command, split on spaces (default "chroot <host-root> systemctl reboot")
  --booted-version V      version of the running system when slot metadata has none (e.g. first install)
  --health-addr ADDR      /healthz listener, host:port (default 127.0.0.1:9440; "off" disables)
  --log-level LEVEL       trace, debug, info, warn, error (default info)
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
        'slot-a': { type: 'string' },
        'slot-b': { type: 'string' },
        'reboot-command': { type: 'string' },
        'booted-version': { type: 'string' },
        'health-addr': { type: 'string' },
        'log-level': { type: 'string' },
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
  const logger = pino({ level: values['log-level'] ?? process.env.LOG_LEVEL ?? 'info', base: { component: 'osfleet-agent', node: nodeName } });
  const root = values['host-root'] ?? '/host';
  const d = defaultHostConfig(root);
  const config: HostConfig = {
    ...d,
    procSysRoot: values['proc-sys'] ?? d.procSysRoot,
    persistDir: values.persist ?? d.persistDir,
    grubenvPath: values.grubenv ?? d.grubenvPath,
    cmdlinePath: values.cmdline ?? d.cmdlinePath,
    slotDevices: { A: slotDevice(values['slot-a'], d.slotDevices.A), B: slotDevice(values['slot-b'], d.slotDevices.B) },
    rebootCommand: values['reboot-command'] ? values['reboot-command'].split(' ').filter(Boolean) : d.rebootCommand,
  };
  const kc = new KubeConfig();
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
  const bootedVersionHint = values['booted-version'] ?? bootedVersionFromOsRelease(root);
  const agent = startAgent({
    nodeName,
    host,
    client: createOSNodeClient(kc, nodeName),
    logger,
    ...(bootedVersionHint ? { bootedVersionHint } : {}),
  });

  let server: http.Server | undefined;
  let exitCode = 0;
  const done = new Promise<void>((resolve) => {
    process.once('SIGTERM', () => resolve());
    process.once('SIGINT', () => resolve());
    const healthAddr = values['health-addr'] ?? '127.0.0.1:9440';
    if (healthAddr === 'off') return;
    const i = healthAddr.lastIndexOf(':');
    server = http.createServer((req, res) => {
      res.writeHead(req.url === '/healthz' ? 200 : 404, { 'content-type': 'text/plain' });
      res.end(req.url === '/healthz' ? 'ok\n' : 'not found\n');
    });
    // Without a listener the liveness probe fails anyway: say why and exit instead of crashing.
    server.on('error', (err) => {
      logger.error({ err: err.message }, `cannot serve /healthz on ${healthAddr}; pick another --health-addr or "off"`);
      exitCode = 1;
      resolve();
    });
    server.listen(Number(healthAddr.slice(i + 1)), healthAddr.slice(0, i) || undefined);
  });
  logger.info({ slots: config.slotDevices, persist: config.persistDir }, 'agent started');
  await done;
  logger.info('stopping');
  await agent.stop();
  server?.close();
  return exitCode;
}
