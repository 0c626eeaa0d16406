// A throwaway Kubernetes control plane on loopback: etcd (tmpfs, no fsync),
// kube-apiserver (RBAC, service-account tokens) and kube-controller-manager,
// with the CRDs from crds/ installed and Established. Everything it starts is
// stopped by PID and every file it writes is removed by stop().
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiextensionsV1Api, KubeConfig, type V1CustomResourceDefinition } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { createCA, createServiceAccountKeys, issue, type CertPair } from './certs.js';
import { loadKubeconfig, writeKubeconfig } from './kubeconfig.js';
import { harnessLog } from './log.js';
import { kubeRequest } from './raw-api.js';
import {
  forgetOnExit,
  freePorts,
  GiveUp,
  logTail,
  removeOnExit,
  startProcess,
  until,
  type Supervised,
} from './processes.js';

/** What a test worker needs to reach the cluster; plain data, so it can cross process boundaries. */
export interface ClusterInfo {
  /** https://127.0.0.1:<port> */
  server: string;
  /** Admin kubeconfig (CN=admin, O=system:masters), certificates embedded. */
  kubeconfig: string;
  /** Directory holding kube-apiserver, kube-controller-manager, etcd and kubectl. */
  binDir: string;
  caCert: string;
  caKey: string;
  serviceAccountIssuer: string;
  /** Scratch directory owned by the cluster; removed by stop(). */
  workDir: string;
  /** etcd's data directory (on /dev/shm when it exists); removed by stop(). */
  etcdDataDir: string;
  pids: { etcd: number; apiserver: number; controllerManager: number };
  /** Names of the CRDs installed from crds/ at start. */
  crds: string[];
}

export interface ClusterOptions {
  binDir: string;
  /** Directory whose *.yaml CustomResourceDefinitions are installed at start; none when omitted. */
  crdDir?: string;
  /** kube-controller-manager --controllers. */
  controllers?: readonly string[];
  /** Milliseconds to wait for /readyz and CRDs. */
  startTimeoutMs?: number;
  /**
   * Keep the work dir (logs, certificates, kubeconfigs) after stop() for
   * debugging. Default: the OSFLEET_TESTBED_KEEP environment variable is set.
   */
  keepFiles?: boolean;
}

export const defaultControllers = [
  'disruption',
  'garbagecollector',
  'namespace',
  'serviceaccount',
  'serviceaccount-token',
] as const;

const serviceCidr = '10.0.0.0/24';

export class Cluster {
  private stopped = false;

  private constructor(
    readonly info: ClusterInfo,
    /** Admin client configuration. */
    readonly kc: KubeConfig,
    private readonly procs: Supervised[],
    /** How each of procs was started (same order), so a stopped one can start again exactly so. */
    private readonly specs: ProcessSpec[],
    private readonly dirs: string[],
    /** Milliseconds from start() to each milestone. */
    readonly timings: Record<string, number>,
    private readonly apiserverReady: () => Promise<boolean>,
  ) {}

  static async start(opts: ClusterOptions): Promise<Cluster> {
    // Ports are picked free but released before the servers bind them; if
    // another process takes one in between, start again on new ports.
    for (let attempt = 1; ; attempt++) {
      try {
        return await Cluster.startOnce(opts);
      } catch (err) {
        if (attempt >= 3 || !/address already in use/i.test(String(err))) throw err;
        harnessLog.warn({ attempt }, 'a port was taken while starting the cluster; retrying');
      }
    }
  }

