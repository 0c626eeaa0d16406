// Test-only child: stage an image into a slot of a sandbox host with the real writer,
// printing progress lines ("progress N") and a final JSON result ("result {...}").
import { readFileSync } from 'node:fs';
import { createHost, type HostConfig, type Slot } from '../host.js';
import { type ImageRef, writeImage } from '../image-writer.js';

interface Request {
  config: HostConfig;
  slot: Slot;
  image: ImageRef;
  chunkBytes?: number;
  checkpointBytes?: number;
  ca?: string;
}

/**
 * Peak RSS of this process's own address space (VmHWM). Not getrusage's maxRSS: on Linux that also
 * counts the pages of the parent that forked us, before exec (the bench's node process, ~100 MiB).
 */
function peakRssKb(): number {
  const m = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) : process.resourceUsage().maxRSS;
}

/** CPU time of this process so far (all threads), user + system. */
function cpuMs(): { user: number; system: number } {
  const u = process.resourceUsage();
  return { user: Math.round(u.userCPUTime / 1000), system: Math.round(u.systemCPUTime / 1000) };
}

const req = JSON.parse(process.argv[2] ?? '{}') as Request;
let lastMem = 0;
const t0 = process.hrtime.bigint();
try {
  const result = await writeImage({
    host: createHost(req.config),
    slot: req.slot,
    image: req.image,
    chunkBytes: req.chunkBytes,
    checkpointBytes: req.checkpointBytes,
    onProgress: (done) => {
      process.stdout.write(`progress ${done}\n`);
      if (process.env.OSFLEET_DEBUG_MEM && done - lastMem >= 256 * 1048576) {
        lastMem = done;
        const m = process.memoryUsage();
        const st = readFileSync('/proc/self/status', 'utf8').match(/(Rss(Anon|File|Shmem)|VmHWM):\s+\d+/g)?.join(' ');
        process.stderr.write(`mem at ${(done / 1048576) | 0} MiB: rss ${(m.rss / 1048576) | 0} external ${(m.external / 1048576) | 0} heap ${(m.heapUsed / 1048576) | 0}/${(m.heapTotal / 1048576) | 0} ${st}\n`);
      }
    },
    ...(req.ca ? { ca: req.ca } : {}),
  });
  const elapsedMs = Number(process.hrtime.bigint() - t0) / 1e6;
  process.stdout.write(`result ${JSON.stringify({ ...result, elapsedMs, maxRssMb: peakRssKb() / 1024, cpuMs: cpuMs() })}\n`);
} catch (err) {
  process.stdout.write(`error ${JSON.stringify({ message: (err as Error).message, reason: (err as { reason?: string }).reason })}\n`);
  process.exitCode = 1;
}
