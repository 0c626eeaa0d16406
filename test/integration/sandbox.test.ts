// `npm run sandbox` as a person runs it: one command brings up its own control plane, git server,
// controller, simulated nodes and dashboard; what it prints works (dashboard, kubectl, git push),
// the rollout moves under the fast clock, and Ctrl-C takes everything down.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../harness/binaries.js';
import { git, until } from '../harness/index.js';

const run = promisify(execFile);
let proc: ChildProcess;
let out = '';
const line = (re: RegExp) => re.exec(out)?.[1];

interface State {
  sources: Array<{ name: string; ready: boolean; appliedRevision: string | null }>;
  oses: Array<{ name: string; updated: number; total: number }>;
}

beforeAll(async () => {
  // Thursday 00:50 Berlin: the workers' 01:00 window opens ten seconds later at ×600.
  proc = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'test/sandbox/main.ts'), '--fast', '600', '--port', '0', '--no-open', '--start', '2026-11-25T23:50:00Z', '--agent-delay', '300'], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  proc.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  await until('the sandbox to be up', async () => (out.includes('Ctrl-C stops everything.') ? true : proc.exitCode !== null ? Promise.reject(new Error(out)) : undefined), {
    timeoutMs: 120_000,
    onTimeout: () => out,
  });
}, 130_000);

afterAll(async () => {
  if (proc.exitCode === null) proc.kill('SIGKILL');
});

describe('npm run sandbox', () => {
  it('prints a dashboard that shows the example fleet and a rollout moving under the fast clock', async () => {
    const url = line(/dashboard: (http:\/\/127\.0\.0\.1:\d+\/)/)!;
    expect(url).toBeDefined();
    const state = await until('workers to update nodes', async () => {
      const s = (await (await fetch(`${url}api/state`)).json()) as State;
      return s.oses.find((o) => o.name === 'workers')!.updated > 0 ? s : undefined;
    }, { timeoutMs: 90_000, intervalMs: 500, onTimeout: () => out.slice(-3000) });
    expect(state.sources).toEqual([expect.objectContaining({ name: 'example', ready: true })]);
    expect(state.oses.map((o) => o.name)).toEqual(['control-plane', 'edge-tokyo', 'workers']);
    expect(await (await fetch(url)).text()).toContain('<script src="/app.js"');
  });

  it('prints a kubectl command that works', async () => {
    const cmd = line(/kubectl: +(\S+ --kubeconfig \S+)/)!;
    const [kubectl, , kubeconfig] = cmd.split(' ');
    const { stdout } = await run(kubectl!, ['--kubeconfig', kubeconfig!, 'get', 'os', '-o', 'name']);
    expect(stdout.trim().split('\n').sort()).toEqual(['os.osfleet.dev/control-plane', 'os.osfleet.dev/edge-tokyo', 'os.osfleet.dev/workers']);
  });

  it('prints a git clone to push to, and a push is applied', async () => {
    const work = line(/git: +cd (\S+)/)!;
    const url = line(/dashboard: (http:\/\/127\.0\.0\.1:\d+\/)/)!;
    await run('sed', ['-i', 's/net.core.somaxconn: .*/net.core.somaxconn: "32768"/', join(work, 'settings/workers.yaml')]);
    await git(['-c', 'user.name=test', '-c', 'user.email=test@example.com', 'commit', '-qam', 'more connections'], work);
    await git(['push', '-q', 'origin', 'HEAD:main'], work);
    const head = await git(['rev-parse', 'HEAD'], work);
    await until('the push to be applied', async () => {
      const s = (await (await fetch(`${url}api/state`)).json()) as State;
      return s.sources[0]?.appliedRevision === `main@sha1:${head}` ? true : undefined;
    }, { timeoutMs: 40_000, intervalMs: 500 });
  });

  it('stops everything on Ctrl-C', async () => {
    const url = line(/dashboard: (http:\/\/127\.0\.0\.1:\d+\/)/)!;
    const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
    proc.kill('SIGINT');
    expect(await exited).toBe(0);
    await expect(fetch(url)).rejects.toThrow();
  }, 60_000);
});
