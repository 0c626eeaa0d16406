// The shipped catalogue (policies/*.yaml) is well-formed data, and the judging functions read it right.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { defaultCatalogue, judgeKernelArg, judgeSysctl, policiesDir, sysctlKeyProblem, sysctlNeedsReboot } from './catalogue.js';

describe('sysctl catalogue', () => {
  const raw = parse(readFileSync(join(policiesDir(), 'sysctl-catalogue.yaml'), 'utf8')) as { sysctls: Record<string, Record<string, unknown>> };

  it('covers at least 40 keys, each either forbidden with a reason or with apply and type', () => {
    const entries = Object.entries(raw.sysctls);
    expect(entries.length).toBeGreaterThanOrEqual(40);
    for (const [key, e] of entries) {
      expect(sysctlKeyProblem(key), key).toBeUndefined();
      if (e.forbidden !== undefined) {
        expect(typeof e.forbidden, key).toBe('string');
        continue;
      }
      expect(['live', 'reboot'], key).toContain(e.apply);
      expect(['integer', 'integers', 'string', 'enum'], key).toContain(e.type);
      expect(typeof e.description, key).toBe('string');
      for (const u of (e.unsafe as Array<Record<string, unknown>> | undefined) ?? []) expect(typeof u.reason, key).toBe('string');
    }
  });

  it('judges values by type, range, unsafe list and forbidden keys', () => {
    const cat = defaultCatalogue();
    expect(judgeSysctl(cat, 'net.ipv4.ip_forward', '1').kind).toBe('ok');
    expect(judgeSysctl(cat, 'net.ipv4.ip_forward', '0').kind).toBe('unsafe');
    expect(judgeSysctl(cat, 'vm.swappiness', 'lots')).toEqual({ kind: 'invalid', reason: '"lots" is not a whole number' });
    expect(judgeSysctl(cat, 'net.ipv4.tcp_rmem', '4096 87380')).toEqual({ kind: 'invalid', reason: 'expects 3 whole numbers separated by spaces, got 2' });
    expect(judgeSysctl(cat, 'net.ipv4.tcp_rmem', '4096   87380 6291456').kind).toBe('ok');
    expect(judgeSysctl(cat, 'kernel.core_pattern', '|/usr/bin/evil').kind).toBe('unsafe');
    expect(judgeSysctl(cat, 'kernel.modules_disabled', '1').kind).toBe('forbidden');
    expect(judgeSysctl(cat, 'net.example.unknown', '1').kind).toBe('unknown');
    expect(sysctlNeedsReboot(cat, 'vm.nr_hugepages')).toBe(true);
    expect(sysctlNeedsReboot(cat, 'net.core.somaxconn')).toBe(false);
    expect(sysctlNeedsReboot(cat, 'net.example.unknown')).toBe(false);
  });
});

describe('kernel-argument catalogue', () => {
  it('refuses boot-owned arguments, unsafe values and values outside the list', () => {
    const cat = defaultCatalogue();
    expect(judgeKernelArg(cat, 'root=/dev/sda2', true).kind).toBe('forbidden');
    expect(judgeKernelArg(cat, 'rw', false).kind).toBe('forbidden');
    expect(judgeKernelArg(cat, 'mitigations=off', true).kind).toBe('unsafe');
    expect(judgeKernelArg(cat, 'transparent_hugepage=sometimes', true)).toEqual({ kind: 'invalid', reason: '"sometimes" is not a value of transparent_hugepage; allowed: always, madvise, never' });
    expect(judgeKernelArg(cat, 'quiet=1', true).kind).toBe('invalid');
    expect(judgeKernelArg(cat, 'transparent_hugepage=never', true).kind).toBe('ok');
    expect(judgeKernelArg(cat, 'my_driver.option=1', true).kind).toBe('unknown');
  });
});
