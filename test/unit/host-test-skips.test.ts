// Host-level tests may not pass by skipping where they must run: in CI and as root a missing
// capability fails the test file. Checked on a real test file run by vitest in a child process,
// with the capability hidden through the test-only OSFLEET_TEST_HIDE_CAPABILITY seam.
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { hostTestsRequired, skipUnlessRequired } from '../../agent/testing/host-capabilities.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const run = promisify(execFile);

async function vitestFile(file: string, env: Record<string, string>): Promise<{ code: number; out: string }> {
  const base: Record<string, string> = {};
  for (const k of ['PATH', 'HOME', 'TMPDIR', 'LANG']) if (process.env[k] !== undefined) base[k] = process.env[k]!;
  try {
    const r = await run(process.execPath, [join(repo, 'node_modules/vitest/vitest.mjs'), 'run', file], { cwd: repo, env: { ...base, ...env }, timeout: 120_000 });
    return { code: 0, out: r.stdout + r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

describe('when a host-level test may skip', () => {
  it('only outside CI, as a normal user, or when asked to with OSFLEET_HOST_TESTS=optional (never in CI)', () => {
    expect(hostTestsRequired({}, 1000)).toBeUndefined();
    expect(hostTestsRequired({ CI: 'true' }, 1000)).toBe('CI is set');
    expect(hostTestsRequired({ CI: 'true', OSFLEET_HOST_TESTS: 'optional' }, 0)).toBe('CI is set');
    expect(hostTestsRequired({}, 0)).toBe('the tests run as root');
    expect(hostTestsRequired({ OSFLEET_HOST_TESTS: 'optional' }, 0)).toBeUndefined();
    expect(hostTestsRequired({ OSFLEET_HOST_TESTS: 'required' }, 1000)).toBe('OSFLEET_HOST_TESTS=required');
    expect(() => skipUnlessRequired('loop tests', 'no loop device', { CI: '1' }, 0)).toThrow(/loop tests cannot run: no loop device\. CI is set/);
    expect(skipUnlessRequired('loop tests', undefined, { CI: '1' }, 0)).toBeUndefined();
  });

  it('a real host test file fails in CI when its capability is missing, and skips only when allowed', async () => {
    const ci = await vitestFile('agent/grubenv.test.ts', { CI: 'true', OSFLEET_TEST_HIDE_CAPABILITY: 'grub-editenv' });
    expect(ci.code, ci.out).not.toBe(0);
    expect(ci.out).toContain('grub-editenv compatibility tests cannot run: grub-editenv hidden by OSFLEET_TEST_HIDE_CAPABILITY. CI is set');
    const local = await vitestFile('agent/grubenv.test.ts', { OSFLEET_HOST_TESTS: 'optional', OSFLEET_TEST_HIDE_CAPABILITY: 'grub-editenv' });
    expect(local.code, local.out).toBe(0);
    expect(local.out).toMatch(/skipped/);
  }, 240_000);

  it('every test file that skips on a host capability decides through skipUnlessRequired', () => {
    const files: string[] = [];
    const walk = (d: string): void => {
      for (const e of readdirSync(d)) {
        if (e === 'node_modules' || e === 'dist' || e.startsWith('.')) continue;
        const p = join(d, e);
        if (statSync(p).isDirectory()) walk(p);
        else if (e.endsWith('.test.ts')) files.push(p);
      }
    };
    walk(repo);
    const skipping = files.filter((f) => /\.skipIf\(|\.runIf\(|ctx\.skip\(|\.skip\(/.test(readFileSync(f, 'utf8')));
    expect(skipping.length).toBeGreaterThan(0);
    for (const f of skipping) expect(readFileSync(f, 'utf8'), relative(repo, f)).toContain('skipUnlessRequired(');
  });
});
