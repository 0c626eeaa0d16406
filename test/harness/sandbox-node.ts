// A node for whole-system tests: a sandbox host (temp root with persist dir, GRUB env block, kernel
// command line, a file-backed /proc/sys, slot devices on loop devices or sparse files) with the real
// `osfleet agent` running on it as a child process, and a simulated reboot: the machine goes down
// (SIGKILL), GRUB boots per agent/boot/grub.cfg (simulateGrubBoot on the env block), the kernel
// command line names the slot it chose, and the agent starts again.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { simulateGrubBoot } from '../../agent/bootloader.js';
import { readGrubEnvFile, writeGrubEnvFile } from '../../agent/grubenv.js';
import type { Slot } from '../../agent/host.js';
import { readSlots, writeSlots } from '../../agent/slots.js';
import { attachLoop, createSandbox, detachLoop, tempDir, type Sandbox } from '../../agent/testing/sandbox.js';
import { osfleetArgv } from './osfleet-cli.js';

export interface SandboxNodeOptions {
  /** The Node's name (the agent's --node-name). */
  name: string;
  /** Kubeconfig of the agent's identity (a token bound to a pod on this node). */
  kubeconfig: string;
  /** Slot devices: loop devices (needs root and losetup) or sparse regular files. */
  slots: 'loop' | 'file';
  slotBytes: number;
  /** What the installer put in slot A, the booted slot: a version and the image file written there. */
  installed: { version: string; imageFile: string };
  /**
   * Keys that exist in the sandbox's /proc/sys, with their kernel values. The file-backed tree is
   * written in place like procfs but, being regular files, is not truncated: give values the widths
   * the test will write.
   */
  sysctl?: Record<string, string>;
  logLevel?: string;
}

export class SandboxNode {
  readonly name: string;
  readonly dir: string;
  readonly procSys: string;
  readonly logFile: string;
  readonly rebootLog: string;
  private agent: ChildProcess | undefined;
  private agentExit: Promise<void> | undefined;
  private readonly loops: string[] = [];
  /** Agent processes started so far (one per boot). */
  boots = 0;

  private constructor(
    private readonly opts: SandboxNodeOptions,
    readonly sandbox: Sandbox,
    readonly slotDevices: Record<Slot, string>,
  ) {
    this.name = opts.name;
    this.dir = sandbox.dir;
    this.procSys = path.join(this.dir, 'proc-sys');
    this.logFile = path.join(this.dir, 'agent.log');
    this.rebootLog = path.join(this.dir, 'reboot-requests');
  }

  static async create(opts: SandboxNodeOptions): Promise<SandboxNode> {
    const dir = tempDir(`osfleet-node-${opts.name}-`);
    const devices: Record<Slot, string> = { A: '', B: '' };
    const loops: string[] = [];
    try {
      for (const slot of ['A', 'B'] as const) {
        if (opts.slots === 'loop') {
          const l = attachLoop(dir, `slot-${slot.toLowerCase()}.backing`, opts.slotBytes);
          loops.push(l.device);
          devices[slot] = l.device;
        } else {
          const f = path.join(dir, `slot-${slot.toLowerCase()}.img`);
          writeFileSync(f, '');
          truncateSync(f, opts.slotBytes); // sparse
          devices[slot] = f;
        }
      }
    } catch (err) {
      for (const l of loops) detachLoop(l);
      throw err;
    }
    const sandbox = createSandbox({ dir, slotDevices: devices, booted: 'A' });
    const node = new SandboxNode(opts, sandbox, devices);
    node.loops.push(...loops);

    // The installer: the image in slot A, and the slot metadata that says so.
    const image = readFileSync(opts.installed.imageFile);
    const fh = await open(devices.A, 'r+');
    try {
      await fh.write(image, 0, image.length, 0);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await writeSlots(sandbox.config.persistDir, {
      version: 1,
      slots: { A: { version: opts.installed.version, sha256: createHash('sha256').update(image).digest('hex'), size: image.length } },
    });

    for (const [key, value] of Object.entries(opts.sysctl ?? {})) {
      const file = path.join(node.procSys, ...key.split('.'));
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, `${value}\n`);
    }
    mkdirSync(node.procSys, { recursive: true });
    const script = path.join(dir, 'reboot.sh');
    writeFileSync(script, `#!/bin/sh\n# The sandbox's reboot command: record the request; the test performs the reboot.\ndate +%s%3N >> ${node.rebootLog}\n`);
    chmodSync(script, 0o755);
    return node;
  }

