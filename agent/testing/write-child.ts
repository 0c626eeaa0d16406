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
        const st = readFileSync('/proc/self/status', 'utf8').match(/Rss(Anon|File|Shmem):\s+\d+/g)?.join(' ');
        process.stderr.write(`mem at ${(done / 1048576) | 0} MiB: rss ${(m.rss / 1048576) | 0} external ${(m.external / 1048576) | 0} heap ${(m.heapUsed / 1048576) | 0}/${(m.heapTotal / 1048576) | 0} ${st}\n`);
      }
    },
    ...(req.ca ? { ca: req.ca } : {}),
  });
  const elapsedMs = Number(process.hrtime.bigint() - t0) / 1e6;
  process.stdout.write(`result ${JSON.stringify({ ...result, elapsedMs, maxRssMb: process.resourceUsage().maxRSS / 1024 })}\n`);
} catch (err) {
  process.stdout.write(`error ${JSON.stringify({ message: (err as Error).message, reason: (err as { reason?: string }).reason })}\n`);
  process.exitCode = 1;
}