  private static async startOnce(opts: ClusterOptions): Promise<Cluster> {
    const t0 = Date.now();
    const timings: Record<string, number> = {};
    const mark = (what: string) => (timings[what] = Date.now() - t0);

    for (const bin of ['etcd', 'kube-apiserver', 'kube-controller-manager']) {
      if (!existsSync(join(opts.binDir, bin))) {
        throw new Error(`${bin} not found in ${opts.binDir}; build the binaries with: bash hack/build-k8s.sh`);
      }
    }

    const workDir = await mkdtemp(join(tmpdir(), 'osfleet-cluster-'));
    const shm = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
    const etcdDir = await mkdtemp(join(shm, 'osfleet-etcd-'));
    const keep = opts.keepFiles ?? Boolean(process.env.OSFLEET_TESTBED_KEEP);
    const dirs = keep ? [etcdDir] : [workDir, etcdDir];
    for (const d of dirs) removeOnExit(d);
    const procs: Supervised[] = [];
    const specs: ProcessSpec[] = [];
    const launch = (spec: ProcessSpec): Supervised => {
      specs.push(spec);
      return startProcess(spec.name, spec.file, spec.args, spec.logFile);
    };
    const pki = join(workDir, 'pki');
    await mkdir(pki);
    await mkdir(join(workDir, 'users'));

    try {
      const [etcdClient, etcdPeer, apiPort, kcmPort] = (await freePorts(4)) as [number, number, number, number];
      const server = `https://127.0.0.1:${apiPort}`;

      const ca = await createCA(pki);
      const [serving, admin, kcm, sa] = await Promise.all([
        issue(ca, pki, 'apiserver', {
          cn: 'kube-apiserver',
          serverNames: ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc'],
          // 10.0.2.100: the address VM guests reach the API server at (test/harness/vm.ts forwards it).
          serverIPs: ['127.0.0.1', '10.0.0.1', '10.0.2.100'],
        }),
        issue(ca, pki, 'admin', { cn: 'admin', orgs: ['system:masters'] }),
        issue(ca, pki, 'controller-manager', { cn: 'system:kube-controller-manager' }),
        createServiceAccountKeys(pki),
      ]);
      const adminKubeconfig = join(workDir, 'admin.kubeconfig');
      const kcmKubeconfig = join(workDir, 'controller-manager.kubeconfig');
      await Promise.all([
        writeKubeconfig(adminKubeconfig, { server, caFile: ca.cert, user: 'admin', credentials: certFiles(admin) }),
        writeKubeconfig(kcmKubeconfig, {
          server,
          caFile: ca.cert,
          user: 'system:kube-controller-manager',
          credentials: certFiles(kcm),
        }),
      ]);
      mark('certificates');

      const etcdUrl = `http://127.0.0.1:${etcdClient}`;
      const peerUrl = `http://127.0.0.1:${etcdPeer}`;
      procs.push(
        launch({
          name: 'etcd',
          file: join(opts.binDir, 'etcd'),
          args: [
            '--name=testbed',
            `--data-dir=${etcdDir}`,
            '--unsafe-no-fsync',
            `--listen-client-urls=${etcdUrl}`,
            `--advertise-client-urls=${etcdUrl}`,
            `--listen-peer-urls=${peerUrl}`,
            `--initial-advertise-peer-urls=${peerUrl}`,
            `--initial-cluster=testbed=${peerUrl}`,
            '--log-level=warn',
          ],
          logFile: join(workDir, 'etcd.log'),
        }),
      );

      // The apiserver retries etcd until it answers, so there is no need to wait for etcd first.
      const issuer = server;
      procs.push(
        launch({
          name: 'kube-apiserver',
          file: join(opts.binDir, 'kube-apiserver'),
          args: [
            `--etcd-servers=${etcdUrl}`,
            '--bind-address=127.0.0.1',
            '--advertise-address=127.0.0.1',
            `--secure-port=${apiPort}`,
            `--cert-dir=${join(workDir, 'apiserver-certs')}`,
            `--tls-cert-file=${serving.cert}`,
            `--tls-private-key-file=${serving.key}`,
            `--client-ca-file=${ca.cert}`,
            `--service-cluster-ip-range=${serviceCidr}`,
            `--service-account-issuer=${issuer}`,
            `--service-account-key-file=${sa.publicKey}`,
            `--service-account-signing-key-file=${sa.privateKey}`,
            '--authorization-mode=RBAC',
            '--allow-privileged=true',
            // Endpoints may not hold loopback addresses; there is no in-cluster traffic anyway.
            '--endpoint-reconciler-type=none',
            '--profiling=false',
          ],
          logFile: join(workDir, 'kube-apiserver.log'),
        }),
      );

      // kube-controller-manager waits for the apiserver's /healthz by itself.
      procs.push(
        launch({
          name: 'kube-controller-manager',
          file: join(opts.binDir, 'kube-controller-manager'),
          args: [
            `--kubeconfig=${kcmKubeconfig}`,
            `--controllers=${(opts.controllers ?? defaultControllers).join(',')}`,
            `--service-account-private-key-file=${sa.privateKey}`,
            `--root-ca-file=${ca.cert}`,
            // Each controller runs under its own service account and RBAC role, as in kubeadm clusters.
            '--use-service-account-credentials=true',
            '--leader-elect=false',
            '--bind-address=127.0.0.1',
            `--secure-port=${kcmPort}`,
            `--cert-dir=${join(workDir, 'controller-manager-certs')}`,
            '--profiling=false',
          ],
          logFile: join(workDir, 'kube-controller-manager.log'),
        }),
      );

      const timeoutMs = opts.startTimeoutMs ?? 60_000;
      const failIfDead = () => {
        const dead = procs.find((p) => p.hasExited());
        if (dead) throw new GiveUp(`${dead.name} exited during start:\n${logTail(dead.logFile)}`);
      };
      const diag = () => procs.map((p) => `--- ${p.name} (${p.logFile})\n${logTail(p.logFile, 15)}`).join('\n');

      const apiserverReady = async () => (await httpsGet(`${server}/readyz`, { ca: ca.cert, ...admin })).status === 200;
      await until(
        'kube-apiserver /readyz',
        async () => {
          failIfDead();
          return (await apiserverReady()) ? true : undefined;
        },
        { timeoutMs, intervalMs: 100, onTimeout: diag },
      );
      mark('apiserverReady');

      const kc = loadKubeconfig(adminKubeconfig);
      const crdFiles = opts.crdDir ? await yamlFiles(opts.crdDir) : [];
      const [crds] = await Promise.all([
        installCrds(kc, crdFiles, timeoutMs).then((names) => {
          mark('crdsEstablished');
          return names;
        }),
        until(
          'kube-controller-manager /healthz',
          async () => {
            failIfDead();
            const res = await httpsGet(`https://127.0.0.1:${kcmPort}/healthz`, { insecure: true });
            return res.status === 200 ? true : undefined;
          },
          { timeoutMs, intervalMs: 100, onTimeout: diag },
        ).then(() => mark('controllerManagerHealthy')),
      ]);
      mark('ready');

      const info: ClusterInfo = {
        server,
        kubeconfig: adminKubeconfig,
        binDir: opts.binDir,
        caCert: ca.cert,
        caKey: ca.key,
        serviceAccountIssuer: issuer,
        workDir,
        etcdDataDir: etcdDir,
        pids: { etcd: procs[0]!.pid, apiserver: procs[1]!.pid, controllerManager: procs[2]!.pid },
        crds,
      };
      harnessLog.info({ server, workDir, timings, crds: crds.length }, 'cluster ready');
      return new Cluster(info, kc, procs, specs, dirs, timings, apiserverReady);
    } catch (err) {
      await stopAll(procs, dirs);
      throw err;
    }
  }

