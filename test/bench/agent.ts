// Agent figures for the closing note: image write vs dd (raw and from a .zst; each write includes the
// read-back of the slot from its disk before arming, also measured apart), writer RSS on a 4 GiB image,
// and sysctl apply vs `sysctl -p`. Needs root (loop devices, a network namespace).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import {
  attachLoop,
  createNetns,
  createSandbox,
  deleteNetns,
  detachLoop,
  loopUnavailable,
  netnsUnavailable,
  REPO_ROOT,
  startImageServer,
  tempDir,
} from '../../agent/testing/sandbox.js';

export interface Figure {
  name: string;
  value: number;
  unit: string;
}

const MiB = 1024 * 1024;

/**
 * The agent runs compiled JavaScript in production; tsx adds ~37 MiB of RSS and a loader.
 * Transpile agent/ (from `root`, the working tree by default) into a temp dir and run children
 * from there; its packages (undici) resolve through a link to the repository's node_modules.
 */
function compileAgent(into: string, root = REPO_ROOT): void {
  const walk = (rel: string) => {
    for (const e of readdirSync(path.join(root, rel), { withFileTypes: true })) {
      const r = path.join(rel, e.name);
      if (e.isDirectory()) walk(r);
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')) {
        const out = ts.transpileModule(readFileSync(path.join(root, r), 'utf8'), {
          compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
        });
        mkdirSync(path.join(into, path.dirname(r)), { recursive: true });
        writeFileSync(path.join(into, r.replace(/\.ts$/, '.js')), out.outputText);
      }
    }
  };
  walk('agent');
  walk('api'); // agent modules share the settings syntax and condition helpers in api/
  writeFileSync(path.join(into, 'package.json'), '{"type":"module"}\n');
  symlinkSync(path.join(REPO_ROOT, 'node_modules'), path.join(into, 'node_modules'));
}

/**
 * Another agent measured in the same run, alternating with this tree's, for a before/after that the
 * shared machine's load does not skew (figures `agent.<name>.*`):
 * - OSFLEET_AGENT_BENCH_BASE=<git revision>: that revision's agent (`base`);
 * - OSFLEET_AGENT_BENCH_UNDICI=1: this tree's agent with its downloads through undici (`undici`):
 *   a proxy variable is set and the image server is in NO_PROXY, so undici connects directly.
 */
interface Contender {
  name: string;
  js: string;
  env?: Record<string, string>;
}

function compileBase(rev: string, into: string): void {
  const src = tempDir('osfleet-agent-base-src-');
  try {
    execFileSync('bash', ['-c', 'set -o pipefail; git -C "$1" archive "$2" agent api | tar -x -C "$3"', 'archive', REPO_ROOT, rev, src]);
    compileAgent(into, src);
  } finally {
    rmSync(src, { recursive: true, force: true });
  }
}

async function runJs(file: string, args: readonly string[], netns?: string, env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const argv = netns ? ['ip', 'netns', 'exec', netns, process.execPath, file, ...args] : [process.execPath, file, ...args];
  // The agent's environment in production (deploy/base/agent/daemonset.yaml): two malloc arenas,
  // not one per thread-pool thread that touched memory.
  const child = spawn(argv[0] as string, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, MALLOC_ARENA_MAX: '2', ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += String(d)));
  child.stderr.on('data', (d) => (stderr += String(d)));
  const code = await new Promise<number | null>((r) => child.on('close', r));
  return { code, stdout, stderr };
}
const GiB = 1024 * MiB;

