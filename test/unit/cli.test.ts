// The CLI through a real child process: exit codes (0 ok, 1 invalid, 2 usage), and what goes to
// stdout (results) versus stderr (diagnostics).
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import git from 'isomorphic-git';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const examples = join(repo, 'examples/gitrepo');
const entry = join(repo, 'test/unit/osfleet-from-source.ts');

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function osfleet(args: string[], cwd = repo): Promise<Result> {
  return new Promise((done) => {
    execFile(process.execPath, ['--import', 'tsx', entry, ...args], { cwd, timeout: 60_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : -1) : 0;
      done({ code, stdout, stderr });
    });
  });
}

let tmp: string;
let bad: string;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'osfleet-cli-'));
  bad = join(tmp, 'bad');
  await cp(examples, bad, { recursive: true });
  await writeFile(join(bad, 'settings/broken.yaml'), 'apiVersion: osfleet.dev/v1alpha1\nkind: NodeSettings\nmetadata: {name: broken}\nspec:\n  nodeSelector: {}\n  sysctl: {vm.swappiness: 300}\n');
});

afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('osfleet', () => {
  it('prints usage on --help and exits 0; an unknown command exits 2 on stderr', async () => {
    const help = await osfleet(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/usage: osfleet <command>/);
    const unknown = await osfleet(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stdout).toBe('');
    expect(unknown.stderr).toMatch(/unknown command "frobnicate"/);
  });
});

