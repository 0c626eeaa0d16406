// What a sysctl key, a sysctl value and a kernel argument may look like. One source for the
// validator (which reports "it <problem>" at file:line:col) and the agent (which refuses before
// touching the host), so a revision that validates never fails on a node for its syntax.

const SYSCTL_PART = /^[A-Za-z0-9_\-/+:@]+$/;

/**
 * Why a sysctl key is malformed, or undefined. Keys are dotted parts; inside a part "/" stands for a
 * literal "." (as sysctl(8) writes interface names such as eth0.100: net.ipv4.conf.eth0/100.forwarding).
 */
export function sysctlKeyProblem(key: string): string | undefined {
  if (key === '') return 'is empty';
  if (key.length > 256) return 'is longer than 256 characters';
  if (key.includes('\0')) return 'contains a NUL byte';
  if (/\s/.test(key)) return 'contains whitespace';
  if (key.startsWith('/')) return 'starts with "/"; write the dotted form, e.g. net.ipv4.ip_forward';
  if (key.startsWith('.')) return 'starts with "."';
  if (key.includes('..')) return 'contains ".."';
  if (key.endsWith('.')) return 'ends with "."';
  const parts = key.split('.');
  if (parts.length < 2) return 'has a single part; a sysctl key has dotted parts, e.g. net.core.somaxconn';
  for (const part of parts) {
    if (!SYSCTL_PART.test(part)) {
      return `has the part ${JSON.stringify(part)}; parts may hold only letters, digits, "_", "-", and "/", "+", ":", "@" for interface names`;
    }
    const component = part.replaceAll('/', '.');
    if (component === '.' || component === '..' || component.startsWith('.')) {
      return `has the part ${JSON.stringify(part)}, which names the path ${JSON.stringify(component)} and would escape /proc/sys`;
    }
  }
  return undefined;
}

/** Why a sysctl value cannot be written live or into a sysctl.d file, or undefined. */
export function sysctlValueProblem(value: string): string | undefined {
  if (/[\r\n]/.test(value)) return 'contains a newline; a sysctl value is one line';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0008\u000b-\u001f\u007f]/.test(value)) return 'contains a control character';
  if (value.trim() === '') return 'is empty';
  if (value.length > 4096) return 'is longer than 4096 characters';
  return undefined;
}

/** Why a kernel argument is malformed (for the kernel command line and the GRUB script that builds it), or undefined. */
export function kernelArgProblem(arg: string): string | undefined {
  if (arg === '') return 'is empty';
  if (/[\r\n]/.test(arg)) return 'contains a newline';
  if (/\s/.test(arg)) return 'contains whitespace; write each argument as its own list item';
  if (/["']/.test(arg)) return 'contains a quote; kernel arguments are written without quotes';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(arg)) return 'contains a control character';
  if (/[$;\\{}]/.test(arg)) return 'contains "$", ";", "\\", "{" or "}", which GRUB would interpret';
  if (arg.startsWith('=')) return 'starts with "="; write name=value';
  if (arg.startsWith('-')) return 'starts with "-"';
  return undefined;
}

/** Name part of a kernel argument: `transparent_hugepage=never` → `transparent_hugepage`. */
export function kernelArgName(arg: string): string {
  const eq = arg.indexOf('=');
  return eq === -1 ? arg : arg.slice(0, eq);
}

/** Arguments the osfleet boot entry sets itself; the kernel-arg catalogue forbids each of them in git. */
export const BOOT_OWNED_KERNEL_ARGS = ['root', 'ro', 'rw', 'osfleet.slot', 'osfleet.try'] as const;
