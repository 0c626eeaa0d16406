// A real machine for tests: QEMU booting an osfleet disk image through OVMF (UEFI firmware), GRUB and
// a real kernel. The disk is a copy-on-write overlay of the image, so the image stays pristine; the
// serial console is appended to a log file per VM (it survives reboots and power cuts); the host
// reads the guest through the QEMU guest agent (guest-exec), never through a model of it. The guest
// reaches nothing but the host-loopback ports a test forwards (-netdev user,restrict=on + guestfwd).
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export const OVMF = '/usr/share/ovmf/OVMF.fd';

export type Accel = 'kvm' | 'tcg';

export interface Forward {
  /** Address and port the guest connects to (inside slirp's 10.0.2.0/24). */
  guestIp: string;
  guestPort: number;
  /** Loopback port on the host it reaches. */
  hostPort: number;
}

export interface VmOptions {
  name: string;
  /** The raw disk image (osfleet image build's NAME.disk.img); never written. */
  disk: string;
  workDir: string;
  accel: Accel;
  /** Files handed to the guest as QEMU fw_cfg entries opt/osfleet/<name>. */
  fwCfg?: Record<string, string>;
  forwards?: Forward[];
  memoryMiB?: number;
  cpus?: number;
  /**
   * How long the console may stay silent after the guest's last words before a reset ("reboot:
   * Restarting system") before the harness calls the reset hung (default 120 s; the firmware
   * prints within seconds of a reset, even under TCG).
   */
  resetHangMs?: number;
}

/** A reset after which the virtual machine showed no sign of life (not even the firmware). */
export interface ResetHang {
  at: string;
  accel: Accel;
  /** What QEMU's monitor said of the machine (query-status), e.g. "running" or "internal-error". */
  status: string;
  /** The accelerator it was powered on again with. */
  restartedWith: Accel;
}

/** Why QEMU cannot run here, or undefined. The VM tests fail with this message instead of skipping. */
export function qemuProblem(): string | undefined {
  for (const [file, pkg] of [
    ['/usr/bin/qemu-system-x86_64', 'qemu-system-x86'],
    ['/usr/bin/qemu-img', 'qemu-utils'],
    [OVMF, 'ovmf'],
    ['/usr/bin/socat', 'socat'],
  ] as const) {
    if (!existsSync(file)) return `${file} is missing: install the Debian package ${pkg} (hack/deps.sh does)`;
  }
  return undefined;
}

/**
 * The CPU a guest gets: the host's under KVM, QEMU's fullest model under TCG. (Taking vmx/svm away
 * under TCG was tried: systemd in the guest then failed every mount and went to emergency mode.)
 */
export function cpuModel(accel: Accel): string {
  return accel === 'kvm' ? 'host' : 'max';
}

/** Console lines a Linux guest prints last before the machine resets. */
const RESET_MARKER = /reboot: (?:Restarting system|machine restart)\s*$/;

/**
 * KVM only where it really boots, and reboots: on a nested host /dev/kvm may exist and accept
 * KVM_CREATE_VM while a guest hangs after the firmware, or boots once and hangs at its first reset.
 * The probe boots `kernel` through the same UEFI firmware the tests use, without a root filesystem,
 * so it panics and resets (panic=1); seeing the kernel come up a second time through the firmware
 * within the timeout proves KVM boots and resets. (Stricter than the tests need since every guest
 * reboot is a cold start, -no-reboot; kept so a host that hangs at resets is never chosen.)
 * OSFLEET_VM_ACCEL=kvm|tcg overrides it.
 */
