// Test support only: runs `osfleet controller` as a real child process (so it can be SIGTERMed
// or SIGKILLed) on loopback ports, and reads its /metrics.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

export interface ControllerProcess {
  proc: ChildProcess;
  pid: number;
  identity: string;
  webhookUrl: (fleetsource: string) => string;
  metricsUrl: string;
  healthUrl: string;
  logFile: string;
  /** SIGTERM and wait; resolves with the exit code and how long the exit took. */
  stop(): Promise<{ code: number | null; ms: number }>;
  kill9(): Promise<void>;
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  logTail(lines?: number): string;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export async function startControllerProcess(opts: {
  kubeconfig: string;
  namespace: string;
  cacheDir: string;
  identity: string;
  logDir: string;
  leaseName?: string;
  /** Run the rollout executor too (default off: sync tests share the cluster with other tests' nodes). */
  rollout?: 'on' | 'off';
  leaseDuration?: string;
  renewDeadline?: string;
  retryPeriod?: string;
  logLevel?: string;
  /** Run the compiled controller (dist/controller/main.js, from `tsc -p tsconfig.build.json`) as production does, not through tsx. */
  compiled?: boolean;
  /**
   * Test-only injected rollout clock: a file holding an ISO 8601 instant. Runs the test entry
   * controller/testing/main-with-clock.ts (through tsx): the production binary has no such flag.
   */
  clockFile?: string;
  /** Options for `node` itself (e.g. the image's --optimize-for-size), placed before the script. */
  nodeOptions?: string[];
  /** More controller flags, appended as given. */
  args?: string[];
  /** Extra environment (e.g. the Deployment's MALLOC_ARENA_MAX). */
  env?: Record<string, string>;
}): Promise<ControllerProcess> {
  const [metricsPort, healthPort, webhookPort] = [await freePort(), await freePort(), await freePort()];
  const logFile = path.join(opts.logDir, `controller-${opts.identity}.log`);
  const out = fs.openSync(logFile, 'a');
  if (opts.compiled && opts.clockFile) throw new Error('startControllerProcess: the compiled controller has no clock seam; drop compiled or clockFile');
  const source = opts.clockFile ? 'controller/testing/main-with-clock.ts' : 'controller/main.ts';
  const entry = opts.compiled ? [path.join(repoRoot, 'dist/controller/main.js')] : ['--import', 'tsx', path.join(repoRoot, source)];
  const args = [
    ...(opts.nodeOptions ?? []),
    ...entry,
    '--kubeconfig',
    opts.kubeconfig,
    '--namespace',
    opts.namespace,
    '--cache-dir',
    opts.cacheDir,
    '--identity',
    opts.identity,
    '--metrics-addr',
    `127.0.0.1:${metricsPort}`,
    '--health-addr',
    `127.0.0.1:${healthPort}`,
    '--webhook-addr',
    `127.0.0.1:${webhookPort}`,
    '--rollout', opts.rollout ?? 'off',
    '--log-level',
    opts.logLevel ?? 'debug',
    '--lease-name',
    opts.leaseName ?? 'osfleet-controller',
    ...(opts.leaseDuration ? ['--lease-duration', opts.leaseDuration] : []),
    ...(opts.renewDeadline ? ['--renew-deadline', opts.renewDeadline] : []),
    ...(opts.retryPeriod ? ['--retry-period', opts.retryPeriod] : []),
    ...(opts.clockFile ? ['--clock-file', opts.clockFile] : []),
    ...(opts.args ?? []),
  ];
  const proc = spawn(process.execPath, args, { cwd: repoRoot, stdio: ['ignore', out, out], env: { ...process.env, ...opts.env, KUBECONFIG: '' } });
  fs.closeSync(out);
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const healthUrl = `http://127.0.0.1:${healthPort}`;
  const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
  const cp: ControllerProcess = {
    proc,
    pid: proc.pid!,
    identity: opts.identity,
    webhookUrl: (name) => `http://127.0.0.1:${webhookPort}/hooks/${name}`,
    metricsUrl,
    healthUrl,
    logFile,
    async stop() {
      const t0 = Date.now();
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      const code = await exited;
      return { code, ms: Date.now() - t0 };
    },
    async kill9() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await exited;
    },
    async metric(name, labels = {}) {
      const text = await (await fetch(metricsUrl)).text();
      let sum = 0;
      for (const line of text.split('\n')) {
        if (!line.startsWith(name)) continue;
        const m = /^([a-zA-Z_:][\w:]*)(\{([^}]*)\})?\s+(\S+)$/.exec(line);
        if (!m || m[1] !== name) continue;
        const ls = Object.fromEntries([...(m[3] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
        if (Object.entries(labels).every(([k, v]) => ls[k] === v)) sum += Number(m[4]);
      }
      return sum;
    },
    logTail(lines = 40) {
      try {
        return fs.readFileSync(logFile, 'utf8').split('\n').slice(-lines).join('\n');
      } catch {
        return '';
      }
    },
  };
  // Ready = watches listed; fail fast with the log if the process dies first.
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`controller exited with ${proc.exitCode}:\n${cp.logTail()}`);
    try {
      const r = await fetch(`${healthUrl}/readyz`);
      if (r.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`controller not ready after 30s:\n${cp.logTail()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return cp;
}
