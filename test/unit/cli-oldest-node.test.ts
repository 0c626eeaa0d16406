// The user commands of the CLI (validate, render, diff, plan --fleet) on the oldest Node that
// package.json `engines` admits, as a user runs them: the compiled CLI (`bin/osfleet.js`, dist/ as
// `npm run build` makes it) in a child process on exactly that Node (hack/node.sh provisions it).
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import { cp, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import git from 'isomorphic-git';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KUBE_CLIENT_MIN_NODE, olderThan } from '../../cli/node-version.js';

const run = promisify(execFile);
const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const examples = join(repo, 'examples/gitrepo');

/** The oldest version `engines.node` admits; the field must be a plain `>=X.Y.Z`, so that is exact. */
function oldestAdmitted(engines: string | undefined): string {
  const m = /^>=(\d+\.\d+\.\d+)$/.exec(engines?.trim() ?? '');
  if (!m) throw new Error(`package.json engines.node must read ">=X.Y.Z" (the oldest Node the CLI is tested on), got ${JSON.stringify(engines)}`);
  return m[1]!;
}

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

let app: string;
let nodeBin: string;
let oldest: string;
let clone: string;

async function osfleet(args: string[]): Promise<Result> {
  try {
    const { stdout, stderr } = await run(nodeBin, [join(app, 'bin/osfleet.js'), ...args], { cwd: app, timeout: 60_000, maxBuffer: 16 << 20, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: unknown; stdout?: string; stderr?: string; message: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? e.message };
  }
}

beforeAll(async () => {
  const pkg = JSON.parse(await readFile(join(repo, 'package.json'), 'utf8')) as { engines?: { node?: string } };
  oldest = oldestAdmitted(pkg.engines?.node);
  const { stdout } = await run('bash', [join(repo, 'hack/node.sh'), oldest], { cwd: repo, timeout: 300_000 });
  nodeBin = stdout.trim().split('\n').pop()!;

  app = await mkdtemp(join(tmpdir(), 'osfleet-oldest-node-'));
  for (const f of ['package.json', 'bin', 'policies']) await cp(join(repo, f), join(app, f), { recursive: true });
  await symlink(join(repo, 'node_modules'), join(app, 'node_modules'));
  await run(process.execPath, [join(repo, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--outDir', join(app, 'dist')], { cwd: repo, timeout: 240_000 });

  // A clone with two revisions for `diff`: the second bumps the control plane's OS version.
  clone = join(app, 'clone');
  await cp(examples, join(clone, 'fleet'), { recursive: true });
  const author = { name: 'test', email: 'test@example.com', timestamp: 1_700_000_000, timezoneOffset: 0 };
  await git.init({ fs, dir: clone, defaultBranch: 'main' });
  await git.add({ fs, dir: clone, filepath: '.' });
  await git.commit({ fs, dir: clone, message: 'base', author });
  const policy = join(clone, 'fleet/rollout/control-plane.yaml');
  await writeFile(policy, (await readFile(policy, 'utf8')).replace('osVersion: openeuler-24.03-sp1', 'osVersion: openeuler-24.03-sp2'));
  await git.add({ fs, dir: clone, filepath: '.' });
  await git.commit({ fs, dir: clone, message: 'bump', author });
}, 360_000);

afterAll(async () => {
  if (app) await rm(app, { recursive: true, force: true });
});

describe('the CLI on the oldest Node that engines admits', () => {
  it('runs on exactly that version', async () => {
    const { stdout } = await run(nodeBin, ['--version']);
    expect(stdout.trim()).toBe(`v${oldest}`);
  });

  it('validate: exits 0 for the examples', async () => {
    const r = await osfleet(['validate', examples]);
    expect(r, r.stderr).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toMatch(/valid — 8 documents in 7 files, 0 warnings/);
  });

  it('render: prints the OS and OSConfig objects', async () => {
    const r = await osfleet(['render', examples, '--revision', 'abc']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^kind: OS$/m);
    expect(r.stdout).toMatch(/^kind: OSConfig$/m);
  });

  it('diff: reports the version bump between two commits', async () => {
    const r = await osfleet(['diff', join(clone, 'fleet'), '--from', 'HEAD~1', '--to', 'HEAD']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('| `control-plane` | nodes matching `node-role.kubernetes.io/control-plane` | `24.03-SP1` (openeuler-24.03-sp1) | `24.03-SP2` (openeuler-24.03-sp2) |');
  });

  it('plan --fleet: the control plane reboots in its Sunday window, one node per batch', async () => {
    const fleet = join(repo, 'examples/fleet.yaml');
    const r = await osfleet(['plan', join(clone, 'fleet'), '--fleet', fleet, '--from', 'HEAD~1', '--to', 'HEAD', '--now', '2026-11-25T12:00:00Z', '--format', 'json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { policies: Array<{ name: string; batches: Array<{ nodes: string[]; start: string | null }> }> };
    const started = out.policies.find((p) => p.name === 'control-plane')!.batches.filter((b) => b.start !== null);
    expect(started.map((b) => b.nodes)).toEqual([['cp-1'], ['cp-2'], ['cp-3']]);
    // Sunday 29 Nov 2026, 03:00 Europe/Berlin (CET, UTC+1): time zones work on this Node's ICU too.
    expect(started[0]!.start).toBe('2026-11-29T02:00:00.000Z');
  });

  it('commands that talk to Kubernetes say which Node they need, when this one is older than the client library needs', async () => {
    const needsNewer = olderThan(oldest, KUBE_CLIENT_MIN_NODE);
    for (const args of [['controller', '--help'], ['agent', '--help'], ['status', '--help'], ['dashboard', '--help'], ['plan', examples, '--kubeconfig', join(app, 'no-such-kubeconfig')]]) {
      const r = await osfleet(args);
      if (needsNewer) {
        expect(r.code, args.join(' ')).toBe(1);
        expect(r.stderr).toMatch(new RegExp(`^osfleet: osfleet ${args[0]}.* needs Node\\.js ${KUBE_CLIENT_MIN_NODE.replace(/\./g, '\\.')} or newer .* this is v${oldest.replace(/\./g, '\\.')}\n$`));
      } else {
        expect(r.stderr, args.join(' ')).not.toMatch(/needs Node\.js/);
      }
    }
  });
});
