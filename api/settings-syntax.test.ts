import { describe, expect, it } from 'vitest';
import { defaultCatalogue, judgeKernelArg } from '../render/catalogue.js';
import { BOOT_OWNED_KERNEL_ARGS, kernelArgProblem, sysctlKeyProblem } from './settings-syntax.js';
import { effectiveKernelArgs } from '../agent/kernel-args.js';
import { sysctlPath } from '../agent/sysctl.js';

describe('one settings syntax for validator and agent', () => {
  it('forbids in the catalogue every kernel argument the boot entry owns, so git cannot ask the agent for one', () => {
    const cat = defaultCatalogue();
    for (const name of BOOT_OWNED_KERNEL_ARGS) {
      expect(judgeKernelArg(cat, `${name}=x`, true).kind, name).toBe('forbidden');
      expect(() => effectiveKernelArgs([], { add: [`${name}=x`] })).toThrow(/osfleet boot entry/);
    }
  });

  it('refuses GRUB metacharacters in kernel arguments on both sides', () => {
    for (const arg of ['foo=$bar', 'a;b', 'x={y}', 'p=\\q']) {
      expect(kernelArgProblem(arg), arg).toMatch(/GRUB would interpret/);
      expect(() => effectiveKernelArgs([], { add: [arg] })).toThrow(/GRUB would interpret/);
    }
  });

  it('accepts a VLAN interface key (slash for a literal dot) and maps it to the right /proc/sys path', () => {
    expect(sysctlKeyProblem('net.ipv4.conf.eth0/100.forwarding')).toBeUndefined();
    expect(sysctlPath('/proc/sys', 'net.ipv4.conf.eth0/100.forwarding')).toBe('/proc/sys/net/ipv4/conf/eth0.100/forwarding');
  });

  it('refuses parts that would leave /proc/sys', () => {
    expect(sysctlKeyProblem('net.ipv4.conf./.x')).toMatch(/escape/);
    expect(sysctlKeyProblem('net.ipv4.conf.//.x')).toMatch(/escape/);
  });
});