  /**
   * Stops kube-apiserver and etcd (SIGTERM, apiserver first), as an outage of the control plane
   * would: etcd's data dir, the certificates and every port are kept for restart().
   * kube-controller-manager keeps running and retries, as it would in a real cluster.
   */
  async stopApiserverAndEtcd(): Promise<void> {
    for (const name of ['kube-apiserver', 'etcd']) await this.procs[this.specs.findIndex((s) => s.name === name)]!.stop();
    harnessLog.info({ server: this.info.server }, 'kube-apiserver and etcd stopped');
  }

  /**
   * Starts every process that is not running (stopped or exited) again with the same flags, data
   * dir and ports, in start order, and waits for the apiserver's /readyz. info.pids keeps the
   * first PIDs.
   */
  async restart(timeoutMs = 60_000): Promise<void> {
    for (const [i, spec] of this.specs.entries()) {
      if (!this.procs[i]!.hasExited()) continue;
      this.procs[i] = startProcess(spec.name, spec.file, spec.args, spec.logFile);
    }
    await until('kube-apiserver /readyz after a restart', async () => ((await this.apiserverReady()) ? true : undefined), {
      timeoutMs,
      intervalMs: 100,
      onTimeout: () => this.procs.map((p) => `--- ${p.name} (${p.logFile})\n${logTail(p.logFile, 15)}`).join('\n'),
    });
    harnessLog.info({ server: this.info.server }, 'control plane restarted');
  }

