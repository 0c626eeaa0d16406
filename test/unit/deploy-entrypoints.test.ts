// The container images run `node /app/bin/osfleet.js <controller|agent>` from a
// production-only install. This rebuilds that layout in a temp dir (package
// files, bin/, a fresh dist/ compiled and bundled as `npm run build` does, and
// `npm ci --omit=dev --ignore-scripts`), so a runtime import of a dev
// dependency, or a file the image does not copy, fails here and not in a cluster.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { imageNodeFlags } from '../harness/dockerfile.js';

const run = promisify(execFile);
const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

async function exec(cmd: string, args: string[], cwd: string, timeoutMs = 120_000): Promise<Result> {
  try {
    const { stdout, stderr } = await run(cmd, args, { cwd, timeout: timeoutMs, maxBuffer: 16 << 20, env: cleanEnv() });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: unknown; stdout?: string; stderr?: string; message: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? e.message };
  }
}

// The image has no dev tooling around it: keep the test's own NODE_OPTIONS,
// loaders and vitest variables away from the child processes.
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const k of ['PATH', 'HOME', 'TMPDIR', 'LANG']) if (process.env[k] !== undefined) env[k] = process.env[k];
  env.NODE_ENV = 'production';
  return env;
}

describe('image entrypoints from a production-only install', () => {
  let app: string;
  let install: Result;
  let build: Result;
  let bundle: Result;

  beforeAll(async () => {
    app = await mkdtemp(join(tmpdir(), 'osfleet-image-'));
    // What the Dockerfiles' runtime stages copy.
    for (const f of ['package.json', 'package-lock.json', 'bin', 'policies']) {
      await cp(join(repo, f), join(app, f), { recursive: true });
    }
    build = await exec(process.execPath, [join(repo, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--outDir', join(app, 'dist')], repo);
    // The build's second step (package.json "build"): the client-node bundle, from this checkout's packages.
    bundle = await exec(process.execPath, [join(repo, 'hack/bundle-client-node.mjs'), join(app, 'dist/api/client-node.js')], repo);
    const npmArgs = ['ci', '--omit=dev', '--ignore-scripts', '--offline', '--no-audit', '--no-fund'];
    install = await exec('npm', npmArgs, app);
    if (install.code !== 0 && /ENOTCACHED/.test(install.stderr)) {
      // The lock file has no `resolved` URLs, so npm asks for each package's
      // metadata. A cache warmed by `npm install` holds the full documents,
      // which npm ci only looks up when `--before` is set; a date far ahead
      // filters out nothing.
      install = await exec('npm', [...npmArgs, '--before=2999-01-01'], app);
    }
  }, 240_000);

  afterAll(async () => {
    if (app) await rm(app, { recursive: true, force: true });
  });

  it('compiles as the image build does (`npm run build`)', () => {
    expect(build.code, `tsc -p tsconfig.build.json failed, so the image build would too:\n${build.stdout}${build.stderr}`).toBe(0);
  });

  it('bundles the client-node re-exports as the image build does', async () => {
    expect(bundle.code, bundle.stderr).toBe(0);
    expect(await readFile(join(app, 'dist/api/client-node.js'), 'utf8')).toMatch(/^\/\/ osfleet: bundled @kubernetes\/client-node/);
  });

  it('installs the production dependencies offline without running scripts', () => {
    expect(install.code, install.stderr).toBe(0);
  });

  it('leaves test-only packages out of the image (cron-parser is the windows tests\' oracle)', () => {
    expect(install.code, install.stderr).toBe(0);
    for (const pkg of ['cron-parser', 'vitest', 'fast-json-patch']) expect(existsSync(join(app, 'node_modules', pkg)), pkg).toBe(false);
    // client-node ships inside dist/api/client-node.js (ADR 0006), not as a package.
    expect(existsSync(join(app, 'node_modules/@kubernetes/client-node')), '@kubernetes/client-node').toBe(false);
  });

  it('runs the Kubernetes client from the bundle alone: a kubeconfig loads and its token reaches the request', async () => {
    const probe = [
      "const { KubeConfig, CoordinationV1Api } = await import('./dist/api/client-node.js');",
      "const { PooledKubeConfig } = await import('./dist/agent/kube-config.js');",
      'const kc = new PooledKubeConfig();',
      "kc.loadFromOptions({ clusters: [{ name: 'c', server: 'https://127.0.0.1:6443' }], users: [{ name: 'u', token: 't0k' }], contexts: [{ name: 'x', cluster: 'c', user: 'u' }], currentContext: 'x' });",
      'const o = { headers: {} };',
      'await kc.applyToHTTPSOptions(o);',
      "console.log(kc instanceof KubeConfig, o.headers.Authorization, typeof kc.makeApiClient(CoordinationV1Api).readNamespacedLease);",
    ].join('\n');
    const r = await exec(process.execPath, ['--input-type=module', '-e', probe], app, 30_000);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('true Bearer t0k function');
  });

  it('`node bin/osfleet.js --help` exits 0 and prints usage', async () => {
    const r = await exec(process.execPath, ['bin/osfleet.js', '--help'], app, 30_000);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/usage: osfleet/);
  });

  it('finds package.json where the image puts it (`--version`)', async () => {
    const r = await exec(process.execPath, ['bin/osfleet.js', '--version'], app, 30_000);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^osfleet \d+\.\d+\.\d+/);
  });

  it('ships no test seam: the production controller refuses --clock-file, and no built file can read a fake clock', async () => {
    const clock = join(app, 'clock');
    await writeFile(clock, '2026-01-01T00:00:00Z\n');
    const r = await exec(process.execPath, ['bin/osfleet.js', 'controller', '--clock-file', clock, '--kubeconfig', join(app, 'none')], app, 30_000);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/Unknown option '--clock-file'/);
    const built = await readdir(join(app, 'dist'), { recursive: true });
    expect(built.filter((f) => /testing|file-clock/.test(f))).toEqual([]);
    // The controller's own files: nothing there reads a fake clock. (The read-only `osfleet status`
    // and `dashboard` take --clock-file to show a test's "now"; they change nothing in a cluster.)
    for (const f of built.filter((f) => f.startsWith('controller') && f.endsWith('.js'))) {
      expect(await readFile(join(app, 'dist', f), 'utf8'), f).not.toMatch(/clock-file|FileClock/);
    }
  });

  for (const cmd of ['controller', 'agent']) {
    it(`\`node bin/osfleet.js ${cmd} --help\` (${cmd}.Dockerfile ENTRYPOINT) exits 0 with its usage`, async () => {
      // With the image's own Node options, so a flag this Node does not know fails here.
      const r = await exec(process.execPath, [...imageNodeFlags(cmd as 'controller' | 'agent'), 'bin/osfleet.js', cmd, '--help'], app, 30_000);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`usage: osfleet ${cmd}`));
    });
  }
});