/** A file of random bytes, written in chunks so the bench itself stays small; returns its sha256. */
function randomFile(file: string, bytes: number): string {
  const hash = createHash('sha256');
  const fd = openSync(file, 'w');
  try {
    for (let done = 0; done < bytes; ) {
      const chunk = randomBytes(Math.min(16 * MiB, bytes - done));
      hash.update(chunk);
      writeSync(fd, chunk);
      done += chunk.length;
    }
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}

/**
 * `bytes` of a root-file-system-like image, the same every time: per 4 MiB, 1.6 MiB of random bytes
 * (seeded, so dd and the .zst see identical content) and zeros for the rest.
 */
function mixedFile(file: string, bytes: number): { file: string } {
  const fd = openSync(file, 'w');
  try {
    const block = Buffer.alloc(4 * MiB);
    let seed = 0;
    for (let done = 0; done < bytes; done += block.length) {
      block.fill(0);
      seed++; // every block distinct
      const noise = createHash('shake256', { outputLength: Math.floor(1.6 * MiB) }).update(`osfleet-bench-${seed}`).digest();
      noise.copy(block, 0);
      writeSync(fd, block, 0, Math.min(block.length, bytes - done));
    }
  } finally {
    closeSync(fd);
  }
  return { file };
}

function zerosSha(bytes: number): string {
  const hash = createHash('sha256');
  const zero = Buffer.alloc(4 * MiB);
  for (let done = 0; done < bytes; done += zero.length) hash.update(zero.subarray(0, Math.min(zero.length, bytes - done)));
  return hash.digest('hex');
}

async function ourWrite(js: string, sandboxDevices: { A: string; B: string }, url: string, sha256: string, size: number, env?: Record<string, string>) {
  const sb = createSandbox({ slotDevices: sandboxDevices, booted: 'A' });
  try {
    const r = await runJs(path.join(js, 'agent/testing/write-child.js'), [JSON.stringify({ config: sb.config, slot: 'B', image: { version: 'bench', url, sha256, size } })], undefined, env);
    const line = r.stdout.split('\n').find((l) => l.startsWith('result '));
    if (!line) throw new Error(`image write failed: ${r.stdout.split('\n').find((l) => l.startsWith('error ')) ?? r.stderr}`);
    return JSON.parse(line.slice('result '.length)) as { elapsedMs: number; maxRssMb: number; verified?: { ms: number; cache: string } };
  } finally {
    sb.cleanup();
  }
}

/** The read-back baseline: the whole device range read from the disk by dd, bypassing the page cache. */
function ddRead(device: string, bytes: number): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync('dd', [`if=${device}`, 'of=/dev/null', 'bs=4M', 'iflag=direct,count_bytes', `count=${bytes}`, 'status=none'], { stdio: 'pipe' });
  if (r.status !== 0) throw new Error(`dd failed: ${String(r.stderr)}`);
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

function ddWrite(image: string, device: string): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync('dd', [`if=${image}`, `of=${device}`, 'bs=4M', 'conv=fsync', 'status=none'], { stdio: 'pipe' });
  if (r.status !== 0) throw new Error(`dd failed: ${String(r.stderr)}`);
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

/**
 * The same download through a generic client: `curl URL | dd of=DEVICE conv=fsync` (no digest check).
 * Asynchronous: the image server runs in this process and must keep answering.
 */
async function curlDdWrite(url: string, device: string): Promise<number> {
  const t0 = process.hrtime.bigint();
  const child = spawn('bash', ['-c', 'set -o pipefail; curl -sSf "$1" | dd of="$2" bs=4M iflag=fullblock conv=fsync status=none', 'curl-dd', url, device], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += String(d)));
  const code = await new Promise<number | null>((r) => child.on('close', r));
  if (code !== 0) throw new Error(`curl | dd failed (exit ${code}): ${stderr}`);
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

async function writeFigures(js: string, others: Contender[]): Promise<Figure[]> {
  const dir = tempDir('osfleet-bench-');
  const loops: string[] = [];
  const www = path.join(dir, 'www');
  mkdirSync(www);
  const server = await startImageServer(www);
  try {
    const only = process.env.OSFLEET_AGENT_BENCH_ONLY; // "rss" to measure memory alone (debugging)
    // Throughput: 1 GiB of random bytes, dd and ours alternating on the same loop device, best of 5 each
    // (the machine is shared: single runs swing by a factor of 3 or more either way).
    const size = only === 'rss' ? 8 * MiB : 1 * GiB;
    const sha = randomFile(path.join(www, 'bench.img'), size);
    const a = attachLoop(dir, 'a.raw', 8 * MiB).device;
    const b = attachLoop(dir, 'b.raw', size).device;
    loops.push(a, b);
    const dd: number[] = [];
    const ours: number[] = [];
    // The read-back before arming (part of every write above): its time, and dd reading the same bytes.
    const verify: number[] = [];
    const ddReads: number[] = [];
    const other = others.map(() => [] as number[]);
    // A baseline that pays for the network as we do: the same server, read by curl.
    const haveCurl = spawnSync('curl', ['--version'], { stdio: 'ignore' }).status === 0;
    if (!haveCurl) console.error('agent bench: no curl on PATH; skipping agent.write_ratio_to_curl_dd');
    const curlDd: number[] = [];
    for (let i = 0; i < 5; i++) {
      dd.push(ddWrite(path.join(www, 'bench.img'), b));
      const w = await ourWrite(js, { A: a, B: b }, `${server.url}/bench.img`, sha, size);
      ours.push(w.elapsedMs);
      if (w.verified?.cache !== 'dropped') throw new Error(`the write's read-back did not drop the device cache: ${JSON.stringify(w.verified)}`);
      verify.push(w.verified.ms);
      ddReads.push(ddRead(b, size));
      for (const [k, c] of others.entries()) other[k]?.push((await ourWrite(c.js, { A: a, B: b }, `${server.url}/bench.img`, sha, size, c.env)).elapsedMs);
      if (haveCurl) curlDd.push(await curlDdWrite(`${server.url}/bench.img`, b));
    }
    rmSync(path.join(www, 'bench.img'));

    // A zstd image (what real root file systems ship as): 1 GiB that compresses ~2.5 times, written
    // by dd raw and by us from the .zst (decompressed while streaming), alternating, best of 3 each.
    const zsize = only === 'rss' ? 8 * MiB : 1 * GiB;
    const mixed = mixedFile(path.join(www, 'mixed.img'), zsize);
    execFileSync('zstd', ['-q', '-3', '-T0', '-f', '--rm', mixed.file, '-o', `${mixed.file}.zst`]);
    const zsha = createHash('sha256').update(readFileSync(`${mixed.file}.zst`)).digest('hex');
    mixedFile(mixed.file, zsize); // dd's input, the same bytes
    const zdd: number[] = [];
    const zours: Array<{ elapsedMs: number; maxRssMb: number }> = [];
    const zother = others.map(() => [] as Array<{ elapsedMs: number; maxRssMb: number }>);
    for (let i = 0; i < 3; i++) {
      zdd.push(ddWrite(mixed.file, b));
      zours.push(await ourWrite(js, { A: a, B: b }, `${server.url}/mixed.img.zst`, zsha, zsize));
      for (const [k, c] of others.entries()) zother[k]?.push(await ourWrite(c.js, { A: a, B: b }, `${server.url}/mixed.img.zst`, zsha, zsize, c.env));
    }
    rmSync(mixed.file);
    rmSync(`${mixed.file}.zst`);
    detachLoop(b);
    loops.pop();

    // Memory: a 4 GiB sparse image (zeros) into a 4 GiB loop device.
    const big = 4 * GiB;
    execFileSync('truncate', ['-s', String(big), path.join(www, 'big.img')]);
    const b4 = attachLoop(dir, 'b4.raw', big).device;
    loops.push(b4);
    const rss = await ourWrite(js, { A: a, B: b4 }, `${server.url}/big.img`, zerosSha(big), big);
    const otherFigures: Figure[] = [];
    for (const [k, c] of others.entries()) {
      const otherRss = await ourWrite(c.js, { A: a, B: b4 }, `${server.url}/big.img`, zerosSha(big), big, c.env);
      const times = other[k] ?? [];
      const ztimes = (zother[k] ?? []).map((z) => z.elapsedMs);
      otherFigures.push(
        { name: `agent.${c.name}.write_ratio_to_dd`, value: round(Math.min(...dd) / Math.min(...times)), unit: 'ratio' },
        { name: `agent.${c.name}.write_rss_mb`, value: round(otherRss.maxRssMb, 1), unit: 'MiB' },
        { name: `agent.${c.name}.write_zstd_ratio_to_dd`, value: round(Math.min(...zdd) / Math.min(...ztimes)), unit: 'ratio' },
        { name: `agent.${c.name}.write_zstd_rss_mb`, value: round(Math.max(...(zother[k] ?? []).map((z) => z.maxRssMb)), 1), unit: 'MiB' },
      );
    }
    return [
      { name: 'agent.write_ratio_to_dd', value: round(Math.min(...dd) / Math.min(...ours)), unit: 'ratio' },
      ...(curlDd.length ? [{ name: 'agent.write_ratio_to_curl_dd', value: round(Math.min(...curlDd) / Math.min(...ours)), unit: 'ratio' }] : []),
      { name: 'agent.write_rss_mb', value: round(rss.maxRssMb, 1), unit: 'MiB' },
      { name: 'agent.write_zstd_ratio_to_dd', value: round(Math.min(...zdd) / Math.min(...zours.map((z) => z.elapsedMs))), unit: 'ratio' },
      { name: 'agent.write_zstd_rss_mb', value: round(Math.max(...zours.map((z) => z.maxRssMb)), 1), unit: 'MiB' },
      { name: 'agent.write_mib_per_s', value: round(size / MiB / (Math.min(...ours) / 1000), 0), unit: 'MiB/s' },
      // The slot read back from the disk before it is armed (included in the write figures above).
      { name: 'agent.verify_ms_per_gib', value: round(Math.min(...verify) / (size / GiB), 0), unit: 'ms' },
      { name: 'agent.verify_ratio_to_dd_read', value: round(Math.min(...ddReads) / Math.min(...verify)), unit: 'ratio' },
      { name: 'agent.verify_share_of_write', value: round(verify[ours.indexOf(Math.min(...ours))]! / Math.min(...ours)), unit: 'ratio' },
      { name: 'agent.dd_mib_per_s', value: round(size / MiB / (Math.min(...dd) / 1000), 0), unit: 'MiB/s' },
      ...otherFigures,
    ];
  } finally {
    await server.close();
    for (const l of loops) detachLoop(l);
    rmSync(dir, { recursive: true, force: true });
  }
}

async function sysctlFigures(js: string): Promise<Figure[]> {
  const ns = `osf-bench-${process.pid}`;
  createNetns(ns);
  try {
    const r = await runJs(path.join(js, 'agent/testing/sysctl-bench-child.js'), ['21'], ns);
    if (r.code !== 0) throw new Error(`sysctl bench failed: ${r.stderr}`);
    const m = JSON.parse(r.stdout) as { firstApplyMs: number; reapplyMs: number; sysctlPMs: number };
    return [
      { name: 'agent.sysctl_ratio_to_sysctl_p', value: round(m.reapplyMs / m.sysctlPMs), unit: 'ratio' },
      { name: 'agent.sysctl_first_apply_ratio_to_sysctl_p', value: round(m.firstApplyMs / m.sysctlPMs), unit: 'ratio' },
      { name: 'agent.sysctl_p_ms', value: round(m.sysctlPMs), unit: 'ms' },
    ];
  } finally {
    deleteNetns(ns);
  }
}

function round(x: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export async function run(): Promise<Figure[]> {
  const noLoop = loopUnavailable();
  const noNetns = netnsUnavailable();
  const figures: Figure[] = [];
  const js = tempDir('osfleet-agent-js-');
  const baseRev = process.env.OSFLEET_AGENT_BENCH_BASE;
  const baseJs = baseRev ? tempDir('osfleet-agent-base-js-') : undefined;
  const others: Contender[] = [];
  if (baseRev && baseJs) others.push({ name: 'base', js: baseJs });
  // The image server listens on 127.0.0.1; the proxy address is never used.
  if (process.env.OSFLEET_AGENT_BENCH_UNDICI) others.push({ name: 'undici', js, env: { HTTP_PROXY: 'http://127.0.0.1:9', NO_PROXY: '127.0.0.1' } });
  try {
    compileAgent(js);
    if (baseRev && baseJs) compileBase(baseRev, baseJs);
    if (noLoop) console.error(`agent bench: skipping image-write figures: ${noLoop}`);
    else figures.push(...(await writeFigures(js, others)));
    if (noNetns) console.error(`agent bench: skipping sysctl figures: ${noNetns}`);
    else figures.push(...(await sysctlFigures(js)));
  } finally {
    rmSync(js, { recursive: true, force: true });
    if (baseJs) rmSync(baseJs, { recursive: true, force: true });
  }
  const [load1] = (await import('node:os')).loadavg();
  // Other work on the machine skews CPU-bound figures; report it with them.
  figures.push({ name: 'agent.bench_load_avg_1m', value: round(load1 ?? 0), unit: 'load' });
  return figures;
}