  /** Stops the three processes (controller manager, apiserver, etcd) and removes the cluster's files. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await stopAll(this.procs, this.dirs);
    harnessLog.info(
      { server: this.info.server, ...(this.dirs.includes(this.info.workDir) ? {} : { keptWorkDir: this.info.workDir }) },
      'cluster stopped',
    );
  }
}

async function stopAll(procs: Supervised[], dirs: string[]): Promise<void> {
  // Reverse start order: clients before the servers they talk to.
  for (const p of [...procs].reverse()) await p.stop();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  for (const d of dirs) forgetOnExit(d);
}

interface ProcessSpec {
  name: string;
  file: string;
  args: string[];
  logFile: string;
}

function certFiles(pair: CertPair) {
  return { certFile: pair.cert, keyFile: pair.key };
}

export async function yamlFiles(dir: string): Promise<string[]> {
  if (!existsSync(dir)) return [];
  return (await readdir(dir))
    .filter((f) => f.endsWith('.yaml') || f.endsWith('.yml'))
    .sort()
    .map((f) => join(dir, f));
}

/** Creates (or replaces) every CustomResourceDefinition in the files (other kinds are ignored) and waits until each is Established. */
export async function installCrds(kc: KubeConfig, files: readonly string[], timeoutMs = 30_000): Promise<string[]> {
  const api = kc.makeApiClient(ApiextensionsV1Api);
  const crds: V1CustomResourceDefinition[] = [];
  for (const file of files) {
    for (const doc of parseAllDocuments(await readFile(file, 'utf8'))) {
      if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0]!.message}`);
      const obj = doc.toJS() as V1CustomResourceDefinition | null;
      // crds/ also holds e.g. a kustomization.yaml; only CRDs are installed.
      if (obj?.kind === 'CustomResourceDefinition') crds.push(obj);
    }
  }
  const base = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';
  await Promise.all(
    crds.map(async (crd) => {
      const name = crd.metadata?.name ?? '';
      let res = await kubeRequest(kc, 'POST', base, crd);
      if (res.status === 409) {
        const current = (await kubeRequest(kc, 'GET', `${base}/${name}`)).json<V1CustomResourceDefinition>();
        const body = { ...crd, metadata: { ...crd.metadata, resourceVersion: current.metadata?.resourceVersion } };
        res = await kubeRequest(kc, 'PUT', `${base}/${name}`, body);
      }
      if (res.status >= 300) {
        let message = res.body;
        try {
          message = res.json<{ message?: string }>().message ?? res.body;
        } catch {
          // not a Status object
        }
        throw new Error(`CRD ${name} rejected by the apiserver (${res.status}): ${message}`);
      }
      await until(
        `CRD ${name} Established`,
        async () => {
          const got = await api.readCustomResourceDefinition({ name });
          const established = got.status?.conditions?.find((c) => c.type === 'Established');
          return established?.status === 'True' ? true : undefined;
        },
        { timeoutMs, intervalMs: 50 },
      );
    }),
  );
  return crds.map((c) => c.metadata?.name ?? '');
}

/** HTTP status of a failed @kubernetes/client-node call, if it was an API error. */
export function apiStatus(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

/** The apiserver's own message (Status.message) from a failed call, else the error text. */
export function apiMessage(err: unknown): string {
  const body = (err as { body?: unknown } | null)?.body;
  if (typeof body === 'string') {
    try {
      const parsed = JSON.parse(body) as { message?: string };
      if (parsed.message) return parsed.message;
    } catch {
      return body;
    }
  }
  if (body && typeof body === 'object' && 'message' in body) return String((body as { message: unknown }).message);
  return err instanceof Error ? err.message : String(err);
}

async function httpsGet(
  url: string,
  tls: { ca?: string; cert?: string; key?: string; insecure?: boolean },
): Promise<{ status: number; body: string }> {
  const [ca, cert, key] = await Promise.all(
    [tls.ca, tls.cert, tls.key].map((f) => (f ? readFile(f) : Promise.resolve(undefined))),
  );
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { ca, cert, key, rejectUnauthorized: !tls.insecure, timeout: 2_000 },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
    req.end();
  });
}
