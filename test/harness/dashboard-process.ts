// `osfleet dashboard` as a child process (the user's view: a kubeconfig and nothing else), its URL
// read from its first line of output.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from './binaries.js';
import { osfleetArgv } from './osfleet-cli.js';

export interface DashboardProcess {
  url: string;
  pid: number;
  proc: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

/** `compiled`: run bin/osfleet.js (dist/, from `tsc -p tsconfig.build.json`) as users do, not the sources through tsx. */
export async function startDashboard(args: string[], opts: { compiled?: boolean } = {}): Promise<DashboardProcess> {
  const full = ['dashboard', '--port', '0', ...args];
  const [cmd, argv] = opts.compiled ? [process.execPath, [join(repoRoot, 'bin/osfleet.js'), ...full]] : osfleetArgv(full);
  const proc = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, KUBECONFIG: '' } });
  let out = '';
  proc.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  proc.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`dashboard printed no URL in 30s:\n${out}`)), 30_000);
    const check = () => {
      const m = /osfleet dashboard: (http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    proc.stdout!.on('data', check);
    proc.once('exit', (code) => reject(new Error(`dashboard exited with ${code}:\n${out}`)));
  });
  return {
    url,
    pid: proc.pid!,
    proc,
    output: () => out,
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      await exited;
    },
  };
}