export async function chooseAccel(kernel: string, workDir: string, timeoutMs = 60_000): Promise<{ accel: Accel; why: string }> {
  const forced = process.env.OSFLEET_VM_ACCEL;
  if (forced === 'kvm' || forced === 'tcg') return { accel: forced, why: `OSFLEET_VM_ACCEL=${forced}` };
  if (!existsSync('/dev/kvm')) return { accel: 'tcg', why: 'no /dev/kvm' };
  const r = await probeBoots('kvm', kernel, workDir, timeoutMs);
  return r.boots >= 2
    ? { accel: 'kvm', why: `a kernel booted, reset and booted again under KVM through the firmware in ${r.secs} s` }
    : { accel: 'tcg', why: `under KVM a kernel ${r.boots === 0 ? 'did not boot' : 'booted but did not come back after its reset'} (${r.qemuSaid ? `QEMU: ${r.qemuSaid}` : `within ${r.secs} s`}); using TCG` };
}

/** Boots `kernel` (no root: it panics and resets) through OVMF; counts kernel boots until two or the timeout. */
export async function probeBoots(accel: Accel, kernel: string, workDir: string, timeoutMs: number): Promise<{ boots: number; secs: string; qemuSaid: string }> {
  mkdirSync(workDir, { recursive: true });
  const log = path.join(workDir, `${accel}-probe.log`);
  writeFileSync(log, '');
  const started = Date.now();
  let qemuErr = '';
  const boots = () => (readFileSync(log, 'latin1').match(/Linux version \d/g) ?? []).length;
  const p = spawn(
    'qemu-system-x86_64',
    ['-machine', 'q35', '-accel', accel, '-cpu', cpuModel(accel), '-m', '256', '-nodefaults', '-display', 'none', '-bios', OVMF, '-kernel', kernel, '-append', 'console=ttyS0 panic=1', '-serial', `file:${log}`],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  p.stderr?.on('data', (b: Buffer) => (qemuErr = (qemuErr + b.toString()).slice(-300)));
  const exited = new Promise<void>((resolve) => {
    p.on('exit', () => resolve());
    p.on('error', () => resolve());
  });
  while (Date.now() - started < timeoutMs && boots() < 2 && p.exitCode === null && p.signalCode === null) await new Promise((r) => setTimeout(r, 250));
  p.kill('SIGKILL');
  await exited;
  return { boots: boots(), secs: ((Date.now() - started) / 1000).toFixed(1), qemuSaid: qemuErr.trim().split('\n')[0] ?? '' };
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export class Vm {
  readonly consoleLog: string;
  /** QEMU's own messages (stderr), appended across power-ons. */
  readonly qemuLog: string;
  readonly overlay: string;
  private readonly qgaSocket: string;
  private readonly qmpSocket: string;
  private proc: ChildProcess | undefined;
  private exited: Promise<void> | undefined;
  private resetWatch: NodeJS.Timeout | undefined;
  private powerCycling = false;
  /** QEMU processes started (power-ons, each guest reset included). */
  powerOns = 0;
  /** Guest resets (reboots), each carried out as a fresh QEMU process. */
  resets = 0;
  /** The accelerator of the running (or next) power-on; a hung reset under KVM moves it to TCG. */
  accel: Accel;
  /** Resets the virtual hardware did not come back from, each followed by a power cycle. */
  readonly resetHangs: ResetHang[] = [];

  private constructor(readonly opts: VmOptions) {
    this.consoleLog = path.join(opts.workDir, `${opts.name}.console.log`);
    this.qemuLog = path.join(opts.workDir, `${opts.name}.qemu.log`);
    this.overlay = path.join(opts.workDir, `${opts.name}.qcow2`);
    this.qgaSocket = path.join(opts.workDir, `${opts.name}.qga.sock`);
    this.qmpSocket = path.join(opts.workDir, `${opts.name}.qmp.sock`);
    this.accel = opts.accel;
  }

  static async create(opts: VmOptions): Promise<Vm> {
    const problem = qemuProblem();
    if (problem) throw new Error(problem);
    mkdirSync(opts.workDir, { recursive: true });
    const vm = new Vm(opts);
    await execFileP('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', path.resolve(opts.disk), '-F', 'raw', vm.overlay]);
    writeFileSync(vm.consoleLog, '');
    writeFileSync(vm.qemuLog, '');
    return vm;
  }

  private args(): string[] {
    const o = this.opts;
    const fwd = (o.forwards ?? []).map((f) => `,guestfwd=tcp:${f.guestIp}:${f.guestPort}-cmd:socat STDIO TCP:127.0.0.1:${f.hostPort}`).join('');
    const fw: string[] = [];
    for (const [name, content] of Object.entries(o.fwCfg ?? {})) {
      const file = path.join(o.workDir, `${o.name}.fwcfg.${name}`);
      writeFileSync(file, content, { mode: 0o600 });
      fw.push('-fw_cfg', `name=opt/osfleet/${name},file=${file}`);
    }
    return [
      '-name', o.name,
      '-machine', 'q35',
      '-accel', this.accel,
      '-cpu', cpuModel(this.accel),
      '-smp', String(o.cpus ?? 2),
      '-m', String(o.memoryMiB ?? 1024),
      '-nodefaults', '-display', 'none',
      '-no-reboot',
      '-bios', OVMF,
      '-drive', `file=${this.overlay},if=virtio,format=qcow2,cache=unsafe`,
      '-chardev', `file,id=ser0,path=${this.consoleLog},append=on`,
      '-serial', 'chardev:ser0',
      '-chardev', `socket,id=qga0,path=${this.qgaSocket},server=on,wait=off`,
      '-device', 'virtio-serial-pci',
      '-device', 'virtserialport,chardev=qga0,name=org.qemu.guest_agent.0',
      '-qmp', `unix:${this.qmpSocket},server=on,wait=off`,
      '-netdev', `user,id=n0,restrict=on${fwd}`,
      '-device', 'virtio-net-pci,netdev=n0',
      ...fw,
    ];
  }

  /**
   * Power on. A guest reboot ends this QEMU process (-no-reboot) and the harness starts a new one:
   * firmware → GRUB from cold, as after a power cycle. A warm reset inside one QEMU process hung
   * once under TCG in CI (a known weakness of emulated resets); a cold start does not take that path.
   */
  start(): void {
    if (this.proc) throw new Error(`${this.opts.name} is already running`);
    const errFd = openSync(this.qemuLog, 'a');
    const p = spawn('qemu-system-x86_64', this.args(), { stdio: ['ignore', 'ignore', errFd] });
    closeSync(errFd);
    this.proc = p;
    this.powerOns++;
    this.exited = new Promise((resolve) =>
      p.on('exit', (code, signal) => {
        const current = this.proc === p;
        if (current) this.proc = undefined;
        if (code !== 0 && signal !== 'SIGKILL' && signal !== 'SIGTERM') writeFileSync(this.consoleLog, `\n[harness] qemu exited ${code ?? signal}: ${this.qemuLogTail()}\n`, { flag: 'a' });
        // -no-reboot: the guest reset (a reboot, a panic's reboot) and QEMU exited; power it on again,
        // unless the guest powered itself off.
        else if (code === 0 && current && !/reboot: Power down\s*$/.test(this.consoleTail(3).trimEnd())) {
          this.resets++;
          this.start();
        }
        resolve();
      }),
    );
    this.watchResets(p);
  }

  /**
   * A real server whose reset hangs is power-cycled by its watchdog or BMC; this is the harness in
   * that role, should QEMU neither reset nor exit after the guest's last words before a reset. It
   * acts only when the console went silent right after them, so GRUB, the kernel or osfleet hanging
   * (which print first) is never covered up. Each hang is kept in `resetHangs` and written to the
   * console log; under KVM (nested hosts hang where TCG does not) the machine comes back under TCG.
   */
  private watchResets(p: ChildProcess): void {
    const hangMs = this.opts.resetHangMs ?? 120_000;
    let size = -1;
    let since = Date.now();
    const timer = setInterval(() => {
      if (this.proc !== p) return clearInterval(timer);
      const now = this.consoleSize();
      if (now !== size) {
        size = now;
        since = Date.now();
        return;
      }
      if (Date.now() - since < hangMs || !RESET_MARKER.test(this.consoleTail(3).trimEnd())) return;
      clearInterval(timer);
      void (async () => {
        const status = await this.status();
        const hung: ResetHang = { at: new Date().toISOString(), accel: this.accel, status, restartedWith: 'tcg' };
        this.resetHangs.push(hung);
        writeFileSync(this.consoleLog, `\n[harness] no output for ${hangMs / 1000} s after the guest reset under ${hung.accel} (QEMU: ${status}); power-cycling under ${hung.restartedWith}\n`, { flag: 'a' });
        this.powerCycling = true;
        try {
          await this.powerCut();
          this.accel = hung.restartedWith;
          this.start();
        } finally {
          this.powerCycling = false;
        }
      })();
    }, 2000);
    timer.unref();
    this.resetWatch = timer;
  }

  /** True from power-on to power-off; a power cycle by the reset watch counts as running throughout. */
  get running(): boolean {
    return this.proc !== undefined || this.powerCycling;
  }

  /** Pull the plug: SIGKILL QEMU (no shutdown, no flush inside the guest). */
  async powerCut(): Promise<void> {
    const p = this.proc;
    if (!p) return;
    clearInterval(this.resetWatch);
    p.kill('SIGKILL');
    await this.exited;
  }

  async stop(): Promise<void> {
    await this.powerCut();
  }

  console(): string {
    return readFileSync(this.consoleLog, 'latin1');
  }

  consoleTail(lines = 40): string {
    return this.console().replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').split('\n').slice(-lines).join('\n');
  }

  /** Kernel boots seen on the console so far (each prints its version banner once). */
  kernelBoots(): number {
    return (this.console().match(/Linux version \d/g) ?? []).length;
  }

  /** Waits until the console (from byte `from`) matches `re`; returns the match and where it ends. */
  async waitConsole(re: RegExp, opts: { from?: number; timeoutMs: number; what: string }): Promise<{ match: RegExpExecArray; end: number }> {
    const deadline = Date.now() + opts.timeoutMs;
    for (;;) {
      const text = this.console().slice(opts.from ?? 0);
      const m = re.exec(text);
      if (m) return { match: m, end: (opts.from ?? 0) + m.index + m[0].length };
      if (!this.running) throw new Error(`${opts.what}: QEMU is not running\n${this.consoleTail()}`);
      if (Date.now() > deadline) throw new Error(`${opts.what}: not on the console of ${this.opts.name} within ${opts.timeoutMs / 1000} s\n${this.consoleTail()}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  consoleSize(): number {
    return statSync(this.consoleLog).size;
  }

  qemuLogTail(lines = 10): string {
    return readFileSync(this.qemuLog, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  }

  /** The machine's state as QEMU's monitor reports it (QMP query-status), or why it cannot tell. */
  async status(): Promise<string> {
    if (!this.running) return 'not running';
    try {
      return ((await this.monitor('query-status')) as { status: string }).status;
    } catch (err) {
      return (err as Error).message;
    }
  }

  /** One QEMU monitor (QMP) command; rejects with what the monitor said when it refuses or does not answer. */
  monitor(command: string, timeoutMs = 5000): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const sock = net.connect(this.qmpSocket);
      let buf = '';
      let negotiated = false;
      const timer = setTimeout(() => done(() => reject(new Error(`no answer from the QEMU monitor to ${command}`))), timeoutMs);
      function done(f: () => void): void {
        clearTimeout(timer);
        sock.destroy();
        f();
      }
      sock.on('error', (err) => done(() => reject(new Error(`QEMU monitor: ${err.message}`))));
      sock.on('data', (b) => {
        buf += b.toString();
        let i: number;
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          let msg: { QMP?: unknown; return?: unknown; error?: { desc: string } };
          try {
            msg = JSON.parse(line);
          } catch {
            continue;
          }
          if (msg.error) return done(() => reject(new Error(`QEMU monitor: ${msg.error!.desc}`)));
          if (msg.QMP) sock.write('{"execute":"qmp_capabilities"}\n');
          else if (msg.return !== undefined && !negotiated) {
            negotiated = true;
            sock.write(`${JSON.stringify({ execute: command })}\n`);
          } else if (msg.return !== undefined) return done(() => resolve(msg.return));
        }
      });
    });
  }

  /** One QEMU guest agent request; undefined when the agent does not answer within `timeoutMs`. */
  private qga(command: string, args: Record<string, unknown> | undefined, timeoutMs: number): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const sock = net.connect(this.qgaSocket);
      const syncId = Math.floor(Math.random() * 1e9);
      let buf = '';
      let synced = false;
      const timer = setTimeout(() => {
        sock.destroy();
        resolve(undefined);
      }, timeoutMs);
      const finish = (f: () => void) => {
        clearTimeout(timer);
        sock.destroy();
        f();
      };
      sock.on('error', () => finish(() => resolve(undefined)));
      sock.on('connect', () => sock.write(`${JSON.stringify({ execute: 'guest-sync', arguments: { id: syncId } })}\n`));
      sock.on('data', (b) => {
        buf += b.toString('latin1');
        let i: number;
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i).replace(/^\xff/, '').trim();
          buf = buf.slice(i + 1);
          if (!line) continue;
          let msg: { return?: unknown; error?: { desc: string } };
          try {
            msg = JSON.parse(line);
          } catch {
            continue;
          }
          if (!synced) {
            if (msg.return === syncId) {
              synced = true;
              sock.write(`${JSON.stringify({ execute: command, ...(args ? { arguments: args } : {}) })}\n`);
            }
            continue;
          }
          if (msg.error) finish(() => reject(new Error(`guest agent ${command}: ${msg.error!.desc}`)));
          else finish(() => resolve(msg.return));
          return;
        }
      });
    });
  }

  /** Whether the guest agent answers (the guest has booted far enough to be read). */
  async guestUp(timeoutMs = 3000): Promise<boolean> {
    if (!this.running) return false;
    return (await this.qga('guest-ping', undefined, timeoutMs)) !== undefined;
  }

  /** Run `sh -c script` in the guest and wait for it (guest-exec). */
  async exec(script: string, timeoutMs = 30_000): Promise<ExecResult> {
    const started = await this.qga('guest-exec', { path: '/bin/sh', arg: ['-c', script], 'capture-output': true }, 10_000);
    if (!started) throw new Error(`${this.opts.name}: the guest agent does not answer (is the guest up?)`);
    const pid = (started as { pid: number }).pid;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const st = (await this.qga('guest-exec-status', { pid }, 10_000)) as { exited: boolean; exitcode?: number; signal?: number; 'out-data'?: string; 'err-data'?: string } | undefined;
      if (st?.exited) {
        return {
          code: st.exitcode ?? 128 + (st.signal ?? 0),
          stdout: Buffer.from(st['out-data'] ?? '', 'base64').toString(),
          stderr: Buffer.from(st['err-data'] ?? '', 'base64').toString(),
        };
      }
      if (Date.now() > deadline) throw new Error(`${this.opts.name}: guest command did not finish within ${timeoutMs / 1000} s: ${script}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** Read a guest file (stdout of cat), trimmed. */
  async read(file: string): Promise<string> {
    const r = await this.exec(`cat ${JSON.stringify(file)}`);
    if (r.code !== 0) throw new Error(`${this.opts.name}: cannot read ${file}: ${r.stderr.trim()}`);
    return r.stdout.trim();
  }
}
