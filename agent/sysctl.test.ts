import { mkdirSync, readFileSync, readdirSync, existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applySysctls, normalizeSysctlValue, renderSysctlFile, sysctlKeyProblem, sysctlPath, SYSCTL_FILE, SYSCTL_ORIGINALS_FILE } from './sysctl.js';
import { cleanupTempDirs, createNetns, deleteNetns, netnsUnavailable, runTs, tempDir } from './testing/sandbox.js';
import { skipUnlessRequired } from './testing/host-capabilities.js';

afterAll(cleanupTempDirs);

describe('sysctl key mapping', () => {
  it('maps dotted keys to /proc/sys paths and "/" inside a segment to a literal dot', () => {
    expect(sysctlPath('/proc/sys', 'net.core.somaxconn')).toBe('/proc/sys/net/core/somaxconn');
    expect(sysctlPath('/proc/sys', 'net.ipv4.conf.eth0/100.forwarding')).toBe('/proc/sys/net/ipv4/conf/eth0.100/forwarding');
  });

  it.each([
    ['', 'empty'],
    ['net..core', 'contains ".."'],
    ['net.core.', 'ends with'],
    ['.net.core', 'starts with'],
    ['/etc/passwd', 'starts with'],
    ['net/ipv4/ip_forward', 'single part'],
    ['net.ipv4.conf./.x', 'escape'],
    ['net.ipv4.conf.//.x', 'escape'],
    ['net.core.so maxconn', 'whitespace'],
    ['net.core.x\0y', 'NUL'],
    ['net.core.a\nb', 'whitespace'],
    ['net.core.$(reboot)', 'may hold only'],
  ])('refuses %j (%s)', (key, why) => {
    expect(sysctlKeyProblem(key)).toContain(why);
    expect(() => sysctlPath('/proc/sys', key)).toThrow(/refused/);
  });

  it('renders one sorted file with normalized values', () => {
    expect(renderSysctlFile({ 'net.ipv4.ip_local_port_range': '1024\t65000', 'net.core.somaxconn': '4096' })).toBe(
      "# Written by the osfleet agent from the node's OSNode spec. Local edits are overwritten.\n" +
        'net.core.somaxconn = 4096\nnet.ipv4.ip_local_port_range = 1024 65000\n',
    );
    expect(normalizeSysctlValue(' 1  2\t3\n')).toBe('1 2 3');
  });
});

describe('sysctl apply against a fake /proc/sys tree', () => {
  it('refuses a path-escape key before writing anything, including the valid keys', async () => {
    const dir = tempDir();
    const procSys = path.join(dir, 'proc-sys');
    mkdirSync(path.join(procSys, 'net/core'), { recursive: true });
    writeFileSync(path.join(procSys, 'net/core/somaxconn'), '128\n');
    writeFileSync(path.join(dir, 'outside'), 'untouched');
    const persistDir = path.join(dir, 'persist');
    await expect(applySysctls({ procSysRoot: procSys, persistDir }, { 'net.core.somaxconn': '4096', 'net.//.//.outside': 'x' })).rejects.toThrow(
      /refusing to apply any sysctl: sysctl key "net\.\/\/\.\/\/\.outside"/,
    );
    expect(readFileSync(path.join(procSys, 'net/core/somaxconn'), 'utf8')).toBe('128\n');
    expect(readFileSync(path.join(dir, 'outside'), 'utf8')).toBe('untouched');
    expect(existsSync(persistDir)).toBe(false);
  });

  it('refuses unknown keys and bad values before writing anything', async () => {
    const dir = tempDir();
    const procSys = path.join(dir, 'proc-sys');
    mkdirSync(path.join(procSys, 'net/core'), { recursive: true });
    writeFileSync(path.join(procSys, 'net/core/somaxconn'), '128\n');
    const persistDir = path.join(dir, 'persist');
    await expect(applySysctls({ procSysRoot: procSys, persistDir }, { 'net.core.somaxconn': '4096', 'net.core.nope': '1' })).rejects.toThrow(/no such setting/);
    await expect(applySysctls({ procSysRoot: procSys, persistDir }, { 'net.core.somaxconn': '1\nkernel.x = 1' })).rejects.toThrow(/newline/);
    expect(readFileSync(path.join(procSys, 'net/core/somaxconn'), 'utf8')).toBe('128\n');
    expect(existsSync(path.join(persistDir, SYSCTL_FILE))).toBe(false);
  });
});