  /** Starts the agent (as a boot would). */
  start(): void {
    if (this.agent) throw new Error(`the agent on ${this.name} is already running`);
    const c = this.sandbox.config;
    const [cmd, args] = osfleetArgv([
      'agent',
      '--node-name', this.name,
      '--kubeconfig', this.opts.kubeconfig,
      '--host-root', this.dir,
      '--proc-sys', this.procSys,
      '--persist', c.persistDir,
      '--grubenv', c.grubenvPath,
      '--cmdline', c.cmdlinePath,
      '--boot-id', c.bootIdPath,
      '--slot-a', this.slotDevices.A,
      '--slot-b', this.slotDevices.B,
      '--reboot-command', `/bin/sh ${path.join(this.dir, 'reboot.sh')}`,
      '--booted-version', this.opts.installed.version,
      '--health-addr', 'off',
      '--log-level', this.opts.logLevel ?? 'debug',
    ]);
    const out = openSync(this.logFile, 'a');
    const child = spawn(cmd, args, { stdio: ['ignore', out, out], env: { ...process.env, KUBECONFIG: '' } });
    closeSync(out);
    this.boots++;
    this.agent = child;
    this.agentExit = new Promise((resolve) => child.once('exit', () => resolve()));
  }

  get agentPid(): number | undefined {
    return this.agent?.pid;
  }

  /** Stops the agent: SIGTERM is a clean shutdown, SIGKILL the machine going down. */
  async stop(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    const child = this.agent;
    if (!child) return;
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await this.agentExit;
    clearTimeout(timer);
    this.agent = undefined;
  }

  /** Reboot requests the agent made (its reboot command ran), in order, as epoch ms. */
  rebootRequests(): number[] {
    if (!existsSync(this.rebootLog)) return [];
    return readFileSync(this.rebootLog, 'utf8').split('\n').filter(Boolean).map(Number);
  }

  /**
   * The machine reboots: the agent dies, GRUB boots what the env block says (one-shot slot or the
   * saved one), the kernel command line names that slot, and the agent starts again.
   */
  async reboot(): Promise<{ slot: Slot; triedArmed: boolean }> {
    await this.stop('SIGKILL');
    const c = this.sandbox.config;
    const boot = simulateGrubBoot(await readGrubEnvFile(c.grubenvPath));
    await writeGrubEnvFile(c.grubenvPath, boot.newEnv);
    this.sandbox.boot(boot.cmdline);
    this.start();
    return { slot: boot.bootedSlot, triedArmed: boot.triedArmed };
  }

  bootedSlot(): Slot {
    const m = /osfleet\.slot=([AB])/.exec(readFileSync(this.sandbox.config.cmdlinePath, 'utf8'));
    return (m?.[1] ?? 'A') as Slot;
  }

  /** The live value of a sysctl in the sandbox's /proc/sys. */
  sysctl(key: string): string {
    return readFileSync(path.join(this.procSys, ...key.split('.')), 'utf8').trim();
  }

  /** The persisted sysctl.d file the agent keeps on the persist partition. */
  persistedSysctl(): string {
    const f = path.join(this.sandbox.config.persistDir, 'etc/sysctl.d/90-osfleet.conf');
    return existsSync(f) ? readFileSync(f, 'utf8') : '';
  }

  async slotsState(): ReturnType<typeof readSlots> {
    return readSlots(this.sandbox.config.persistDir);
  }

  /** Sha256 of the first `bytes` of a slot device. */
  slotDigest(slot: Slot, bytes: number): string {
    const fd = openSync(this.slotDevices[slot], 'r');
    try {
      const buf = Buffer.alloc(bytes);
      let off = 0;
      while (off < bytes) {
        const n = readSync(fd, buf, off, bytes - off, off);
        if (n === 0) break;
        off += n;
      }
      return createHash('sha256').update(buf.subarray(0, off)).digest('hex');
    } finally {
      closeSync(fd);
    }
  }

  logTail(lines = 30): string {
    try {
      return readFileSync(this.logFile, 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  }

  /** Stops the agent, detaches loop devices, removes the sandbox (keeps it when keepDir is set). */
  async destroy(opts: { keepDir?: boolean } = {}): Promise<void> {
    await this.stop('SIGKILL');
    for (const l of this.loops.splice(0)) detachLoop(l);
    if (!opts.keepDir) rmSync(this.dir, { recursive: true, force: true });
  }
}