describe('osfleet validate', () => {
  it('exits 0 for the examples, with a summary on stdout and nothing on stderr', async () => {
    const r = await osfleet(['validate', examples]);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toMatch(/valid — 8 documents in 7 files, 0 warnings/);
  });

  it('exits 1 with file:line:col errors on stderr and nothing on stdout', async () => {
    const r = await osfleet(['validate', bad]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.split('\n')[0]).toBe('settings/broken.yaml:6:27: error: spec.sysctl["vm.swappiness"]: invalid value for vm.swappiness: 300 is above the maximum 200 (allowed: 0..200)');
  });

  it('writes JSON on stdout with --format json', async () => {
    const r = await osfleet(['validate', bad, '--format', 'json']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout) as { valid: boolean; errors: Array<{ path: string; line: number; col: number }> };
    expect(out.valid).toBe(false);
    expect(out.errors[0]).toMatchObject({ path: 'settings/broken.yaml', line: 6, col: 27, severity: 'error' });
  });

  it('exits 2 for wrong usage: a missing directory, an unknown option, a bad --format', async () => {
    for (const args of [['validate', join(tmp, 'nope')], ['validate', '--colour'], ['validate', '--format', 'xml'], ['validate', 'a', 'b']]) {
      const r = await osfleet(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/^osfleet: .*\n\nusage: osfleet validate/);
    }
  });

  it('explains itself with --help', async () => {
    const r = await osfleet(['validate', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/exit status: 0 valid/);
  });
});

describe('osfleet render', () => {
  it('prints multi-document YAML of OS and OSConfig objects on stdout', async () => {
    const r = await osfleet(['render', examples, '--revision', 'abc']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const docs = parseAllDocuments(r.stdout).map((d) => d.toJS() as { kind: string; metadata: { name: string } });
    expect(docs.map((d) => `${d.kind}/${d.metadata.name}`)).toEqual(['OS/control-plane', 'OS/edge-tokyo', 'OS/workers', 'OSConfig/base', 'OSConfig/gpu-a100', 'OSConfig/workers']);
  });

  it('writes one file per object with -o', async () => {
    const out = join(tmp, 'out');
    const r = await osfleet(['render', examples, '-o', out]);
    expect(r.code).toBe(0);
    expect((await readdir(out)).sort()).toEqual(['os-control-plane.yaml', 'os-edge-tokyo.yaml', 'os-workers.yaml', 'osconfig-base.yaml', 'osconfig-gpu-a100.yaml', 'osconfig-workers.yaml']);
    expect(await readFile(join(out, 'os-workers.yaml'), 'utf8')).toMatch(/^apiVersion: osfleet.dev\/v1alpha1\nkind: OS\n/);
  });

  it('prints nothing on stdout and exits 1 when the repository has errors', async () => {
    const r = await osfleet(['render', bad]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/settings\/broken\.yaml:6:27: error: /);
  });
});

describe('osfleet diff', () => {
  let clone: string;
  const author = { name: 'test', email: 'test@example.com', timestamp: 1_700_000_000, timezoneOffset: 0 };

  beforeAll(async () => {
    clone = join(tmp, 'clone');
    await cp(examples, join(clone, 'fleet'), { recursive: true });
    await git.init({ fs, dir: clone, defaultBranch: 'main' });
    await git.add({ fs, dir: clone, filepath: '.' });
    await git.commit({ fs, dir: clone, message: 'base', author });
    const policy = join(clone, 'fleet/rollout/control-plane.yaml');
    await writeFile(policy, (await readFile(policy, 'utf8')).replace('osVersion: openeuler-24.03-sp1', 'osVersion: openeuler-24.03-sp2'));
    const workers = join(clone, 'fleet/settings/workers.yaml');
    await writeFile(workers, (await readFile(workers, 'utf8')).replace('vm.max_map_count: 262144', 'vm.max_map_count: 524288\n    vm.nr_hugepages: 64\n    net.ipv4.tcp_fastopen: "3"'));
    await git.add({ fs, dir: clone, filepath: '.' });
    await git.commit({ fs, dir: clone, message: 'bump control plane', author });
  });

  it('writes a Markdown report of the change between two commits', async () => {
    const r = await osfleet(['diff', join(clone, 'fleet'), '--from', 'HEAD~1', '--to', 'HEAD']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^## osfleet: what this change does to the fleet/);
    expect(r.stdout).toContain('| `control-plane` | nodes matching `node-role.kubernetes.io/control-plane` | `24.03-SP1` (openeuler-24.03-sp1) | `24.03-SP2` (openeuler-24.03-sp2) |');
    expect(r.stdout).toContain('| sysctl `vm.nr_hugepages` | — → `64` | **after reboot** |');
    expect(r.stdout).toContain('| sysctl `vm.max_map_count` | `262144` → `524288` | live, no reboot |');
    expect(r.stdout).toContain('- sysctl `net.ipv4.tcp_fastopen` in `workers`');
    // The changed policy's windows ahead, as a chart.
    expect(r.stdout).toMatch(/#### control-plane\n\n```mermaid\ngantt\n/);
  });

  it('compares with the working tree when --to is left out, and exits 1 when it has errors', async () => {
    await writeFile(join(clone, 'fleet/settings/broken.yaml'), 'apiVersion: osfleet.dev/v1alpha1\nkind: NodeSettings\nmetadata: {name: broken}\nspec: {nodeSelector: {}, sysctl: {vm.swappiness: 300}}\n');
    const r = await osfleet(['diff', join(clone, 'fleet'), '--from', 'HEAD']);
    await rm(join(clone, 'fleet/settings/broken.yaml'));
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('### ❌ Validation errors in the new revision');
    expect(r.stdout).toContain('settings/broken.yaml:4:50: error: spec.sysctl["vm.swappiness"]');
  });

  it('plans the change between two commits: the control plane reboots in its Sunday window, one node per batch', async () => {
    const fleet = join(repo, 'examples/fleet.yaml');
    const r = await osfleet(['plan', join(clone, 'fleet'), '--fleet', fleet, '--from', 'HEAD~1', '--to', 'HEAD', '--now', '2026-11-25T12:00:00Z', '--format', 'json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { policies: Array<{ name: string; batches: Array<{ index: number; nodes: string[]; start: string | null; reboot: string[] }> }> };
    const cp = out.policies.find((p) => p.name === 'control-plane')!;
    const started = cp.batches.filter((b) => b.start !== null);
    expect(started.map((b) => b.nodes)).toEqual([['cp-1'], ['cp-2'], ['cp-3']]);
    // Sunday 29 Nov 2026, 03:00 Europe/Berlin (CET, UTC+1).
    expect(started[0]!.start).toBe('2026-11-29T02:00:00.000Z');
    expect(started.every((b) => b.reboot.length === b.nodes.length)).toBe(true);
  });

  it("the README's main job (`plan examples/gitrepo --fleet examples/fleet.yaml`) prints a Markdown plan a reviewer can read", async () => {
    const r = await osfleet(['plan', 'examples/gitrepo', '--fleet', 'examples/fleet.yaml', '--now', '2026-12-01T12:00:00Z']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    const md = r.stdout;
    expect(md).toMatch(/^## osfleet rollout plan\n/);
    // Why the control plane reboots although its version stays: its settings need a reboot.
    expect(md).toContain('### control-plane → 24.03-SP1\n\n3 node(s) selected: 0 change OS version, 3 change settings (3 need a reboot: kernel arguments or boot-time sysctls).');
    // Sunday 6 Dec 2026, 03:00 in Berlin (CET) is 02:00 UTC; one node per batch, canary first.
    expect(md).toContain('| 1 (canary) | 2026-12-06T03:00:00+01:00 | 2026-12-06T02:00:00.000Z | `cp-1` | all |');
    expect(md).toContain('| 3 | 2026-12-06T05:00:00+01:00 | 2026-12-06T04:00:00.000Z | `cp-3` | all |');
    // Tokyo's night window, in its own zone and in UTC; 25% of 3 nodes adds no node after the canary.
    expect(md).toContain('| 1 (canary) | 2026-12-02T02:30:00+09:00 | 2026-12-01T17:30:00.000Z | `edge-tokyo-1` | all |');
    expect(md).toContain('Batch 2 adds no node: its share of 3 node(s) rounds to no more than the batch before.');
    expect(md).toContain('Deny windows: every 15 Dec at 00:00 for 504h (Europe/Berlin).');
  });

  it('plan refuses to run without a fleet and exits 2', async () => {
    const r = await osfleet(['plan', examples]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--fleet FILE or --kubeconfig PATH/);
  });

  it('exits 2 for an unknown revision or a missing --from', async () => {
    const unknown = await osfleet(['diff', join(clone, 'fleet'), '--from', 'nope']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/revision "nope" not found/);
    const missing = await osfleet(['diff', join(clone, 'fleet')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--from REV is required/);
  });
});

describe('osfleet dashboard and status without a usable kubeconfig', () => {
  it('exit 1 and say which kubeconfig is wrong, instead of an internal error', async () => {
    const missing = join(tmp, 'no-such-kubeconfig');
    for (const cmd of ['dashboard', 'status']) {
      const r = await osfleet([cmd, '--kubeconfig', missing, ...(cmd === 'dashboard' ? ['--port', '0'] : [])]);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toBe(`osfleet ${cmd}: kubeconfig ${missing}: ENOENT: no such file or directory, open '${missing}'\n`);
    }
  });
});

describe('osfleet image', () => {
  it('without a subcommand: usage on stderr, exit 2', async () => {
    const r = await osfleet(['image']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/missing subcommand/);
    expect(r.stderr).toContain('usage: osfleet image build');
  });

  it('build refuses bad input before doing anything: missing version, bad version, bad URL, bad health checks', async () => {
    const missing = await osfleet(['image', 'build', '--url-base', 'https://images.example.com']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('--version and --url-base are required');
    const badVersion = await osfleet(['image', 'build', '--version', '../x', '--url-base', 'https://images.example.com']);
    expect(badVersion.code).toBe(1);
    expect(badVersion.stderr).toMatch(/--version "\.\.\/x": use letters, digits/);
    const badUrl = await osfleet(['image', 'build', '--version', '1.0', '--url-base', 'https://user:pw@images.example.com']);
    expect(badUrl.code).toBe(1);
    expect(badUrl.stderr).toContain('--url-base must not carry credentials');
    const dir = await mkdtemp(join(tmpdir(), 'osfleet-image-cli-'));
    await writeFile(join(dir, 'checks.json'), '{"checks": [{"name": "x"}]}');
    const badChecks = await osfleet(['image', 'build', '--version', '1.0', '--url-base', 'https://images.example.com', '--health-checks', join(dir, 'checks.json')]);
    expect(badChecks.code).toBe(1);
    expect(badChecks.stderr).toMatch(/health checks: checks\[0\]/);
    await rm(dir, { recursive: true, force: true });
  });

  it('unknown options are usage errors (exit 2)', async () => {
    const r = await osfleet(['image', 'build', '--versoin', '1.0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/Unknown option '--versoin'/);
  });
});
