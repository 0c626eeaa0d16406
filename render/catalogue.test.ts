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
      expect(sysctlKeyProblem(key.replace(/\.\*$/, '')), key).toBeUndefined();
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

describe('catalogue gaps found by review: programs the kernel or init runs as root', () => {
  const cat = defaultCatalogue();

  it('forbids every sysctl that names a program the kernel runs as root, and what configures those programs', () => {
    for (const key of ['kernel.modprobe', 'kernel.poweroff_cmd', 'kernel.hotplug', 'kernel.usermodehelper.bset', 'kernel.usermodehelper.inheritable', 'fs.binfmt_misc.register', 'fs.binfmt_misc.status']) {
      expect(judgeSysctl(cat, key, '/tmp/x').kind, key).toBe('forbidden');
    }
    // A prefix entry covers keys under it, not keys that merely start with the same letters.
    expect(judgeSysctl(cat, 'fs.binfmt_miscellaneous', '1').kind).toBe('unknown');
  });

  it('forbids kernel arguments that replace init, choose its target or open a root shell, however "-" and "_" are written', () => {
    const args = [
      'init=/bin/sh', 'rdinit=/bin/sh', 'systemd.unit=emergency.target', 'rd.systemd.unit=emergency.target', 'systemd.wants=debug-shell.service',
      'systemd.mask=kubelet.service', 'systemd.debug_shell', 'systemd.debug-shell', 'systemd.debug_shell=1', 'rd.systemd.debug_shell',
      'systemd.setenv=LD_PRELOAD=/x.so', 'systemd.run=/bin/sh', 'rd.break', 'rd.shell', 'rd.emergency=reboot',
      'single', 'emergency', 'rescue', 's', 'S', '1', '3', 'lsm=landlock', 'security=none',
    ];
    for (const arg of args) expect(judgeKernelArg(cat, arg, true).kind, arg).toBe('forbidden');
    expect(judgeKernelArg(cat, 'transparent-hugepage=never', true).kind).toBe('ok');
    expect(judgeKernelArg(cat, 'module.sig_enforce=0', true).kind).toBe('unsafe');
  });
});