const noNetns = skipUnlessRequired('real sysctl tests (network namespace)', netnsUnavailable());

describe.skipIf(noNetns !== undefined)('sysctl apply in a real network namespace', () => {
  const ns = `osf-sysctl-${process.pid}`;
  let dir = '';
  beforeAll(() => {
    createNetns(ns);
    dir = tempDir();
  });
  afterAll(() => deleteNetns(ns));

  const keys = ['net.core.somaxconn', 'net.ipv4.ip_local_port_range', 'net.ipv4.conf.lo.forwarding'];
  async function apply(desired: Record<string, string>) {
    const r = await runTs('agent/testing/sysctl-child.ts', [JSON.stringify({ procSysRoot: '/proc/sys', persistDir: path.join(dir, 'persist'), desired, read: keys })], { netns: ns });
    expect(r.stderr).toBe('');
    return JSON.parse(r.stdout) as { report?: { applied: Record<string, string>; restored: Record<string, string> }; error?: string; before: Record<string, string>; after: Record<string, string> };
  }

  it('applies live and persists, then restores the pre-osfleet value of removed keys', async () => {
    const hostSomaxconn = readFileSync('/proc/sys/net/core/somaxconn', 'utf8');
    const first = await apply({ 'net.core.somaxconn': '1234', 'net.ipv4.ip_local_port_range': '20000\t40000', 'net.ipv4.conf.lo.forwarding': '1' });
    const original = first.before;
    expect(first.error).toBeUndefined();
    expect(first.after).toEqual({ 'net.core.somaxconn': '1234', 'net.ipv4.ip_local_port_range': '20000 40000', 'net.ipv4.conf.lo.forwarding': '1' });
    const file = readFileSync(path.join(dir, 'persist', SYSCTL_FILE), 'utf8');
    expect(file).toContain('net.core.somaxconn = 1234\n');
    expect(file).toContain('net.ipv4.ip_local_port_range = 20000 40000\n');
    const originals = JSON.parse(readFileSync(path.join(dir, 'persist', SYSCTL_ORIGINALS_FILE), 'utf8')) as { originals: Record<string, string> };
    expect(originals.originals).toEqual(original);

    // A second change keeps the first original, not the osfleet value.
    const second = await apply({ 'net.core.somaxconn': '2048' });
    expect(second.report?.restored).toEqual({ 'net.ipv4.ip_local_port_range': original['net.ipv4.ip_local_port_range'], 'net.ipv4.conf.lo.forwarding': original['net.ipv4.conf.lo.forwarding'] });
    expect(second.after).toEqual({ ...original, 'net.core.somaxconn': '2048' });
    expect(readFileSync(path.join(dir, 'persist', SYSCTL_FILE), 'utf8')).not.toContain('ip_local_port_range');

    const third = await apply({});
    expect(third.after).toEqual(original);
    expect(readFileSync(path.join(dir, 'persist', SYSCTL_FILE), 'utf8')).not.toMatch(/^net\./m);
    expect(JSON.parse(readFileSync(path.join(dir, 'persist', SYSCTL_ORIGINALS_FILE), 'utf8'))).toEqual({ version: 1, originals: {} });
    // Only the namespace changed.
    expect(readFileSync('/proc/sys/net/core/somaxconn', 'utf8')).toBe(hostSomaxconn);
  });

  it('rejects a path-escape key in the namespace before any write', async () => {
    const before = await apply({});
    const r = await apply({ 'net.core.somaxconn': '999', 'net.core.//.//.//.kernel.hostname': 'pwned' });
    expect(r.error).toMatch(/refusing to apply any sysctl/);
    expect(r.after).toEqual(before.after);
    expect(readdirSync(path.join(dir, 'persist', 'etc/sysctl.d'))).toEqual(['90-osfleet.conf']);
  });
});
