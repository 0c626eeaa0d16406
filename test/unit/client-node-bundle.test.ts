// The client-node bundle the build makes (hack/bundle-client-node.mjs on the compiled api/client-node.ts):
// self-contained, exporting exactly the shim's names as working classes, with the notices of what it holds.
// The compiled controller and agent run on it (sync test, VM story); this checks its shape on its own.
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
// Inside the repository, so the bundler resolves the package from its node_modules.
const work = join(repo, 'node_modules/.cache/osfleet-bundle-test', String(process.pid));
const target = join(work, 'api/client-node.js');

function run(file: string, args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((res) => {
    const p = execFile(process.execPath, [file, ...args], { cwd: repo, maxBuffer: 16 << 20 }, (err, stdout, stderr) =>
      res({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
    if (input !== undefined) p.stdin!.end(input);
  });
}

const shimSource = readFileSync(join(repo, 'api/client-node.ts'), 'utf8');
const shimNames = [.../export\s*\{([^}]*)\}\s*from\s*'@kubernetes\/client-node'/.exec(shimSource)![1]!.matchAll(/\b([A-Za-z0-9_]+)\b/g)]
  .map((m) => m[1]!)
  .sort();

let bundled: { code: number; stdout: string; stderr: string };

beforeAll(async () => {
  mkdirSync(dirname(target), { recursive: true });
  writeFileSync(target, ts.transpileModule(shimSource, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText);
  bundled = await run(join(repo, 'hack/bundle-client-node.mjs'), [target]);
}, 60_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('the client-node bundle', () => {
  it('replaces the re-exports with code that never loads the package itself', () => {
    expect(bundled.code, bundled.stderr).toBe(0);
    const text = readFileSync(target, 'utf8');
    expect(text.length).toBeGreaterThan(100_000);
    expect(text).not.toMatch(/(?:from\s*|import\(\s*|require\(\s*)["']@kubernetes\/client-node["']/);
  });

  it('exports exactly the names of api/client-node.ts, and they work', async () => {
    expect(shimNames).toContain('KubeConfig');
    const probe = `
      const m = await import(${JSON.stringify(target)});
      const kc = new m.KubeConfig();
      kc.loadFromOptions({
        clusters: [{ name: 'c', server: 'https://127.0.0.1:6443', skipTLSVerify: false }],
        users: [{ name: 'u', token: 'abc' }],
        contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
        currentContext: 'x',
      });
      const headers = {};
      await kc.applyToHTTPSOptions({ headers });
      console.log(JSON.stringify({
        names: Object.keys(m).sort(),
        server: kc.getCurrentCluster().server,
        auth: headers.Authorization,
        lease: typeof kc.makeApiClient(m.CoordinationV1Api).readNamespacedLease,
        custom: typeof kc.makeApiClient(m.CustomObjectsApi).patchClusterCustomObjectStatus,
        objects: typeof m.KubernetesObjectApi.makeApiClient(kc).patch,
        watch: typeof new m.Watch(kc).watch,
        merge: m.PatchStrategy.MergePatch,
      }));`;
    const r = await run('--input-type=module', ['-'], probe);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      names: shimNames,
      server: 'https://127.0.0.1:6443',
      auth: 'Bearer abc',
      lease: 'function',
      custom: 'function',
      objects: 'function',
      watch: 'function',
      merge: 'application/merge-patch+json',
    });
  });

  it('comes with the licence of every package bundled into it', () => {
    const notices = readFileSync(`${target}.LICENSES.txt`, 'utf8');
    const version = (JSON.parse(readFileSync(join(repo, 'node_modules/@kubernetes/client-node/package.json'), 'utf8')) as { version: string }).version;
    expect(notices).toContain(`@kubernetes/client-node@${version} (Apache-2.0)`);
    expect(notices).toContain('Apache License');
    // Its watch and request code rides on these; each must be listed with its text.
    for (const dep of ['ws@', 'undici@', 'js-yaml@']) expect(notices).toContain(`\n${dep}`);
  });

  it('leaves an already bundled file as it is (a second build step is harmless)', async () => {
    const before = readFileSync(target, 'utf8');
    const again = await run(join(repo, 'hack/bundle-client-node.mjs'), [target]);
    expect(again.code, again.stderr).toBe(0);
    expect(readFileSync(target, 'utf8')).toBe(before);
  });

  it('refuses a file that is neither the shim nor its bundle, naming it', async () => {
    const other = join(work, 'other.js');
    writeFileSync(other, 'export const x = 1;\n');
    const r = await run(join(repo, 'hack/bundle-client-node.mjs'), [other]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${other}: expected re-exports from @kubernetes/client-node`);
  });
});
